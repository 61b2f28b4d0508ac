"""The payment worker: charges handed over by reservations, sweeps only when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import pytest

from panthera.contracts.catalog import StockReserved
from panthera.contracts.orders import OrderConfirmed
from panthera.kernel.database import utcnow
from panthera.kernel.events import Event, Received
from panthera.kernel.fakes import FakeUnitOfWork
from panthera.services.orders import saga, workers
from panthera.services.orders.handlers import HANDLERS
from panthera.services.orders.lifecycle import State
from panthera.services.orders.models import Order
from panthera.services.orders.payments_due import PaymentsDue
from panthera.services.orders.runtime import OrdersRuntime
from panthera.services.orders.settings import OrdersSettings
from tests.services.orders.fakes import FakeCatalog, FakeOrders, FakePayments, an_order, fake_uow


class CountedSweeps(FakeOrders):
    """Counts the queries for due work (the worker's sweeps) and says when orders move."""

    def __init__(self) -> None:
        super().__init__()
        self.sweeps = 0
        self.swept = asyncio.Event()
        self.moved = asyncio.Event()

    async def move(self, order: Order, to: State, **details: Any) -> bool:
        done = await super().move(order, to, **details)
        self.moved.set()
        return done

    async def in_states(
        self,
        states: Collection[State],
        *,
        limit: int,
        created_before: datetime | None = None,
        updated_before: datetime | None = None,
    ) -> list[Order]:
        self.sweeps += 1
        self.swept.set()
        return await super().in_states(
            states, limit=limit, created_before=created_before, updated_before=updated_before
        )


def reservation_of(order: Order) -> Received[Any]:
    contract = StockReserved(order_id=str(order.id))
    return Received(Event.of(contract), contract)


@pytest.fixture
def orders() -> CountedSweeps:
    return CountedSweeps()


@pytest.fixture
def rt(orders: CountedSweeps) -> OrdersRuntime:
    # The runtime's own wake-up, as the service builds it (not a plain asyncio.Event).
    return OrdersRuntime(
        uow=fake_uow(orders),
        settings=OrdersSettings(),
        catalog=FakeCatalog(),
        payments=FakePayments(),
    )


def confirmed(orders: FakeOrders, order: Order) -> bool:
    return orders.rows[order.id].state == State.of("confirmed", "captured")


async def test_a_reservation_hands_its_charge_over_and_nothing_is_swept(
    orders: CountedSweeps, rt: OrdersRuntime
) -> None:
    assert isinstance(rt.payments_due, PaymentsDue)
    order = orders.put(an_order())
    async with rt.uow.write() as tx:
        await HANDLERS[StockReserved](reservation_of(order), tx, rt)
    assert rt.payments_due.is_set()
    await workers.payments_round(rt, sweep=False)
    assert confirmed(orders, order)
    assert orders.sweeps == 0  # charged from what the reservation handed over
    assert isinstance(rt.payments, FakePayments)
    assert rt.payments.tokens == {str(order.id): "tok_visa"}  # keyed by the order id
    assert isinstance(rt.uow, FakeUnitOfWork)
    assert [event.type for event in rt.uow.published] == [OrderConfirmed.TYPE]


async def test_a_reservation_rolled_back_hands_nothing_over(
    orders: CountedSweeps, rt: OrdersRuntime
) -> None:
    assert isinstance(rt.payments_due, PaymentsDue)
    order = orders.put(an_order())
    with pytest.raises(RuntimeError):
        async with rt.uow.write() as tx:
            await HANDLERS[StockReserved](reservation_of(order), tx, rt)
            raise RuntimeError("the consumer's transaction fails")
    assert rt.payments_due.take() == ([], False)


async def test_what_only_the_table_knows_is_swept_for(
    orders: CountedSweeps, rt: OrdersRuntime
) -> None:
    refund = orders.put(
        an_order(status="cancelled", payment="refund_pending", payment_reference="ch_1")
    )
    rt.payments_due.set()  # what a cancel does after its commit
    await workers.payments_round(rt, sweep=False)
    assert orders.rows[refund.id].state == State.of("cancelled", "refunded")
    assert isinstance(rt.payments, FakePayments) and rt.payments.refunds == ["ch_1"]
    assert orders.sweeps >= 1


async def test_the_worker_charges_without_waiting_for_its_poll(
    orders: CountedSweeps, rt: OrdersRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "PAYMENTS_POLL_SECONDS", 3600.0)
    worker = asyncio.create_task(workers.payments(rt))
    try:
        # A guard against a hang if the hand-over were lost, far below the poll interval.
        async with asyncio.timeout(30):
            await orders.swept.wait()  # the sweep a start makes (a crash may have left work)
            await asyncio.sleep(0.1)  # ... and its round is over
            at_start = orders.sweeps
            order = orders.put(an_order())
            async with rt.uow.write() as tx:
                await HANDLERS[StockReserved](reservation_of(order), tx, rt)
            while not confirmed(orders, order):
                orders.moved.clear()
                await orders.moved.wait()
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert orders.sweeps == at_start  # none since: the charge came by hand-over


async def test_the_expiry_job_sleeps_until_the_oldest_waiting_order_can_go_stale(
    orders: CountedSweeps,
) -> None:
    pending, action = timedelta(seconds=120), timedelta(seconds=1800)
    uow = fake_uow(orders)
    assert await saga.next_expiry(uow=uow, pending=pending, action=action) is None
    placed = utcnow() - timedelta(seconds=30)
    orders.put(an_order(created_at=placed))
    orders.put(an_order(created_at=placed - timedelta(seconds=60), payment="processing"))
    carded = orders.put(
        an_order(created_at=placed - timedelta(seconds=1750), payment="requires_action")
    )
    assert orders.rows[carded.id].state == State.of("pending", "requires_action")
    # The card's order goes stale first (in 50 s); the one charging waits on no clock.
    assert await saga.next_expiry(uow=uow, pending=pending, action=action) == (
        placed - timedelta(seconds=1750) + action
    )


def test_the_expiry_job_waits_within_its_bounds() -> None:
    now = utcnow()
    assert workers._seconds_until(None, floor=5, ceiling=120) == 120
    assert workers._seconds_until(now - timedelta(seconds=9), floor=5, ceiling=120) == 5
    assert 80 < workers._seconds_until(now + timedelta(seconds=90), floor=5, ceiling=120) <= 90
    assert workers._seconds_until(now + timedelta(hours=1), floor=5, ceiling=120) == 120
