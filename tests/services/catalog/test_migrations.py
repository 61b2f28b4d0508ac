"""The catalog migrations on SQLite and PostgreSQL, with the data they carry over."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from panthera.app import create_platform
from panthera.contracts.catalog import StockRejectionReason as Reason
from panthera.kernel import migrations
from panthera.kernel.database import utcnow
from panthera.kernel.settings import Settings
from panthera.services.catalog.models import Reservation, ReservationStatus
from panthera.services.catalog.repository import ReservationState, SqlReservations

SENTENCES: dict[str, tuple[str, str | None, Reason | None]] = {
    # What revision 0001's code stored -> what 0002 leaves.
    "short": ("rejected", f"out of stock: {uuid.uuid4()}", Reason.OUT_OF_STOCK),
    "ghost": ("rejected", f"unknown product: {uuid.uuid4()}", Reason.UNKNOWN_PRODUCT),
    "bad": ("rejected", "invalid order: quantity of x is not 1 to 10000", Reason.INVALID_ORDER),
    "odd": ("rejected", "something else", None),
    "late": ("released", "ended before any reservation", None),
    "held": ("reserved", None, None),
}


async def test_rejection_sentences_become_codes(settings: Settings) -> None:
    host = create_platform(settings, services=["catalog"]).hosts["catalog"]
    db, location = host.db, host.spec.migrations
    try:
        await migrations.upgrade(db, location, "catalog", "0001")
        async with db.transaction() as session:
            now = utcnow()
            await session.execute(
                sa.insert(Reservation),
                [
                    {
                        "order_id": order_id,
                        "status": status,
                        "reason": reason,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for order_id, (status, reason, _code) in SENTENCES.items()
                ],
            )
        await migrations.upgrade(db, location, "catalog")
        async with db.read() as session:
            stored = {
                order_id: await SqlReservations(session).get(order_id) for order_id in SENTENCES
            }
        assert stored == {
            order_id: ReservationState(order_id, ReservationStatus(status), {}, code)
            for order_id, (status, _sentence, code) in SENTENCES.items()
        }
        await migrations.downgrade(db, location, "catalog", "0001")
        await migrations.upgrade(db, location, "catalog")
    finally:
        await db.dispose()
