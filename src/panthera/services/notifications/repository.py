"""Data access: recipients, the SQL adapter of the notification store, the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.outbox import Outbox
from panthera.kernel.uow import Transaction, UnitOfWork
from panthera.services.notifications.models import NotificationRow, Recipient
from panthera.services.notifications.store import Channel, Notification


class Recipients(Protocol):
    """Contact details copied from users events, changed with the handler's inbox row."""

    async def get(self, user_id: uuid.UUID) -> Recipient | None: ...

    async def save(self, recipient: Recipient) -> None: ...


class RecipientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> Recipient | None:
        return await self.session.get(Recipient, user_id)

    async def save(self, recipient: Recipient) -> None:
        self.session.add(recipient)
        await self.session.flush()


class NotificationsTx(Transaction):
    """One unit of work of the notification service (the notifications themselves are in
    the store port, which may live outside this database)."""

    def __init__(self, session: AsyncSession, outbox: Outbox | None, *, writable: bool) -> None:
        super().__init__(session, outbox, writable=writable)
        self.recipients: Recipients = RecipientRepository(session)


NotificationsUoW = UnitOfWork[NotificationsTx]

_TABLE: sa.Table = NotificationRow.__table__  # type: ignore[assignment]
_C = _TABLE.c


def _record(row: sa.RowMapping) -> Notification:
    return Notification(**row)


class SqlNotificationStore:
    """The store in the service's own SQL database (SQLite or a PostgreSQL schema).

    Reads go through `uow.read()` (no write lock); claims and marks are short
    transactions of their own, since they happen outside any event's handling.
    """

    def __init__(self, uow: NotificationsUoW) -> None:
        self.uow = uow

    async def add(self, tx: Transaction, notifications: Sequence[Notification]) -> None:
        if not notifications:
            return
        dialect = tx.session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_TABLE)
        rows = [asdict(n) for n in notifications]
        await tx.session.execute(insert.values(rows).on_conflict_do_nothing(index_elements=["id"]))

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        async with self.uow.read() as tx:
            found = await tx.session.execute(sa.select(_TABLE).where(_C.id == notification_id))
            row = found.mappings().first()
        return None if row is None else _record(row)

    async def find(
        self, *, user_id: uuid.UUID | None, channel: Channel | None, offset: int, limit: int
    ) -> tuple[int, list[Notification]]:
        query = sa.select(_TABLE)
        if user_id is not None:
            query = query.where(_C.user_id == user_id)
        if channel is not None:
            query = query.where(_C.channel == channel)
        async with self.uow.read() as tx:
            total = await tx.session.scalar(
                sa.select(sa.func.count()).select_from(query.subquery())
            )
            found = await tx.session.execute(
                query.order_by(_C.created_at.desc(), _C.id).offset(offset).limit(limit)
            )
            return int(total or 0), [_record(row) for row in found.mappings()]

    async def claim_due(self, *, now: datetime, lease: timedelta, limit: int) -> list[Notification]:
        due = (_C.status == "queued") & (_C.next_attempt_at <= now)
        # An idle sender polls often: it looks in a read first, so that on SQLite it
        # takes the one writer lock only when there is something to send.
        async with self.uow.read() as tx:
            if await tx.session.scalar(sa.select(_C.id).where(due).limit(1)) is None:
                return []
        async with self.uow.write() as tx:
            # SKIP LOCKED lets several senders (replicas) claim disjoint batches on
            # PostgreSQL; SQLite has one writer at a time, which serialises claims.
            ids = list(
                await tx.session.scalars(
                    sa.select(_C.id)
                    .where(due)
                    .order_by(_C.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            claimed = await tx.session.execute(
                sa.update(_TABLE)
                .where(_C.id.in_(ids))
                .values(attempts=_C.attempts + 1, next_attempt_at=now + lease)
                .returning(*_C)
            )
            return [_record(row) for row in claimed.mappings()]

    async def _update(self, condition: sa.ColumnElement[bool], **values: object) -> None:
        async with self.uow.write() as tx:
            await tx.session.execute(sa.update(_TABLE).where(condition).values(**values))

    async def mark_sent(self, notification_id: uuid.UUID, *, at: datetime) -> None:
        await self._update(
            (_C.id == notification_id) & (_C.status != "sent"),
            status="sent",
            sent_at=at,
            next_attempt_at=None,
            last_error=None,
        )

    @staticmethod
    def _still_claimed(claimed: Notification) -> sa.ColumnElement[bool]:
        return (_C.id == claimed.id) & (_C.status == "queued") & (_C.attempts == claimed.attempts)

    async def mark_retry(
        self, claimed: Notification, *, error: str, next_attempt_at: datetime
    ) -> None:
        await self._update(
            self._still_claimed(claimed), last_error=error[:1000], next_attempt_at=next_attempt_at
        )

    async def mark_failed(self, claimed: Notification, *, error: str) -> None:
        await self._update(
            self._still_claimed(claimed),
            status="failed",
            last_error=error[:1000],
            next_attempt_at=None,
        )
