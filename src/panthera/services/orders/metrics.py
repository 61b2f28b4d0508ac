"""What an operator watches of checkout: orders by outcome, decision time, payments.

Counted from the events each committed transaction recorded (the host hands them
over: `ServiceMetrics.committed`), so a rolled-back change counts nothing, and
from the payment provider's answers. Labels are bounded: reason classes and
outcomes below, provider names; never an id.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter, Gauge, Histogram

from panthera.contracts.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
)
from panthera.kernel.events import Event
from panthera.kernel.service import ServiceMetrics
from panthera.kernel.uow import UnitOfWork
from panthera.services.orders.models import Order

REJECTION_REASONS = ("out_of_stock", "payment_declined", "expired", "other")
CANCELLATION_REASONS = ("cancelled_by_customer", "cancelled_by_admin", "other")
DECISIONS = ("confirmed", "rejected")
PAYMENT_OUTCOMES = ("succeeded", "declined", "requires_action", "processing", "error", "refunded")
_CHARGE_OUTCOMES = {
    "captured": "succeeded",
    "declined": "declined",
    "requires_action": "requires_action",
    "processing": "processing",
}

PLACED = Counter("panthera_orders_placed_total", "Orders accepted (pending)")
CONFIRMED = Counter("panthera_orders_confirmed_total", "Orders the saga confirmed")
REJECTED = Counter("panthera_orders_rejected_total", "Orders rejected, by reason", ["reason"])
CANCELLED = Counter("panthera_orders_cancelled_total", "Orders cancelled, by reason", ["reason"])
OLDEST_PENDING = Gauge(
    "panthera_orders_oldest_pending_seconds", "Age of the oldest pending order (0 when none)"
)
DECISION = Histogram(
    "panthera_saga_decision_seconds",
    "From placing an order to its confirmation or rejection",
    ["outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
PAYMENTS = Counter(
    "panthera_payments_total", "Payment provider calls, by outcome", ["provider", "outcome"]
)


def start() -> None:
    for reason in REJECTION_REASONS:
        REJECTED.labels(reason)
    for reason in CANCELLATION_REASONS:
        CANCELLED.labels(reason)
    for outcome in DECISIONS:
        DECISION.labels(outcome)
    _payment_series("sandbox")


def _payment_series(provider: str) -> None:
    for outcome in PAYMENT_OUTCOMES:
        PAYMENTS.labels(provider, outcome)


def _reason_class(reason: object, known: Sequence[str]) -> str:
    return str(reason) if reason in known else "other"


def _decided(event: Event, outcome: str) -> None:
    placed = event.data.get("placedAt")
    if placed:
        seconds = (event.occurredAt - datetime.fromisoformat(placed)).total_seconds()
        DECISION.labels(outcome).observe(max(seconds, 0.0))


def committed(events: Sequence[Event]) -> None:
    """Count the order events a transaction recorded, once it committed."""
    for event in events:
        if event.type == OrderPlaced.TYPE:
            PLACED.inc()
        elif event.type == OrderConfirmed.TYPE:
            CONFIRMED.inc()
            _decided(event, "confirmed")
        elif event.type == OrderRejected.TYPE:
            REJECTED.labels(_reason_class(event.data.get("reason"), REJECTION_REASONS)).inc()
            _decided(event, "rejected")
        elif event.type == OrderCancelled.TYPE:
            reason = event.data.get("reason")
            CANCELLED.labels(_reason_class(reason, CANCELLATION_REASONS)).inc()


async def scrape(uow: UnitOfWork[Any]) -> None:
    """The age of the oldest pending order, read at each scrape."""
    async with uow.read() as tx:
        oldest = await tx.session.scalar(
            sa.select(sa.func.min(Order.created_at)).where(
                Order.status == OrderStatus.PENDING.value
            )
        )
    age = 0.0
    if oldest is not None:
        age = max(time.time() - oldest.timestamp(), 0.0)
    OLDEST_PENDING.set(age)


ORDERS = ServiceMetrics(start=start, committed=committed, scrape=scrape)


def count_payments(provider: Any) -> None:
    """Count the outcome of every `charge` and `refund` of `provider`, whichever it is.

    The provider's own methods are wrapped on the instance (once), so that every
    provider, with whatever else its port grows, keeps its type and counts alike.
    """
    if getattr(provider, "_panthera_counted", False):
        return
    name = str(getattr(provider, "name", "sandbox"))
    _payment_series(name)
    charge: Callable[..., Awaitable[Any]] = provider.charge
    refund: Callable[..., Awaitable[Any]] = provider.refund

    async def counted_charge(**kwargs: Any) -> Any:
        try:
            result = await charge(**kwargs)
        except Exception:
            PAYMENTS.labels(name, "error").inc()
            raise
        PAYMENTS.labels(name, _CHARGE_OUTCOMES.get(str(result.status), "error")).inc()
        return result

    async def counted_refund(**kwargs: Any) -> Any:
        try:
            result = await refund(**kwargs)
        except Exception:
            PAYMENTS.labels(name, "error").inc()
            raise
        PAYMENTS.labels(name, "refunded").inc()
        return result

    object.__setattr__(provider, "charge", counted_charge)
    object.__setattr__(provider, "refund", counted_refund)
    object.__setattr__(provider, "_panthera_counted", True)
