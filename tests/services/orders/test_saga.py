"""The saga's steps on an in-memory unit of work: stock answers, payments, expiry."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from panthera.contracts import EventContract
from panthera.contracts.catalog import StockRejected, StockRejectionReason, StockReserved
from panthera.contracts.orders import OrderConfirmed, OrderReason, OrderRejected
from panthera.kernel.auth.principals import Principal
from panthera.kernel.database import utcnow
from panthera.kernel.events import Event, Received
from panthera.services.orders import saga, service
from panthera.services.orders.catalog import Product
from panthera.services.orders.handlers import HANDLERS
from panthera.services.orders.models import Order
from panthera.services.orders.payments import ChargeResult
from tests.services.orders.fakes import (
    SHOE,
    SOCKS,
    FakeOrders,
    FakePayments,
    an_order,
    fake_uow,
    runtime,
)


@pytest.fixture
def orders() -> FakeOrders:
    return FakeOrders()


async def test_reserved_stock_makes_the_payment_due_once_committed(orders: FakeOrders) -> None:
    uow, due = fake_uow(orders), asyncio.Event()
    order = orders.put(an_order())
    async with uow.write() as tx:
        await saga.stock_reserved(tx=tx, order_id=order.id, payments_due=due)
        assert not due.is_set()  # the worker must not look before the commit
    assert due.is_set()
    stored = orders.rows[order.id]
    assert stored.state.payment == "processing" and stored.payment_token == "tok_visa"
    assert not uow.published


async def test_a_late_reservation_of_a_cancelled_order_changes_nothing(orders: FakeOrders) -> None:
    uow, due = fake_uow(orders), asyncio.Event()
    order = orders.put(an_order(status="cancelled", payment="voided"))
    async with uow.write() as tx:
        await saga.stock_reserved(tx=tx, order_id=order.id, payments_due=due)
        await saga.stock_reserved(tx=tx, order_id=uuid.uuid4(), payments_due=due)
    assert orders.rows[order.id].state.payment == "voided" and not due.is_set()


@pytest.mark.parametrize(
    ("reason", "at_fault", "text"),
    [
        (OrderReason.OUT_OF_STOCK, [SHOE], "Sorry, Trail running shoe is out of stock"),
        (
            OrderReason.OUT_OF_STOCK,
            [SOCKS, SHOE],
            "Sorry, Trail running shoe and Wool socks are out of stock",
        ),
        (OrderReason.OUT_OF_STOCK, [], "Sorry, an item of your order is out of stock"),
        (OrderReason.UNKNOWN_PRODUCT, [SOCKS], "Sorry, Wool socks is no longer sold"),
        (OrderReason.INVALID_ORDER, [], "Sorry, this order could not be accepted"),
    ],
)
async def test_a_stock_rejection_names_the_products_by_the_orders_own_lines(
    orders: FakeOrders, reason: OrderReason, at_fault: list[Product], text: str
) -> None:
    uow = fake_uow(orders)
    order = orders.put(an_order(products=(SHOE, SOCKS)))
    ids = [product.product_id for product in at_fault]
    async with uow.write() as tx:
        await saga.stock_rejected(tx=tx, order_id=order.id, reason=reason, product_ids=ids)
    stored = orders.rows[order.id]
    assert stored.state.status == "rejected" and stored.state.payment == "voided"
    assert stored.payment_token is None
    assert (stored.reason, stored.reason_text) == (reason.value, text)
    [event] = uow.of_type(OrderRejected)
    assert (event["reason"], event["reasonText"]) == (reason.value, text)


async def test_the_handlers_read_the_catalogs_contracts(orders: FakeOrders) -> None:
    rt = runtime(orders)
    reserved, rejected = orders.put(an_order()), orders.put(an_order())

    def received(contract: EventContract) -> Received[Any]:
        return Received(Event.of(contract), contract)

    async with rt.uow.write() as tx:
        await HANDLERS[StockReserved](received(StockReserved(order_id=str(reserved.id))), tx, rt)
        await HANDLERS[StockRejected](
            received(
                StockRejected(
                    order_id=str(rejected.id),
                    reason=StockRejectionReason.UNKNOWN_PRODUCT,
                    product_ids=[SHOE.product_id],
                )
            ),
            tx,
            rt,
        )
        # A reservation for an id that cannot be an order of ours is no error.
        await HANDLERS[StockReserved](received(StockReserved(order_id="not-an-order")), tx, rt)
    assert orders.rows[reserved.id].state.payment == "processing" and rt.payments_due.is_set()
    assert orders.rows[rejected.id].reason == "unknown_product"
    assert orders.rows[rejected.id].reason_text == "Sorry, Trail running shoe is no longer sold"


async def _pay(orders: FakeOrders, payments: FakePayments, due: asyncio.Event) -> int:
    return await saga.process_payments(uow=fake_uow(orders), payments=payments, payments_due=due)


async def test_a_captured_charge_confirms_the_order(orders: FakeOrders) -> None:
    payments, due = FakePayments(), asyncio.Event()
    order = orders.put(an_order(payment="processing"))
    uow = fake_uow(orders)
    assert await saga.process_payments(uow=uow, payments=payments, payments_due=due) == 1
    assert payments.tokens == {str(order.id): "tok_visa"}  # keyed by the order id
    stored = orders.rows[order.id]
    assert stored.state.status == "confirmed" and stored.state.payment == "captured"
    assert stored.payment_reference == payments.charges[str(order.id)].reference
    assert stored.payment_token is None and stored.reason is None
    [event] = uow.of_type(OrderConfirmed)
    assert event["paymentStatus"] == "captured"
    assert await _pay(orders, payments, due) == 0  # nothing left to do


@pytest.mark.parametrize(
    ("token", "text"),
    [
        ("tok_chargeDeclined", "Your card was declined"),
        ("tok_chargeDeclinedInsufficientFunds", "Your card was declined for insufficient funds"),
        ("tok_nonsense", "Your card was declined"),
    ],
)
async def test_a_declined_charge_rejects_the_order(
    orders: FakeOrders, token: str, text: str
) -> None:
    order = an_order(payment="processing")
    order.payment_token = token
    orders.put(order)
    uow = fake_uow(orders)
    await saga.process_payments(uow=uow, payments=FakePayments(), payments_due=asyncio.Event())
    stored = orders.rows[order.id]
    assert stored.state.status == "rejected" and stored.state.payment == "declined"
    assert (stored.reason, stored.reason_text) == ("payment_declined", text)
    [event] = uow.of_type(OrderRejected)
    assert event["reason"] == "payment_declined" and event["reasonText"] == text


async def test_two_workers_settling_one_charge_confirm_once_and_refund_nothing(
    orders: FakeOrders,
) -> None:
    # Two replicas read the same due order; the provider answers both with one charge.
    uow, due = fake_uow(orders), asyncio.Event()
    order = orders.put(an_order(payment="processing"))
    charge = ChargeResult("captured", "ch_once")
    for _ in range(2):
        await saga.settle_charge(uow=uow, order_id=order.id, result=charge, payments_due=due)
    stored = orders.rows[order.id]
    assert stored.state.status == "confirmed" and stored.payment_reference == "ch_once"
    assert len(uow.of_type(OrderConfirmed)) == 1 and not due.is_set()


async def test_a_charge_landing_after_a_cancel_is_refunded_durably(orders: FakeOrders) -> None:
    payments, due = FakePayments(), asyncio.Event()
    order = orders.put(an_order(payment="processing"))
    uow = fake_uow(orders)
    owner = Principal(user_id=order.user_id, role="customer")
    # The worker charges; meanwhile the customer cancels.
    result = await payments.charge(
        idempotency_key=str(order.id), amount=order.total, currency="EUR", token="tok_visa"
    )
    await service.cancel(uow=uow, order_id=order.id, actor=owner, payments_due=due)
    assert orders.rows[order.id].state.payment == "voided" and not due.is_set()
    await saga.settle_charge(uow=uow, order_id=order.id, result=result, payments_due=due)
    stored = orders.rows[order.id]
    assert stored.state.status == "cancelled" and stored.state.payment == "refund_pending"
    assert stored.payment_reference == result.reference and due.is_set()
    assert not uow.of_type(OrderConfirmed)
    # The payment worker then gives the money back.
    assert await _pay(orders, payments, due) == 1
    assert payments.refunds == [result.reference]
    assert orders.rows[order.id].state.payment == "refunded"
    assert orders.rows[order.id].reason == "cancelled_by_customer"  # the reason stays


async def test_a_declined_charge_after_a_cancel_changes_nothing(orders: FakeOrders) -> None:
    uow, due = fake_uow(orders), asyncio.Event()
    order = orders.put(an_order(status="cancelled", payment="voided"))
    declined = ChargeResult("declined", "ch_no", "card_declined")
    await saga.settle_charge(uow=uow, order_id=order.id, result=declined, payments_due=due)
    stored = orders.rows[order.id]
    assert stored.state.payment == "voided" and stored.payment_reference is None
    assert not uow.published and not due.is_set()


async def test_a_cancelled_confirmed_order_is_refunded(orders: FakeOrders) -> None:
    payments = FakePayments()
    order = orders.put(
        an_order(status="cancelled", payment="refund_pending", payment_reference="ch_9")
    )
    assert await _pay(orders, payments, asyncio.Event()) == 1
    assert payments.refunds == ["ch_9"]
    assert orders.rows[order.id].state.payment == "refunded"
    assert await _pay(orders, payments, asyncio.Event()) == 0


async def test_expiry_rejects_only_orders_that_never_heard_about_their_stock(
    orders: FakeOrders,
) -> None:
    uow = fake_uow(orders)
    old = utcnow() - timedelta(minutes=5)
    stale = orders.put(an_order(created_at=old))
    paying = orders.put(an_order(payment="processing", created_at=old))
    recent = orders.put(an_order())
    assert await saga.expire_pending(uow=uow, after=timedelta(minutes=2)) == 1
    expired: Order = orders.rows[stale.id]
    assert expired.state.status == "rejected" and expired.state.payment == "voided"
    assert (expired.reason, expired.reason_text) == (
        "expired",
        "The order was not completed in time",
    )
    assert orders.rows[paying.id].status == "pending"  # the charge decides that one
    assert orders.rows[recent.id].status == "pending"
    [event] = uow.of_type(OrderRejected)
    assert event["orderId"] == str(stale.id) and event["reason"] == "expired"
    assert await saga.expire_pending(uow=uow, after=timedelta(minutes=2)) == 0
    assert uow.commits == 1  # nothing to expire: no write at all
