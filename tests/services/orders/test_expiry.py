"""A pending order that hears nothing about its stock is rejected by the expiry job."""

from __future__ import annotations

import httpx
import pytest

from panthera.kernel.service import ServiceSettings
from panthera.services.orders.settings import OrdersSettings
from tests.conftest import Account, eventually, fast_service_settings
from tests.services.orders.stalled_saga import platform
from tests.services.orders.test_api import make_product, order_body, place

__all__ = ["platform"]  # the fixture: a catalog deaf to orders


@pytest.fixture
def service_settings() -> dict[str, ServiceSettings]:
    return {
        **fast_service_settings(),
        "orders": OrdersSettings(pending_timeout_seconds=0.5, expiry_interval_seconds=0.2),
    }


async def test_an_unanswered_order_is_rejected_in_time(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    product = await make_product(client, admin, stock=5)
    order = (await place(client, alice, order_body(product))).json()

    async def rejected() -> dict[str, object] | None:
        body: dict[str, object] = (
            await client.get(f"/v1/orders/{order['id']}", headers=alice.headers)
        ).json()
        return body if body["status"] == "rejected" else None

    decided = await eventually(rejected, timeout=10)
    assert decided["reason"] == "expired"
    assert decided["reasonText"] == "The order was not completed in time"
    assert decided["payment"] == {"status": "voided", "provider": "sandbox", "reference": None}
