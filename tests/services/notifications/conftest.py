from __future__ import annotations

import uuid

import pytest

from panthera.kernel.service import ServiceSettings
from tests.conftest import fast_service_settings
from tests.services.notifications.dynamodb_local import dynamodb_environment


@pytest.fixture(autouse=True)
def quick_inprocess_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process redeliveries in milliseconds, so dead-lettering fits in a test."""
    monkeypatch.setenv("PANTHERA_EVENTS__INPROCESS_BACKOFF_SECONDS", "[0.01, 0.02]")


@pytest.fixture(params=["sql", pytest.param("dynamodb", marks=pytest.mark.integration)])
def notification_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on each notification store. The settings come from the environment
    (the contract's names), so every `NotificationsSettings` built afterwards sees them;
    DynamoDB Local is the session's (`dynamodb_endpoint`, tests/conftest.py)."""
    if request.param == "dynamodb":
        endpoint = request.getfixturevalue("dynamodb_endpoint")
        table = f"notifications-{uuid.uuid4().hex[:12]}"
        for name, value in dynamodb_environment(endpoint, table).items():
            monkeypatch.setenv(name, value)
    return str(request.param)


@pytest.fixture
def service_settings(notification_store: str) -> dict[str, ServiceSettings]:
    """The platform's settings, built once the store's environment is in place."""
    return fast_service_settings()
