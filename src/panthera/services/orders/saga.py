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
import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog

from panthera.contracts.orders import OrderConfirmed, OrderReason, OrderRejected
from panthera.kernel import tracing
from panthera.kernel.database import utcnow
from panthera.services.orders import lifecycle, reasons
from panthera.services.orders.events import order_event
from panthera.services.orders.payments import ChargeResult, PaymentProvider
from panthera.services.orders.repository import OrdersTx, OrdersUoW

log = structlog.get_logger("panthera.orders.saga")

EXPIRY_BATCH = 100


async def stock_reserved(*, tx: OrdersTx, order_id: uuid.UUID, payments_due: asyncio.Event) -> None:
    """The catalog holds the stock: the payment is now due (charged once this commits)."""
    order = await tx.orders.get(order_id)
    if order is None or not lifecycle.STOCK_RESERVED.allows(order.state):
        # Cancelled or expired meanwhile; the catalog releases on that event.
        log.info("stock_reserved_ignored", order_id=str(order_id))
        return
    if await tx.advance(order, lifecycle.STOCK_RESERVED):
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
    """Charge the orders whose stock is held, and refund the cancelled ones; how many."""
    async with uow.read() as tx:
        due = await tx.orders.in_states(lifecycle.CHARGE_CAPTURED.sources, limit=batch)
        refunds = await tx.orders.in_states(lifecycle.REFUNDED.sources, limit=batch)
    for order in tracing.each(due, "orders.charge", lambda o: o.trace_context):
        result = await payments.charge(
            idempotency_key=str(order.id),
            amount=order.total,
            currency=order.currency,
            token=order.payment_token or "",
        )
        await settle_charge(uow=uow, order_id=order.id, result=result, payments_due=payments_due)
    for order in tracing.each(refunds, "orders.refund", lambda o: o.trace_context):
        if order.payment_reference is not None:
            await payments.refund(reference=order.payment_reference)
        await refunded(uow=uow, order_id=order.id)
    return len(due) + len(refunds)


async def settle_charge(
    *, uow: OrdersUoW, order_id: uuid.UUID, result: ChargeResult, payments_due: asyncio.Event
) -> None:
    """Confirm or reject the order by its charge; give back a charge nobody may keep."""
    async with uow.write() as tx:
        order = await tx.orders.get(order_id)
        if order is None:
            log.error("charged_order_missing", order_id=str(order_id))
            return
        if order.payment_reference == result.reference:
            return  # another worker settled this very charge first
        captured = result.status == "captured"
        if captured and lifecycle.CHARGED_AFTER_CANCEL.allows(order.state):
            # Cancelled while we charged: the refund is recorded, so it survives a crash.
            if await tx.advance(
                order, lifecycle.CHARGED_AFTER_CANCEL, payment_reference=result.reference
            ):
                tx.after_commit(payments_due.set)
                log.info("charge_refunded_after_cancel", order_id=str(order_id))
            return
        step = lifecycle.CHARGE_CAPTURED if captured else lifecycle.CHARGE_DECLINED
        if not step.allows(order.state):
            if captured:  # no step leads here; if one ever does, a person must look
                log.error("captured_charge_unsettled", order_id=str(order_id), state=order.state)
            # Otherwise cancelled while a declined charge was made: nothing was taken.
            return
        reason = None if captured else OrderReason.PAYMENT_DECLINED
        if await tx.advance(
            order,
            step,
            reason=reason,
            reason_text=reasons.text(reason, decline=result.decline_reason) if reason else None,
            payment_reference=result.reference,
        ):
            tx.record(order_event(OrderConfirmed if captured else OrderRejected, order))


async def refunded(*, uow: OrdersUoW, order_id: uuid.UUID) -> None:
    """The provider gave the money back: the order's payment is `refunded`."""
    async with uow.write() as tx:
        order = await tx.orders.get(order_id)
        if order is not None and lifecycle.REFUNDED.allows(order.state):
            await tx.advance(order, lifecycle.REFUNDED)


async def expire_pending(*, uow: OrdersUoW, after: timedelta) -> int:
    """Reject orders that got no answer about their stock `after` placing (the saga's timeout)."""
    async with uow.read() as tx:
        stale = await tx.orders.in_states(
            lifecycle.EXPIRED.sources, limit=EXPIRY_BATCH, created_before=utcnow() - after
        )
    if not stale:
        return 0
    expired = 0
    reason = OrderReason.EXPIRED
    async with uow.write() as tx:
        for found in tracing.each(stale, "orders.expire", lambda o: o.trace_context):
            order = await tx.orders.get(found.id)
            if order is None or not lifecycle.EXPIRED.allows(order.state):
                continue  # answered meanwhile
            if await tx.advance(
                order, lifecycle.EXPIRED, reason=reason, reason_text=reasons.text(reason)
            ):
                tx.record(order_event(OrderRejected, order))
                expired += 1
    return expired
