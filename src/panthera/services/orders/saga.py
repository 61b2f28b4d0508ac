"""The checkout saga's steps: the catalog's answers, the payment worker, the expiry job.

The catalog's answers arrive as events and run inside the consumer's
transaction (`tx`), next to its inbox row. Charges and refunds call the
provider outside any transaction, keyed by the order id, so a crash, a
redelivery or a second replica repeats them harmlessly; what they decide is
then written in a transaction of its own, conditional on the order still
standing where it was.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog

from panthera.contracts.orders import OrderConfirmed, OrderReason, OrderRejected
from panthera.kernel import tracing
from panthera.kernel.database import utcnow
from panthera.services.orders import lifecycle, reasons
from panthera.services.orders.events import order_event
from panthera.services.orders.payments import ChargeResult, PaymentProvider
from panthera.services.orders.payments_due import PaymentsDue
from panthera.services.orders.repository import DueCharge, OrdersTx, OrdersUoW

log = structlog.get_logger("panthera.orders.saga")

EXPIRY_BATCH = 100


async def stock_reserved(*, tx: OrdersTx, order_id: uuid.UUID, payments_due: asyncio.Event) -> None:
    """The catalog holds the stock: the payment is now due (charged once this commits).

    One statement: the order moves only if it is still pending, and what its charge
    needs comes back with the move, to be handed to the payment worker after commit.
    """
    charge = await tx.orders.advance_by_id(order_id, lifecycle.STOCK_RESERVED)
    if charge is None:
        # Cancelled or expired meanwhile (or not ours); the catalog releases on that event.
        log.info("stock_reserved_ignored", order_id=str(order_id))
        return
    if isinstance(payments_due, PaymentsDue):
        tx.after_commit(functools.partial(payments_due.hand_over, charge))
    else:
        tx.after_commit(payments_due.set)


async def stock_rejected(
    *,
    tx: OrdersTx,
    order_id: uuid.UUID,
    reason: OrderReason,
    product_ids: Sequence[uuid.UUID] = (),
) -> None:
    """The catalog could not hold every line: the order is rejected, nothing is charged."""
    order = await tx.orders.get(order_id)
    if order is None or not lifecycle.STOCK_REJECTED.allows(order.state):
        log.info("stock_rejected_ignored", order_id=str(order_id))
        return
    at_fault = set(product_ids)
    names = [line.name for line in order.lines if line.product_id in at_fault]
    if await tx.advance(
        order,
        lifecycle.STOCK_REJECTED,
        reason=reason,
        reason_text=reasons.text(reason, products=names),
    ):
        tx.record(order_event(OrderRejected, order))


async def process_payments(
    *, uow: OrdersUoW, payments: PaymentProvider, payments_due: asyncio.Event, batch: int = 20
) -> int:
    """Charge the orders whose stock is held, refund the given-up ones; how many moved.

    A charge the provider has not decided yet (`processing`) moves nothing: it is asked
    again on the next round, so the worker never spins on it.
    """
    async with uow.read() as tx:
        due = await tx.orders.in_states(lifecycle.CHARGE_DUE, limit=batch)
        refunds = await tx.orders.in_states(lifecycle.REFUNDED.sources, limit=batch)
    moved = 0
    for order in tracing.each(due, "orders.charge", lambda o: o.trace_context):
        result = await payments.charge(
            idempotency_key=str(order.id),
            amount=order.total,
            currency=order.currency,
            token=order.payment_token or "",
        )
        moved += await settle_charge(
            uow=uow, order_id=order.id, result=result, payments_due=payments_due
        )
    for order in tracing.each(refunds, "orders.refund", lambda o: o.trace_context):
        if order.payment_reference is not None:
            await payments.refund(reference=order.payment_reference)
        await refunded(uow=uow, order_id=order.id)
        moved += 1
    return moved


async def charge_handed_over(
    *,
    uow: OrdersUoW,
    payments: PaymentProvider,
    charges: Sequence[DueCharge],
    payments_due: asyncio.Event,
) -> int:
    """Charge what reservations of this process handed over, without reading the orders
    first; how many moved. A charge that fails here stays due: the sweep finds it."""
    moved = 0
    for due in tracing.each(charges, "orders.charge", lambda c: c.trace_context):
        result = await payments.charge(
            idempotency_key=str(due.order_id),
            amount=due.amount,
            currency=due.currency,
            token=due.token or "",
        )
        moved += await settle_charge(
            uow=uow, order_id=due.order_id, result=result, payments_due=payments_due
        )
    return moved


async def settle_charge(
    *, uow: OrdersUoW, order_id: uuid.UUID, result: ChargeResult, payments_due: asyncio.Event
) -> bool:
    """Decide the order by its charge in a transaction of its own; whether it moved."""
    async with uow.write() as tx:
        return await settle(tx=tx, order_id=order_id, result=result, payments_due=payments_due)


_OUTCOMES = {
    "captured": lifecycle.CHARGE_CAPTURED,
    "declined": lifecycle.CHARGE_DECLINED,
    "requires_action": lifecycle.CHARGE_NEEDS_ACTION,
}


async def settle(
    *, tx: OrdersTx, order_id: uuid.UUID, result: ChargeResult, payments_due: asyncio.Event
) -> bool:
    """Confirm, reject or hold the order by its charge; give back a charge nobody may keep.

    Safe to repeat and to race: of two workers (or a worker and a webhook) settling the
    same charge, one moves the order and the other finds nothing left to do.
    """
    order = await tx.orders.get(order_id)
    if order is None:
        log.error("charged_order_missing", order_id=str(order_id))
        return False
    captured = result.status == "captured"
    if captured and lifecycle.CHARGED_AFTER_CANCEL.allows(order.state):
        # Cancelled or expired while we charged: the refund is recorded, so it survives a crash.
        moved = await tx.advance(
            order, lifecycle.CHARGED_AFTER_CANCEL, payment_reference=result.reference
        )
        if moved:
            tx.after_commit(payments_due.set)
            log.info("charge_refunded_after_cancel", order_id=str(order_id))
        return moved
    step = _OUTCOMES.get(result.status)
    if step is None or not step.allows(order.state):
        # Undecided yet, or decided before (by another worker, a webhook, reconciliation);
        # a declined charge after a cancel took nothing.
        return False
    reason = OrderReason.PAYMENT_DECLINED if step is lifecycle.CHARGE_DECLINED else None
    moved = await tx.advance(
        order,
        step,
        reason=reason,
        reason_text=reasons.text(reason, decline=result.decline_reason) if reason else None,
        payment_reference=result.reference,
        client_secret=result.client_secret,
    )
    if moved and step is not lifecycle.CHARGE_NEEDS_ACTION:
        tx.record(order_event(OrderConfirmed if captured else OrderRejected, order))
    return moved


async def refunded(*, uow: OrdersUoW, order_id: uuid.UUID) -> None:
    """The provider gave the money back: the order's payment is `refunded`."""
    async with uow.write() as tx:
        order = await tx.orders.get(order_id)
        if order is not None and lifecycle.REFUNDED.allows(order.state):
            await tx.advance(order, lifecycle.REFUNDED)


