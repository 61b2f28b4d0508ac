"""Checkout and the people's steps (cancel, ship, deliver) on an in-memory unit of work."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from panthera.contracts.orders import (
    MAX_UNITS_PER_PRODUCT,
    OrderCancelled,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
)
from panthera.kernel.auth.principals import Principal
from panthera.kernel.errors import BadRequest, Conflict, NotFound
from panthera.services.orders import service
from panthera.services.orders.catalog import Product
from panthera.services.orders.models import Order
from panthera.services.orders.schemas import OrderCreate
from tests.services.orders.fakes import SHOE, SOCKS, FakeCatalog, FakeOrders, an_order, fake_uow

ALICE = Principal(user_id=uuid.uuid4(), role="customer")
BOB = Principal(user_id=uuid.uuid4(), role="customer")
ADMIN = Principal(user_id=uuid.uuid4(), role="admin")


def checkout(*lines: tuple[Product | uuid.UUID, int], token: str = "tok_visa") -> OrderCreate:
    return OrderCreate.model_validate(
        {
            "items": [
                {
                    "productId": str(p.product_id if isinstance(p, Product) else p),
                    "quantity": quantity,
                }
                for p, quantity in lines
            ],
            "shippingAddress": {
                "name": "Alice",
                "line1": "1 Rabbit Hole",
                "city": "Oxford",
                "postalCode": "OX1",
                "country": "GB",
            },
            "payment": {"token": token},
        }
    )


@pytest.fixture
def orders() -> FakeOrders:
    return FakeOrders()


async def test_placing_prices_from_the_catalog_merges_lines_and_records_the_event(
    orders: FakeOrders,
) -> None:
    uow, catalog = fake_uow(orders), FakeCatalog(SHOE, SOCKS)
    placed = await service.place(
        uow=uow,
        catalog=catalog,
        user_id=ALICE.user_id,
        data=checkout((SHOE, 1), (SOCKS, 3), (SHOE, 1)),
        idempotency_key=None,
    )
    assert placed.state.status == "pending" and placed.state.payment == "pending"
    assert [(line.name, line.quantity) for line in placed.lines] == [
        ("Trail running shoe", 2),
        ("Wool socks", 3),
    ]
    assert placed.total == 2 * 1999 + 3 * 500 and placed.currency == "EUR"
    assert placed.payment_token == "tok_visa"
    assert uow.commits == 1 and placed.id in orders.rows
    [event] = uow.of_type(OrderPlaced)
    assert event["orderId"] == str(placed.id) and event["paymentStatus"] == "pending"
    assert event["items"][0] == {
        "productId": str(SHOE.product_id),
        "sku": "SKU-SHOE",
        "name": "Trail running shoe",
        "quantity": 2,
        "unitPrice": 1999,
    }
    assert "tok_visa" not in str(event)


@pytest.mark.parametrize(
    "lines",
    [
        [(uuid.uuid4(), 1)],  # unknown to the catalog
        [(SHOE, 1), (Product(uuid.uuid4(), "USD-1", "Cap", 100, "USD"), 1)],  # two currencies
        [(SHOE, MAX_UNITS_PER_PRODUCT), (SHOE, 1)],  # too many once merged
    ],
)
async def test_a_bad_order_is_refused_and_writes_nothing(
    orders: FakeOrders, lines: list[tuple[Product | uuid.UUID, int]]
) -> None:
    catalog = FakeCatalog(SHOE, *(p for p, _ in lines if isinstance(p, Product)))
    uow = fake_uow(orders)
    with pytest.raises(BadRequest):
        await service.place(
            uow=uow,
            catalog=catalog,
            user_id=ALICE.user_id,
            data=checkout(*lines),
            idempotency_key=None,
        )
    assert uow.commits == 0 and not orders.rows and not uow.published


async def test_too_many_units_are_refused_before_asking_the_catalog(orders: FakeOrders) -> None:
    catalog = FakeCatalog(SHOE)
    with pytest.raises(BadRequest):
        await service.place(
            uow=fake_uow(orders),
            catalog=catalog,
            user_id=ALICE.user_id,
            data=checkout((SHOE, MAX_UNITS_PER_PRODUCT), (SHOE, MAX_UNITS_PER_PRODUCT)),
            idempotency_key=None,
        )
    assert catalog.asked == []


async def test_an_idempotency_key_answers_with_the_first_order(orders: FakeOrders) -> None:
    uow, catalog = fake_uow(orders), FakeCatalog(SHOE)

    async def place(quantity: int, user: Principal = ALICE) -> Order:
        return await service.place(
            uow=uow,
            catalog=catalog,
            user_id=user.user_id,
            data=checkout((SHOE, quantity)),
            idempotency_key="click-1",
        )

    first = await place(1)
    again = await place(1)
    assert again.id == first.id and len(orders.rows) == 1
    assert len(uow.of_type(OrderPlaced)) == 1
    with pytest.raises(Conflict):
        await place(2)
    assert (await place(1, BOB)).id != first.id


async def test_a_concurrent_insert_with_the_same_key_is_answered_with_its_order(
    orders: FakeOrders,
) -> None:
    uow, catalog = fake_uow(orders), FakeCatalog(SHOE)
    data = checkout((SHOE, 1))
    winner = await service.place(
        uow=uow, catalog=catalog, user_id=ALICE.user_id, data=data, idempotency_key="k"
    )
    # The loser checked for the key before the winner committed: its insert is the first
    # to learn of it (the store's unique constraint), and it answers with the winner.
    real = orders.by_idempotency_key
    checks = 0

    async def not_yet(user_id: uuid.UUID, key: str) -> Order | None:
        nonlocal checks
        checks += 1
        return None if checks == 1 else await real(user_id, key)

    orders.by_idempotency_key = not_yet  # type: ignore[method-assign]
    loser = await service.place(
        uow=uow, catalog=catalog, user_id=ALICE.user_id, data=data, idempotency_key="k"
    )
    assert loser.id == winner.id and uow.rollbacks == 1 and len(orders.rows) == 1


async def test_orders_are_seen_by_their_owner_and_admins_only(orders: FakeOrders) -> None:
    uow = fake_uow(orders)
    mine = orders.put(an_order(user_id=ALICE.user_id))
    orders.put(an_order(user_id=BOB.user_id))
    assert (await service.get(uow=uow, order_id=mine.id, actor=ALICE)).id == mine.id
    assert (await service.get(uow=uow, order_id=mine.id, actor=ADMIN)).id == mine.id
    with pytest.raises(NotFound):
        await service.get(uow=uow, order_id=mine.id, actor=BOB)
    total, page = await service.get_all(uow=uow, actor=ALICE, status=None, offset=0, limit=10)
    assert total == 1 and [o.id for o in page] == [mine.id]
    total, _ = await service.get_all(uow=uow, actor=ADMIN, status=None, offset=0, limit=10)
    assert total == 2
    assert uow.commits == 0  # reads never open a write


async def _cancel(uow: Any, order: Order, actor: Principal, due: asyncio.Event) -> Order:
    cancelled: Order = await service.cancel(
        uow=uow, order_id=order.id, actor=actor, payments_due=due
    )
    return cancelled


async def test_cancelling_a_pending_order_voids_the_payment(orders: FakeOrders) -> None:
    uow, due = fake_uow(orders), asyncio.Event()
    order = orders.put(an_order(user_id=ALICE.user_id))
    cancelled = await _cancel(uow, order, ALICE, due)
    assert cancelled.state.status == "cancelled" and cancelled.state.payment == "voided"
    assert cancelled.reason == "cancelled_by_customer"
    assert cancelled.reason_text == "Cancelled at your request"
    assert orders.rows[order.id].payment_token is None
    [event] = uow.of_type(OrderCancelled)
    assert event["reason"] == "cancelled_by_customer"
    assert event["reasonText"] == "Cancelled at your request"
    assert event["paymentStatus"] == "voided"
    assert not due.is_set()  # nothing to refund


async def test_cancelling_a_confirmed_order_makes_a_refund_due_after_the_commit(
    orders: FakeOrders,
) -> None:
    uow, due = fake_uow(orders), asyncio.Event()
    order = orders.put(
        an_order(
            user_id=ALICE.user_id, status="confirmed", payment="captured", payment_reference="ch_1"
        )
    )
    cancelled = await _cancel(uow, order, ADMIN, due)
    assert cancelled.state.payment == "refund_pending"
    assert (
        cancelled.reason == "cancelled_by_admin"
        and cancelled.reason_text == "Cancelled by the shop"
    )
    assert due.is_set()


async def test_a_shipped_order_cannot_be_cancelled(orders: FakeOrders) -> None:
    uow, due = fake_uow(orders), asyncio.Event()
    order = orders.put(an_order(user_id=ALICE.user_id, status="shipped", payment="captured"))
    with pytest.raises(Conflict) as raised:
        await _cancel(uow, order, ALICE, due)
    assert raised.value.extra == {"currentStatus": "shipped"}
    assert orders.rows[order.id].status == "shipped"
    assert not uow.published and uow.rollbacks == 1 and not due.is_set()


async def test_another_customer_cannot_cancel(orders: FakeOrders) -> None:
    order = orders.put(an_order(user_id=ALICE.user_id))
    with pytest.raises(NotFound):
        await _cancel(fake_uow(orders), order, BOB, asyncio.Event())
    assert orders.rows[order.id].status == "pending"


async def test_a_step_that_loses_a_race_is_a_conflict_with_the_status_that_won(
    orders: FakeOrders,
) -> None:
    uow = fake_uow(orders)
    order = orders.put(an_order(user_id=ALICE.user_id, status="confirmed", payment="captured"))

    def shipped_meanwhile(stored: Order) -> None:
        stored.status = "shipped"

    orders.before_move = shipped_meanwhile
    with pytest.raises(Conflict) as raised:
        await _cancel(uow, order, ALICE, asyncio.Event())
    assert raised.value.extra == {"currentStatus": "shipped"}
    assert not uow.published


async def test_ship_then_deliver(orders: FakeOrders) -> None:
    uow = fake_uow(orders)
    order = orders.put(an_order(status="confirmed", payment="captured"))
    with pytest.raises(Conflict):
        await service.deliver(uow=uow, order_id=order.id)
    shipped = await service.ship(uow=uow, order_id=order.id)
    assert shipped.status == "shipped"
    delivered = await service.deliver(uow=uow, order_id=order.id)
    assert delivered.status == "delivered" and delivered.payment_status == "captured"
    assert [event.type for event in uow.published] == [OrderShipped.TYPE, OrderDelivered.TYPE]
    with pytest.raises(NotFound):
        await service.ship(uow=uow, order_id=uuid.uuid4())
