"""Where money moves, on both real databases: charges racing cancels, expiry and each other.

The catalog serves its API but never hears of orders, so each test decides when
the stock is "reserved". The payment worker of the platform keeps running: it
is one more replica in every race. On PostgreSQL the racers hold connections of
their own and really overlap; the invariant checked after each race is the one
that matters to a customer: money is kept exactly when the order is confirmed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from panthera.app import Platform
from panthera.services.orders import saga
from panthera.services.orders.payments import SandboxPaymentProvider
from panthera.services.orders.runtime import OrdersRuntime
from tests.conftest import Account
from tests.services.orders.stalled_saga import platform
from tests.services.orders.test_api import make_product, order_body, place

ORDERS = 8

__all__ = ["platform"]  # the fixture: a catalog deaf to orders


@pytest.fixture
def rt(platform: Platform) -> OrdersRuntime:
    runtime = platform.hosts["orders"].runtime
    assert isinstance(runtime, OrdersRuntime)
    return runtime


@pytest.fixture
def sandbox(rt: OrdersRuntime) -> SandboxPaymentProvider:
    assert isinstance(rt.payments, SandboxPaymentProvider)
    return rt.payments


async def place_pending(
    client: httpx.AsyncClient, admin: Account, who: Account, count: int
) -> list[str]:
    product = await make_product(client, admin, stock=count)
    ids = []
    for _ in range(count):
        placed = await place(client, who, order_body(product))
        assert placed.status_code == 201, placed.text
        ids.append(placed.json()["id"])
    return ids


async def reserve(rt: OrdersRuntime, order_id: str) -> None:
    """As the catalog's answer would; the worker is not woken, it finds the order by polling."""
    async with rt.uow.write() as tx:
        await saga.stock_reserved(tx=tx, order_id=uuid.UUID(order_id), payments_due=asyncio.Event())


async def worker(rt: OrdersRuntime) -> int:
    """One more payment-worker replica: one pass over what is due."""
    return await saga.process_payments(
        uow=rt.uow, payments=rt.payments, payments_due=rt.payments_due
    )


async def drain(rt: OrdersRuntime) -> None:
    """Run the payment work until nothing is due (refunds recorded by the races included)."""
    for _ in range(10 * ORDERS):
        if not await worker(rt):
            return
    raise AssertionError("payments stay due however often the worker runs")


