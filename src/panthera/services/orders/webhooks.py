"""Stripe's webhooks: verified, handled once each, driving the saga.

An event is believed only if its `Stripe-Signature` (HMAC-SHA256 of the raw
body with the endpoint's secret, compared in constant time) is good and recent.
Each event id is recorded in the same transaction as its effect, so a replayed
or twice-delivered event changes nothing. What an event may do is a saga step:
`payment_intent.succeeded` confirms (or refunds, when no order keeps the money),
`payment_intent.payment_failed` rejects, `charge.refunded` completes a refund;
disputes are recorded and logged for a person.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import stripe
import structlog
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from panthera.kernel.errors import BadRequest
from panthera.services.orders import lifecycle, reconcile, saga
from panthera.services.orders.models import PaymentEvent
from panthera.services.orders.payments import ChargeResult
from panthera.services.orders.reconcile import order_id_of
from panthera.services.orders.repository import OrdersTx
from panthera.services.orders.runtime import OrdersRuntime
from panthera.services.orders.stripe_provider import ORDER_KEY

log = structlog.get_logger("panthera.orders.webhooks")

WEBHOOKS = Counter(
    "panthera_payment_webhooks_total",
    "Payment provider events received, by type and outcome (applied, duplicate)",
    ["provider", "type", "outcome"],
)

FollowUp = Callable[[], Awaitable[object]]
"""Provider calls an event leads to, made after its transaction commits."""


class EventData(BaseModel):
    object: dict[str, Any]


class StripeEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=100)
    data: EventData


def verify(payload: bytes, signature: str | None, *, secret: str, tolerance: int) -> StripeEvent:
    """The event if `signature` proves Stripe sent `payload` recently; 400 otherwise."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise BadRequest("The Stripe-Signature header does not match the body") from exc
    try:
        return StripeEvent.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as exc:
        raise BadRequest("The body is not a Stripe event") from exc


async def receive(event: StripeEvent, *, rt: OrdersRuntime) -> bool:
    """Apply a verified event once; False when it was handled before."""
    handler = _handler_for(event.type)
    record = PaymentEvent(
        id=event.id,
        provider="stripe",
        type=event.type,
        reference=_reference(event.data.object),
        detail=_dispute_detail(event.data.object) if "dispute" in event.type else None,
    )
    applied, follow_up = False, None
    try:
        async with rt.uow.write() as tx:
            if await tx.payment_events.add_once(record):
                applied = True
                follow_up = await handler(tx, event, rt) if handler is not None else None
    except IntegrityError:
        applied = False  # delivered twice at once: the other delivery applied it
    kind = event.type if handler is not None else "other"
    WEBHOOKS.labels("stripe", kind, "applied" if applied else "duplicate").inc()
    if applied and follow_up is not None:
        await follow_up()
    return applied


def _reference(obj: dict[str, Any]) -> str | None:
    """The payment an event is about: the intent's id, or the intent of a charge/dispute."""
    if obj.get("object") == "payment_intent":
        return str(obj.get("id"))
    intent = obj.get("payment_intent")
    return str(intent) if isinstance(intent, str) else None


async def _succeeded(tx: OrdersTx, event: StripeEvent, rt: OrdersRuntime) -> FollowUp | None:
    intent = event.data.object
    key = (intent.get("metadata") or {}).get(ORDER_KEY)
    if key is None:
        log.info("foreign_payment_ignored", reference=intent.get("id"))
        return None
    reference = str(intent["id"])
    order_id = order_id_of(str(key))
    if order_id is not None:
        await saga.settle(
            tx=tx,
            order_id=order_id,
            result=ChargeResult("captured", reference),
            payments_due=rt.payments_due,
        )

    # Once committed: money no order keeps (none, or it kept another charge) goes back.
    async def keep_or_refund() -> bool:
        return await reconcile.account_for(
            uow=rt.uow,
            payments=rt.payments,
            reference=reference,
            order_key=str(key),
            payments_due=rt.payments_due,
        )

    return keep_or_refund


async def _failed(tx: OrdersTx, event: StripeEvent, rt: OrdersRuntime) -> None:
    intent = event.data.object
    order_id = order_id_of((intent.get("metadata") or {}).get(ORDER_KEY))
    if order_id is None:
        return
    order = await tx.orders.get(order_id)
    reference = str(intent["id"])
    if order is None or order.payment_reference not in (None, reference):
        return  # not this order's payment
    error = intent.get("last_payment_error") or {}
    code = error.get("decline_code") or error.get("code") or "card_declined"
    await saga.settle(
        tx=tx,
        order_id=order_id,
        result=ChargeResult("declined", reference, str(code)),
        payments_due=rt.payments_due,
    )


async def _refunded(tx: OrdersTx, event: StripeEvent, rt: OrdersRuntime) -> None:
    reference = _reference(event.data.object)
    order = await tx.orders.by_payment_reference(reference) if reference else None
    if order is None:
        return
    if lifecycle.REFUNDED.allows(order.state):
        await tx.advance(order, lifecycle.REFUNDED)
    elif order.state.payment == "captured":
        # Refunded from Stripe's dashboard: the order still stands; a person decides.
        log.warning("refunded_outside_platform", order_id=str(order.id), reference=reference)


async def _dispute(tx: OrdersTx, event: StripeEvent, rt: OrdersRuntime) -> None:
    log.warning("payment_disputed", type=event.type, **_dispute_detail(event.data.object))


def _dispute_detail(obj: dict[str, Any]) -> dict[str, Any]:
    fields = ("id", "charge", "payment_intent", "amount", "currency", "reason", "status")
    return {name: obj.get(name) for name in fields}


Handler = Callable[[OrdersTx, StripeEvent, OrdersRuntime], Awaitable[FollowUp | None]]
HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _succeeded,
    "payment_intent.payment_failed": _failed,
    "charge.refunded": _refunded,
}
"""Other events are recorded (so a replay is recognised) and otherwise ignored."""


def _handler_for(event_type: str) -> Handler | None:
    if event_type.startswith("charge.dispute."):
        return _dispute
    return HANDLERS.get(event_type)
