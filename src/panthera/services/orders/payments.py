"""The payment provider port, and the sandbox provider behind it.

A provider charges with an idempotency key (the order id), so a retried
charge after a crash or a redelivered event never charges twice. The sandbox
keeps its ledger in its own table and understands the usual test tokens.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from panthera.kernel.database import Database, utcnow
from panthera.services.orders.models import SandboxCharge

ChargeStatus = Literal["captured", "declined"]


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    reference: str
    decline_reason: str | None = None


class PaymentProvider(Protocol):
    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, token: str
    ) -> ChargeResult: ...

    async def refund(self, *, reference: str) -> None: ...


DECLINES = {
    "tok_chargeDeclined": "card_declined",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "tok_chargeDeclinedExpiredCard": "expired_card",
}
ACCEPTED = {"tok_visa", "tok_mastercard", "tok_amex"}


class SandboxPaymentProvider:
    """Accepts `tok_visa` (and other test cards); declines `tok_chargeDeclined*` and the rest."""

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
            async with self.db.read() as session:
                first = (
                    await session.scalars(
                        sa.select(SandboxCharge).where(
                            SandboxCharge.idempotency_key == idempotency_key
                        )
                    )
                ).one()
        result_status: ChargeStatus = "captured" if first.status == "captured" else "declined"
        return ChargeResult(result_status, first.id, first.decline_code)

    async def refund(self, *, reference: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                sa.update(SandboxCharge)
                .where(SandboxCharge.id == reference, SandboxCharge.refunded_at.is_(None))
                .values(refunded_at=utcnow(), status="refunded")
            )

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
