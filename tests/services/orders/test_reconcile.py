"""Reconciliation with the sandbox provider: stuck charges finished, stray charges given back.

The same job runs against Stripe in test_stripe_recovery.py.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from panthera.kernel import migrations
from panthera.kernel.database import Database
from panthera.services.orders import reconcile, saga, spec
from panthera.services.orders.payments import SandboxPaymentProvider
from tests.services.orders.fakes import FakeOrders, FakePayments, an_order, fake_uow

NOW = timedelta(0)
HOUR = timedelta(hours=1)


@pytest.fixture
async def sandbox(tmp_path: Path) -> SandboxPaymentProvider:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}")
    await migrations.upgrade(db, spec.migrations, "orders")
    return SandboxPaymentProvider(db)


async def _run(orders: FakeOrders, payments: SandboxPaymentProvider | FakePayments) -> int:
    return await reconcile.run(
        uow=fake_uow(orders),
        payments=payments,
        payments_due=asyncio.Event(),
        stuck_after=NOW,
        window=HOUR,
    )


async def test_a_charge_made_but_never_recorded_confirms_its_order(
    sandbox: SandboxPaymentProvider,
) -> None:
    orders = FakeOrders()
    order = orders.put(an_order(payment="processing"))
    never = orders.put(an_order(payment="processing"))  # not charged yet: the worker's job
    taken = await sandbox.charge(
        idempotency_key=str(order.id), amount=order.total, currency="EUR", token="tok_visa"
    )
    assert await _run(orders, sandbox) == 1
    stored = orders.rows[order.id]
    assert stored.status == "confirmed" and stored.payment_reference == taken.reference
    assert orders.rows[never.id].state.payment == "processing"
    assert await _run(orders, sandbox) == 0
    await sandbox.db.dispose()


async def test_a_charge_without_an_order_is_refunded(sandbox: SandboxPaymentProvider) -> None:
    stray = await sandbox.charge(
        idempotency_key=str(uuid.uuid4()), amount=500, currency="EUR", token="tok_visa"
    )
    assert await _run(FakeOrders(), sandbox) == 1
    assert stray.reference is not None and await sandbox.refunded(stray.reference)
    await sandbox.db.dispose()


async def test_a_charge_for_a_cancelled_order_is_given_back() -> None:
    orders, payments = FakeOrders(), FakePayments()
    order = orders.put(an_order(status="cancelled", payment="voided"))
    taken = await payments.charge(
        idempotency_key=str(order.id), amount=order.total, currency="EUR", token="tok_visa"
    )
    assert await _run(orders, payments) == 1
    assert orders.rows[order.id].state.payment == "refund_pending"
    await saga.process_payments(
        uow=fake_uow(orders), payments=payments, payments_due=asyncio.Event()
    )
    assert payments.refunds == [taken.reference]
    assert orders.rows[order.id].state.payment == "refunded"


async def test_a_second_charge_of_a_confirmed_order_is_refunded() -> None:
    orders, payments = FakeOrders(), FakePayments()
    order = orders.put(an_order(status="confirmed", payment="captured", payment_reference="ch_1"))
    refunded = await reconcile.account_for(
        uow=fake_uow(orders),
        payments=payments,
        reference="ch_again",
        order_key=str(order.id),
        payments_due=asyncio.Event(),
    )
    assert refunded and payments.refunds == ["ch_again"]
    assert orders.rows[order.id].payment_reference == "ch_1"
    kept = await reconcile.account_for(
        uow=fake_uow(orders),
        payments=payments,
        reference="ch_1",
        order_key=str(order.id),
        payments_due=asyncio.Event(),
    )
    assert not kept and payments.refunds == ["ch_again"]
