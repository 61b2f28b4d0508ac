"""When the catalog cannot be reached, checkout fails fast with 503 and writes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from panthera.app import Platform, create_platform
from panthera.kernel.service import ServiceSettings
from panthera.kernel.settings import Settings
from panthera.services.orders.settings import OrdersSettings
from panthera.testing.ports import free_port
from tests.conftest import Account, assert_problem, fast_service_settings


@pytest.fixture
def service_settings() -> dict[str, ServiceSettings]:
    # Nothing listens on this port: the catalog is down.
    closed = f"http://127.0.0.1:{free_port()}"
    return {**fast_service_settings(), "orders": OrdersSettings(catalog_url=closed)}


@pytest.fixture
async def platform(
    settings: Settings, service_settings: dict[str, ServiceSettings]
) -> AsyncIterator[Platform]:
    platform = create_platform(
        settings, services=["users", "orders"], service_settings=service_settings
    )
    async with platform.running():
        yield platform


async def test_checkout_answers_503_fast_and_writes_nothing(
    client: httpx.AsyncClient, alice: Account
) -> None:
    body = {
        "items": [{"productId": str(uuid.uuid4()), "quantity": 1}],
        "shippingAddress": {
            "name": "A",
            "line1": "B",
            "city": "C",
            "postalCode": "D",
            "country": "GB",
        },
        "payment": {"token": "tok_visa"},
    }
    started = time.monotonic()
    answers = [await client.post("/v1/orders", json=body, headers=alice.headers) for _ in range(8)]
    elapsed = time.monotonic() - started
    for answer in answers:
        assert "catalog" in assert_problem(answer, 503)["detail"]
    # Retries are bounded and the breaker opens: eight attempts stay well under the timeouts.
    assert elapsed < 10
    assert (await client.get("/v1/orders", headers=alice.headers)).json()["total"] == 0