async def read(client: httpx.AsyncClient, who: Account, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/orders/{order_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def money_kept(sandbox: SandboxPaymentProvider, order: dict[str, Any]) -> bool:
    """Whether the provider holds a captured, unrefunded charge for the order."""
    charges = await sandbox.charges_for(order["id"])
    assert charges <= 1, f"order {order['id']} was charged {charges} times"
    reference = order["payment"]["reference"]
    if charges == 0:
        assert reference is None, order
        return False
    assert reference is not None, f"a charge for {order['id']} is not on the order: {order}"
    return not await sandbox.refunded(reference)


async def test_cancelling_a_pending_order_voids_its_payment_and_nothing_is_charged(
    client: httpx.AsyncClient,
    rt: OrdersRuntime,
    sandbox: SandboxPaymentProvider,
    admin: Account,
    alice: Account,
) -> None:
    (order_id,) = await place_pending(client, admin, alice, 1)
    cancelled = await client.post(f"/v1/orders/{order_id}/cancel", headers=alice.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["payment"] == {
        "status": "voided",
        "reference": None,
        "provider": "sandbox",
    }
    await reserve(rt, order_id)  # the catalog's answer arrives after the cancel
    await drain(rt)
    order = await read(client, alice, order_id)
    assert (order["status"], order["payment"]["status"]) == ("cancelled", "voided")
    assert await sandbox.charges_for(order_id) == 0


async def test_cancelling_a_confirmed_order_gives_the_money_back(
    client: httpx.AsyncClient,
    rt: OrdersRuntime,
    sandbox: SandboxPaymentProvider,
    admin: Account,
    alice: Account,
) -> None:
    (order_id,) = await place_pending(client, admin, alice, 1)
    await reserve(rt, order_id)
    await drain(rt)
    confirmed = await read(client, alice, order_id)
    assert (confirmed["status"], confirmed["payment"]["status"]) == ("confirmed", "captured")
    assert await money_kept(sandbox, confirmed)
    cancelled = await client.post(f"/v1/orders/{order_id}/cancel", headers=alice.headers)
    assert cancelled.json()["payment"]["status"] == "refund_pending", cancelled.text
    await drain(rt)
    order = await read(client, alice, order_id)
    assert order["payment"] == {
        "status": "refunded",
        "reference": confirmed["payment"]["reference"],
        "provider": "sandbox",
    }
    assert not await money_kept(sandbox, order)


async def test_cancels_racing_charges_keep_money_only_for_confirmed_orders(
    client: httpx.AsyncClient,
    rt: OrdersRuntime,
    sandbox: SandboxPaymentProvider,
    admin: Account,
    alice: Account,
) -> None:
    ids = await place_pending(client, admin, alice, ORDERS)
    for order_id in ids:
        await reserve(rt, order_id)  # every payment is due: charges and cancels now race

    async def cancel(order_id: str) -> int:
        response = await client.post(f"/v1/orders/{order_id}/cancel", headers=alice.headers)
        return response.status_code

    racers = [worker(rt), worker(rt), *(cancel(order_id) for order_id in ids)]
    results = await asyncio.gather(*racers)
    assert set(results[2:]) <= {200, 409}, results
    await drain(rt)

    outcomes = []
    for order_id in ids:
        order = await read(client, alice, order_id)
        state = (order["status"], order["payment"]["status"])
        assert state in {
            ("confirmed", "captured"),
            ("cancelled", "voided"),  # cancelled before any charge
            ("cancelled", "refunded"),  # charged, then cancelled, or charged after the cancel
        }, order
        assert await money_kept(sandbox, order) == (state == ("confirmed", "captured")), order
        outcomes.append(state)
    # Each cancel that answered 200 left its order cancelled, whoever won.
    cancelled = [o for o, code in zip(outcomes, results[2:], strict=True) if code == 200]
    assert all(status == "cancelled" for status, _ in cancelled)


async def test_replicas_charging_the_same_orders_charge_each_once(
    client: httpx.AsyncClient,
    rt: OrdersRuntime,
    sandbox: SandboxPaymentProvider,
    admin: Account,
    alice: Account,
) -> None:
    ids = await place_pending(client, admin, alice, ORDERS)
    for order_id in ids:
        await reserve(rt, order_id)
    await asyncio.gather(*(worker(rt) for _ in range(4)))
    await drain(rt)
    for order_id in ids:
        order = await read(client, alice, order_id)
        assert (order["status"], order["payment"]["status"]) == ("confirmed", "captured"), order
        assert await sandbox.charges_for(order_id) == 1
        assert await money_kept(sandbox, order)


async def test_charges_with_one_key_from_separate_connections_charge_once(
    sandbox: SandboxPaymentProvider,
) -> None:
    key = str(uuid.uuid4())
    results = await asyncio.gather(
        *(
            sandbox.charge(idempotency_key=key, amount=500, currency="EUR", token="tok_visa")
            for _ in range(8)
        )
    )
    assert len({result.reference for result in results}) == 1
    assert {result.status for result in results} == {"captured"}
    assert await sandbox.charges_for(key) == 1


async def test_expiry_racing_the_reservation_never_charges_an_expired_order(
    client: httpx.AsyncClient,
    rt: OrdersRuntime,
    sandbox: SandboxPaymentProvider,
    admin: Account,
    alice: Account,
) -> None:
    ids = await place_pending(client, admin, alice, ORDERS)
    # The expiry job (every order is overdue with a zero timeout) races the catalog's answers.
    racers = [saga.expire_pending(uow=rt.uow, after=timedelta(0)), *(reserve(rt, i) for i in ids)]
    results = await asyncio.gather(*racers)
    await drain(rt)
    expired = 0
    for order_id in ids:
        order = await read(client, alice, order_id)
        state = (order["status"], order["payment"]["status"])
        assert state in {("confirmed", "captured"), ("rejected", "voided")}, order
        if state == ("rejected", "voided"):
            expired += 1
            assert order["reason"] == "expired"
        assert await money_kept(sandbox, order) == (state == ("confirmed", "captured")), order
    assert results[0] == expired, "the expiry job's count is the orders it rejected"
