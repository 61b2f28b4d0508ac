"""The payment provider port, and the sandbox provider behind it.

A provider charges with an idempotency key (the order id), so a retried
charge after a crash or a redelivered event never charges twice. Besides
charging and refunding, a provider answers reconciliation: what became of an
order's payment, and which charges it took lately. The sandbox keeps its
ledger in its own table and understands the usual test tokens; the Stripe
adapter is in `stripe_provider.py`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from panthera.kernel.database import Database, utcnow
from panthera.services.orders.models import SandboxCharge

ChargeStatus = Literal["captured", "declined", "requires_action", "processing"]
"""`requires_action`: the customer must authenticate (3-D Secure) with `client_secret`;
`processing`: the provider will tell later (webhook or reconciliation)."""


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    reference: str | None
    """The provider's id of the payment; None when nothing was created (a bad token)."""
    decline_reason: str | None = None
    client_secret: str | None = None


@dataclass(frozen=True)
class Capture:
    """Money the provider took, as reconciliation sees it."""

    reference: str
    idempotency_key: str | None
    """The order id the charge was made for, if the charge says."""


class PaymentProvider(Protocol):
    name: str

    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, token: str
    ) -> ChargeResult: ...

    async def refund(self, *, reference: str) -> None:
        """Give back all of a payment, once however often asked; void one not yet taken."""
        ...

    async def outcome(self, *, idempotency_key: str) -> ChargeResult | None:
        """What became of the charge made with this key, without charging; None if none."""
        ...

    async def captures_since(self, since: datetime) -> list[Capture]:
        """Payments that succeeded since `since`, refunded since or not."""
        ...


DECLINES = {
    "tok_chargeDeclined": "card_declined",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "tok_chargeDeclinedExpiredCard": "expired_card",
}
ACCEPTED = {"tok_visa", "tok_mastercard", "tok_amex"}


class SandboxPaymentProvider:
    """Accepts `tok_visa` (and other test cards); declines `tok_chargeDeclined*` and the rest."""

    name = "sandbox"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, token: str
    ) -> ChargeResult:
        if token in ACCEPTED:
            status, code = "captured", None
        else:
            status, code = "declined", DECLINES.get(token, "invalid_token")
        row = SandboxCharge(
            id=f"ch_{secrets.token_hex(12)}",
            idempotency_key=idempotency_key,
            amount=amount,
            currency=currency,
            status=status,
            decline_code=code,
        )
        try:
            async with self.db.transaction() as session:
                session.add(row)
            first = row
        except IntegrityError:
            # This key was charged before: answer with that first result.
            found = await self._by_key(idempotency_key)
            assert found is not None
            first = found
        return _result(first)

    async def refund(self, *, reference: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                sa.update(SandboxCharge)
                .where(SandboxCharge.id == reference, SandboxCharge.refunded_at.is_(None))
                .values(refunded_at=utcnow(), status="refunded")
            )

    async def outcome(self, *, idempotency_key: str) -> ChargeResult | None:
        found = await self._by_key(idempotency_key)
        return _result(found) if found is not None else None

    async def captures_since(self, since: datetime) -> list[Capture]:
        async with self.db.read() as session:
            rows = await session.execute(
                sa.select(SandboxCharge.id, SandboxCharge.idempotency_key).where(
                    SandboxCharge.created_at >= since,
                    SandboxCharge.status.in_(("captured", "refunded")),
                )
            )
        return [Capture(reference, key) for reference, key in rows]

    async def _by_key(self, idempotency_key: str) -> SandboxCharge | None:
        async with self.db.read() as session:
            found: SandboxCharge | None = await session.scalar(
                sa.select(SandboxCharge).where(SandboxCharge.idempotency_key == idempotency_key)
            )
        return found

    async def charges_for(self, idempotency_key: str) -> int:
        """How many charges exist for a key (tests and audits)."""
        async with self.db.read() as session:
            count = await session.scalar(
                sa.select(sa.func.count()).where(SandboxCharge.idempotency_key == idempotency_key)
            )
        return int(count or 0)

    async def refunded(self, reference: str) -> bool:
        """Whether a charge was given back (tests and audits)."""
        async with self.db.read() as session:
            when = await session.scalar(
                sa.select(SandboxCharge.refunded_at).where(SandboxCharge.id == reference)
            )
        return when is not None


def _result(charge: SandboxCharge) -> ChargeResult:
    # A refunded charge was captured first: that is its outcome as a charge.
    status: ChargeStatus = "declined" if charge.status == "declined" else "captured"
    return ChargeResult(status, charge.id, charge.decline_code)
