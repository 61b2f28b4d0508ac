from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def quick_inprocess_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process redeliveries in milliseconds, so dead-lettering fits in a test."""
    monkeypatch.setenv("PANTHERA_EVENTS__INPROCESS_BACKOFF_SECONDS", "[0.01, 0.02]")
