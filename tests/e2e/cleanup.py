"""Kept for imports from before `panthera.testing.cleanup`, where this now lives."""

from panthera.testing.cleanup import remove_run

__all__ = ["remove_run"]
