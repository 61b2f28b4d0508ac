"""Remove what a distributed test run left on the machine's PostgreSQL and NATS."""

from panthera.testing.cleanup import remove_run

__all__ = ["remove_run"]