async def expire_pending(*, uow: OrdersUoW, after: timedelta) -> int:
    """Reject orders that got no answer about their stock `after` placing (the saga's timeout)."""
    return await _expire(uow, lifecycle.EXPIRED, after)


async def expire_actions(*, uow: OrdersUoW, after: timedelta) -> int:
    """Reject orders whose card still waits for the customer's 3-D Secure `after` placing."""
    return await _expire(uow, lifecycle.ACTION_EXPIRED, after)


async def next_expiry(*, uow: OrdersUoW, pending: timedelta, action: timedelta) -> datetime | None:
    """When the oldest order still waiting (for its stock, or for its customer's card)
    becomes stale; None if no order waits, so that none can go stale sooner than an
    order placed now. Lets the expiry job sleep instead of polling."""
    async with uow.read() as tx:
        waiting = [
            (oldest[0].created_at + after)
            for step, after in ((lifecycle.EXPIRED, pending), (lifecycle.ACTION_EXPIRED, action))
            if (oldest := await tx.orders.in_states(step.sources, limit=1))
        ]
    return min(waiting, default=None)


async def _expire(uow: OrdersUoW, step: lifecycle.Step, after: timedelta) -> int:
    async with uow.read() as tx:
        stale = await tx.orders.in_states(
            step.sources, limit=EXPIRY_BATCH, created_before=utcnow() - after
        )
    if not stale:
        return 0
    expired = 0
    reason = OrderReason.EXPIRED
    async with uow.write() as tx:
        for found in tracing.each(stale, "orders.expire", lambda o: o.trace_context):
            order = await tx.orders.get(found.id)
            if order is None or not step.allows(order.state):
                continue  # answered meanwhile
            if await tx.advance(order, step, reason=reason, reason_text=reasons.text(reason)):
                tx.record(order_event(OrderRejected, order))
                expired += 1
    return expired
