"""The sandbox payment provider: test tokens and its own idempotency."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from panthera.kernel import migrations
from panthera.kernel.database import Database
from panthera.services.orders import spec
from panthera.services.orders.payments import SandboxPaymentProvider


@pytest.fixture
async def provider(tmp_path: Path) -> SandboxPaymentProvider:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}")
    await migrations.upgrade(db, spec.migrations, "orders")
    return SandboxPaymentProvider(db)


async def test_test_tokens(provider: SandboxPaymentProvider) -> None:
    ok = await provider.charge(idempotency_key="o1", amount=1000, currency="EUR", token="tok_visa")
    declined = await provider.charge(
        idempotency_key="o2", amount=1000, currency="EUR", token="tok_chargeDeclined"
    )
    assert ok.status == "captured" and str(ok.reference).startswith("ch_")
    assert declined.status == "declined" and declined.decline_reason == "card_declined"


async def test_a_retried_charge_never_charges_twice(provider: SandboxPaymentProvider) -> None:
    results = await asyncio.gather(
        *(
            provider.charge(idempotency_key="order-7", amount=500, currency="EUR", token="tok_visa")
            for _ in range(10)
        )
    )
    assert len({r.reference for r in results}) == 1
    assert await provider.charges_for("order-7") == 1
    await provider.db.dispose()
