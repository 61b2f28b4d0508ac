"""The Stripe payment provider: one PaymentIntent per order, through Stripe's async client.

Charging is two calls, with the intent recorded in between: create the intent
(keyed by the order id, so Stripe answers a retry with the same intent), record
it in this service's ledger, then confirm it. Whatever crashes or races, an
order has one recorded intent and only that one is ever confirmed, even on a
Stripe-compatible server that ignores idempotency keys. Capture is automatic:
a `succeeded` intent is money taken, as `captured` is for the sandbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import stripe
import structlog
from sqlalchemy.exc import IntegrityError

from panthera.kernel.database import Database
from panthera.services.orders.models import StripePayment
from panthera.services.orders.payments import Capture, ChargeResult, ChargeStatus

log = structlog.get_logger("panthera.orders.stripe")

ORDER_KEY = "panthera_order_id"
"""The intent's metadata naming its order: how webhooks and reconciliation find it."""
API_VERSION = "2025-03-31.basil"
"""Pinned: the API version whose PaymentIntents take `payment_method_types`, as
Stripe-compatible test servers do too; card-only intents need no `return_url`."""
TIMEOUT_SECONDS = 20.0
NETWORK_RETRIES = 2
EVENTS_PAGE = 100

_UNDECIDED = frozenset({"processing", "requires_capture", "requires_confirmation"})
_NOT_TAKEN = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)


class StripePaymentProvider:
    """Charges PaymentMethods (`pm_...`) with PaymentIntents; see docs/payments.md."""

    name = "stripe"

    def __init__(self, db: Database, *, api_key: str, api_base: str | None = None) -> None:
        self.db = db
        self._http = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS)
        self.client = stripe.StripeClient(
            api_key,
            stripe_version=API_VERSION,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=NETWORK_RETRIES,
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, token: str
    ) -> ChargeResult:
        intent_id = await self._recorded(idempotency_key)
        if intent_id is None:
            if not token.startswith("pm_"):
                return ChargeResult("declined", None, "invalid_token")
            try:
                intent_id = await self._create(idempotency_key, amount, currency, token)
            except stripe.InvalidRequestError as exc:
                if exc.http_status == 404 or exc.code == "resource_missing":
                    return ChargeResult("declined", None, "invalid_token")
                raise
        intent = await self.client.v1.payment_intents.retrieve_async(intent_id)
        if intent.status == "requires_confirmation":
            intent = await self._confirm(intent_id, idempotency_key)
        return _result(intent)

    async def _create(self, key: str, amount: int, currency: str, token: str) -> str:
        """A new intent for the order, recorded; or the one another worker recorded first."""
        intent = await self.client.v1.payment_intents.create_async(
            {
                "amount": amount,
                "currency": currency.lower(),
                "payment_method": token,
                "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
                "capture_method": "automatic",
                "metadata": {ORDER_KEY: key},
            },
            {"idempotency_key": f"panthera-intent-{key}"},
        )
        try:
            async with self.db.transaction() as session:
                session.add(StripePayment(idempotency_key=key, intent_id=intent.id))
        except IntegrityError:
            first = await self._recorded(key)
            if first is None:
                raise
            if first != intent.id:  # a server without idempotency made a second one
                await self.client.v1.payment_intents.cancel_async(intent.id)
            return first
        return intent.id

    async def _confirm(self, intent_id: str, key: str) -> stripe.PaymentIntent:
        try:
            return await self.client.v1.payment_intents.confirm_async(
                intent_id, options={"idempotency_key": f"panthera-confirm-{key}"}
            )
        except (stripe.CardError, stripe.InvalidRequestError):
            # Declined, or confirmed meanwhile by another worker: the intent says which.
            return await self.client.v1.payment_intents.retrieve_async(intent_id)

    async def refund(self, *, reference: str) -> None:
        intent = await self.client.v1.payment_intents.retrieve_async(
            reference, {"expand": ["latest_charge"]}
        )
        if intent.status in _NOT_TAKEN:
            await self.client.v1.payment_intents.cancel_async(reference)
            return
        if intent.status == "canceled":
            return
        if intent.status != "succeeded":
            raise RuntimeError(f"payment {reference} is {intent.status}: refund it later")
        charge = intent.latest_charge
        if isinstance(charge, stripe.Charge) and charge.amount_refunded >= charge.amount:
            return  # given back already (Stripe-compatible servers may not dedupe refunds)
        await self.client.v1.refunds.create_async(
            {"payment_intent": reference}, {"idempotency_key": f"panthera-refund-{reference}"}
        )

    async def outcome(self, *, idempotency_key: str) -> ChargeResult | None:
        intent_id = await self._recorded(idempotency_key)
        if intent_id is None:
            return None
        return _result(await self.client.v1.payment_intents.retrieve_async(intent_id))

    async def captures_since(self, since: datetime) -> list[Capture]:
        """Intents of ours that succeeded since `since`, read from Stripe's events."""
        found: list[Capture] = []
        params: dict[str, Any] = {
            "type": "payment_intent.succeeded",
            "created": {"gte": int(since.timestamp())},
            "limit": EVENTS_PAGE,
        }
        while True:
            page = await self.client.v1.events.list_async(params)  # type: ignore[arg-type]
            for event in page.data:
                found_object: object = event.data.object  # typed a dict; a StripeObject at run time
                intent = (
                    found_object.to_dict()
                    if isinstance(found_object, stripe.StripeObject)
                    else dict(event.data.object)
                )
                key = (intent.get("metadata") or {}).get(ORDER_KEY)
                if key is not None:
                    found.append(Capture(str(intent["id"]), str(key)))
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id

    async def _recorded(self, key: str) -> str | None:
        async with self.db.read() as session:
            found: str | None = await session.scalar(
                sa.select(StripePayment.intent_id).where(StripePayment.idempotency_key == key)
            )
        return found


def _result(intent: stripe.PaymentIntent) -> ChargeResult:
    status = intent.status
    if status == "succeeded":
        return ChargeResult("captured", intent.id)
    if status == "requires_action":
        return ChargeResult("requires_action", intent.id, client_secret=intent.client_secret)
    if status in _UNDECIDED:
        undecided: ChargeStatus = "processing"
        return ChargeResult(undecided, intent.id)
    error = intent.last_payment_error
    code = (getattr(error, "decline_code", None) or getattr(error, "code", None)) if error else None
    return ChargeResult("declined", intent.id, code or "card_declined")
