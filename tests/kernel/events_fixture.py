"""A miniature service for kernel tests: an outbox, an inbox and an effects table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from panthera.contracts import EventContract
from panthera.kernel.database import Database
from panthera.kernel.events import Event, Received
from panthera.kernel.outbox import Outbox, inbox_table, outbox_table
from panthera.kernel.uow import Transaction, UnitOfWork
from tests.conftest import POSTGRES_URL

metadata = sa.MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
effects = sa.Table(
    "effects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Uuid(), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
)


class ThingHappened(EventContract):
    TYPE = "shop.thing.happened"

    seq: int

    @property
    def subject(self) -> str:
        return "thing-1"


class OtherThingHappened(ThingHappened):
    TYPE = "shop.other.happened"


@dataclass
class Mini:
    db: Database
    outbox: Outbox

    @property
    def uow(self) -> UnitOfWork[Transaction]:
        return UnitOfWork(self.db, Transaction, outbox=self.outbox)

    async def record(
        self, count: int, *, contract: type[ThingHappened] = ThingHappened
    ) -> list[Event]:
        """Record `count` events, one transaction each, numbered in `data.seq`."""
        recorded = []
        for seq in range(count):
            async with self.uow.write() as tx:
                recorded.append(tx.record(contract(seq=seq)))
        return recorded

    async def effects(self) -> list[tuple[uuid.UUID, int]]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                sa.select(effects.c.event_id, effects.c.seq).order_by(effects.c.id)
            )
            return [(r[0], r[1]) for r in rows]

    async def unpublished(self) -> int:
        async with self.db.transaction() as session:
            count = await session.scalar(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.published_at.is_(None))
            )
            return int(count or 0)


async def record_effect(received: Received[ThingHappened], tx: Transaction, _runtime: Any) -> None:
    await tx.session.execute(effects.insert().values(event_id=received.id, seq=received.data.seq))


@pytest.fixture
async def mini(tmp_path: Path, db_backend: str) -> AsyncIterator[Mini]:
    if db_backend == "postgresql":
        db = Database(POSTGRES_URL, schema=f"t{uuid.uuid4().hex[:10]}_mini")
    else:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'mini.db'}")
    await db.prepare()
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield Mini(db=db, outbox=Outbox(outbox, source="shop"))
    finally:
        await db.drop_schema()
        await db.dispose()
