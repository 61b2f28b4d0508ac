"""Reconciliation: ask the provider about payments the platform may have missed.

A payment falls between two chairs when a process dies after the provider took
the money and before the order recorded it, or when the provider's webhook is
lost. Now and then this job asks the provider about every order whose payment
has not moved for a while, and reads the charges the provider took lately: each
must belong to an order that keeps it, or it is given back (and logged).
Everything it does is a saga step that is safe to repeat.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog
from prometheus_client import Counter

from panthera.kernel.database import utcnow
from panthera.services.orders import lifecycle, saga
from panthera.services.orders.payments import Capture, ChargeResult, PaymentProvider
from panthera.services.orders.repository import OrdersUoW

log = structlog.get_logger("panthera.orders.reconcile")

RECONCILED = Counter(
    "panthera_payment_reconciliation_total",
    "What reconciliation changed: orders settled by the provider's answer, charges recovered "
    "for their order, charges refunded because no order keeps them",
    ["outcome"],
)

BATCH = 500


async def run(
    *,
    uow: OrdersUoW,
    payments: PaymentProvider,
    payments_due: asyncio.Event,
    stuck_after: timedelta,
    window: timedelta,
) -> int:
    """One round; how many orders it moved or charges it gave back."""
    done = await settle_stuck(
        uow=uow, payments=payments, payments_due=payments_due, stuck_after=stuck_after
    )
    for capture in await _unknown(uow, await payments.captures_since(utcnow() - window)):
        done += await account_for(
            uow=uow,
            payments=payments,
            reference=capture.reference,
            order_key=capture.idempotency_key,
            payments_due=payments_due,
        )
    if done:
        log.info("reconciled", changes=done)
    return done


async def _unknown(uow: OrdersUoW, captures: Sequence[Capture]) -> list[Capture]:
    """The captures no order holds yet: the only ones worth a closer look (one query a batch)."""
    unknown: list[Capture] = []
    for start in range(0, len(captures), BATCH):
        batch = captures[start : start + BATCH]
        async with uow.read() as tx:
            known = await tx.orders.known_references([c.reference for c in batch])
        unknown += [capture for capture in batch if capture.reference not in known]
    return unknown


async def settle_stuck(
    *,
    uow: OrdersUoW,
    payments: PaymentProvider,
    payments_due: asyncio.Event,
    stuck_after: timedelta,
) -> int:
    """Orders whose payment has not moved for `stuck_after`: what did the provider decide?"""
    async with uow.read() as tx:
        stuck = await tx.orders.in_states(
            lifecycle.AWAITING_PROVIDER, limit=BATCH, updated_before=utcnow() - stuck_after
        )
    moved = 0
    for order in stuck:
        result = await payments.outcome(idempotency_key=str(order.id))
        if result is None:
            continue  # never charged: the payment worker charges it
        if await saga.settle_charge(
            uow=uow, order_id=order.id, result=result, payments_due=payments_due
        ):
            RECONCILED.labels("settled").inc()
            moved += 1
    return moved


async def account_for(
    *,
    uow: OrdersUoW,
    payments: PaymentProvider,
    reference: str,
    order_key: str | None,
    payments_due: asyncio.Event,
) -> bool:
    """Money the provider took for `order_key`: the order keeps it, or it is given back.

    True when something changed: the order was settled by this charge, or the charge
    was refunded (no such order, or the order kept another charge).
    """
    order_id = order_id_of(order_key)
    async with uow.read() as tx:
        order = await tx.orders.get(order_id) if order_id is not None else None
    if order is None:
        log.error("charge_without_order_refunded", reference=reference, order_id=order_key)
        await payments.refund(reference=reference)
        RECONCILED.labels("refunded").inc()
        return True
    if order.payment_reference == reference:
        return False  # known: kept, or its refund is the order's own business
    result = ChargeResult("captured", reference)
    if await saga.settle_charge(
        uow=uow, order_id=order.id, result=result, payments_due=payments_due
    ):
        log.warning("charge_recovered", order_id=str(order.id), reference=reference)
        RECONCILED.labels("recovered").inc()
        return True
    async with uow.read() as tx:
        now = await tx.orders.get(order.id)
    if now is not None and now.payment_reference == reference:
        return False  # someone else settled it with this very charge meanwhile
    log.error("duplicate_charge_refunded", order_id=str(order.id), reference=reference)
    await payments.refund(reference=reference)
    RECONCILED.labels("refunded").inc()
    return True


def order_id_of(key: str | None) -> uuid.UUID | None:
    """The order a provider's payment names, if it names one of ours."""
    try:
        return uuid.UUID(key) if key else None
    except ValueError:
        return None
