"""Charges that race the order, on the real databases: nothing is charged twice or kept wrongly.

The catalog here serves its API but never hears of orders, so the test decides
when the stock is "reserved" and when a charge lands.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from panthera.app import Platform
from panthera.services.orders import saga
from tests.conftest import Account, eventually
from tests.services.orders.stalled_saga import platform
from tests.services.orders.test_api import make_product, order_body, place

__all__ = ["platform"]  # the fixture: a catalog deaf to orders


async def _order(client: httpx.AsyncClient, who: Account, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/v1/orders/{order_id}", headers=who.headers)).json()
    return body


async def test_a_second_worker_settling_the_same_charge_keeps_it(
    client: httpx.AsyncClient, platform: Platform, admin: Account, alice: Account
) -> None:
    rt = platform.hosts["orders"].runtime
    product = await make_product(client, admin, stock=5)
    order_id = (await place(client, alice, order_body(product))).json()["id"]
    async with rt.uow.write() as tx:  # as the catalog's answer would
        await saga.stock_reserved(tx=tx, order_id=uuid.UUID(order_id), payments_due=rt.payments_due)

    async def confirmed() -> dict[str, Any] | None:
        order = await _order(client, alice, order_id)
        return order if order["status"] == "confirmed" else None

    reference = (await eventually(confirmed, timeout=30))["payment"]["reference"]
    # Another replica read the order as due before it was confirmed, and charged it too:
    # the provider answers with the same charge, which must stay with the order.
    again = await rt.payments.charge(
        idempotency_key=order_id, amount=1999, currency="EUR", token="tok_visa"
    )
    assert again.reference == reference
    await saga.settle_charge(
        uow=rt.uow, order_id=uuid.UUID(order_id), result=again, payments_due=rt.payments_due
    )
    order = await _order(client, alice, order_id)
    assert order["status"] == "confirmed" and order["payment"]["status"] == "captured"
    assert not await rt.payments.refunded(reference)
    assert await rt.payments.charges_for(order_id) == 1


async def test_a_charge_landing_after_a_cancel_is_given_back(
    client: httpx.AsyncClient, platform: Platform, admin: Account, alice: Account
) -> None:
    rt = platform.hosts["orders"].runtime
    product = await make_product(client, admin, stock=5)
    order_id = (await place(client, alice, order_body(product))).json()["id"]
    cancelled = await client.post(f"/v1/orders/{order_id}/cancel", headers=alice.headers)
    assert cancelled.json()["payment"]["status"] == "voided", cancelled.text
    # A worker that read the order as due before the cancel charges it now.
    late = await rt.payments.charge(
        idempotency_key=order_id, amount=1999, currency="EUR", token="tok_visa"
    )
    await saga.settle_charge(
        uow=rt.uow, order_id=uuid.UUID(order_id), result=late, payments_due=rt.payments_due
    )

    async def refunded() -> bool:
        order = await _order(client, alice, order_id)
        payment = {"status": "refunded", "provider": "sandbox", "reference": late.reference}
        return bool(order["payment"] == payment)

    assert await eventually(refunded, timeout=30)
    assert await rt.payments.refunded(late.reference)
    order = await _order(client, alice, order_id)
    assert order["status"] == "cancelled" and order["reason"] == "cancelled_by_customer"
