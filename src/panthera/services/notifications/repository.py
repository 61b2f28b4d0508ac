"""Data access: the notification store port with its SQL adapter, and recipients.

The seed keeps notifications in a NoSQL database (DynamoDB). The service's
logic only sees `NotificationStore`; `SqlNotificationStore` is the default. A
DynamoDB adapter implements the same methods: notification ids are derived from
the causing event (`notification_id`), so its `add` is an idempotent
conditional put, and the session argument is simply not used.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.database import Database, utcnow
from panthera.services.notifications.models import Notification, Recipient

_NAMESPACE = uuid.UUID("6d1c3b52-4a55-4f59-9c1e-0a6f3c0b7a11")


def notification_id(event_id: uuid.UUID, template: str, channel: str) -> uuid.UUID:
    """The same event, template and channel always name the same notification."""
    return uuid.uuid5(_NAMESPACE, f"{event_id}:{template}:{channel}")


class NotificationStore(Protocol):
    async def add(self, session: AsyncSession, notifications: Sequence[Notification]) -> None:
        """Store new queued notifications with the effect of the causing event."""

    async def get(self, notification_id: uuid.UUID) -> Notification | None: ...

    async def find(
        self, *, user_id: uuid.UUID | None, channel: str | None, offset: int, limit: int
    ) -> tuple[int, list[Notification]]:
        """Newest first; `user_id=None` means everybody's."""
        ...

    async def claim_due(self, *, now: datetime, lease: timedelta, limit: int) -> list[Notification]:
        """Queued notifications due by `now`, leased to this sender and counted as an attempt."""
        ...

    async def mark_sent(self, notification_id: uuid.UUID, *, at: datetime) -> None: ...

    async def mark_retry(
        self, notification_id: uuid.UUID, *, error: str, next_attempt_at: datetime
    ) -> None: ...

    async def mark_failed(self, notification_id: uuid.UUID, *, error: str) -> None: ...


class SqlNotificationStore:
    """The store in the service's own SQL database (SQLite or a PostgreSQL schema)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, session: AsyncSession, notifications: Sequence[Notification]) -> None:
        if not notifications:
            return
        table: sa.Table = Notification.__table__  # type: ignore[assignment]
        dialect = session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        rows = [{c.name: getattr(n, c.key) for c in table.columns} for n in notifications]
        await session.execute(insert.values(rows).on_conflict_do_nothing(index_elements=["id"]))

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        async with self.db.transaction() as session:
            return await session.get(Notification, notification_id)

    async def find(
        self, *, user_id: uuid.UUID | None, channel: str | None, offset: int, limit: int
    ) -> tuple[int, list[Notification]]:
        query = sa.select(Notification)
        if user_id is not None:
            query = query.where(Notification.user_id == user_id)
        if channel is not None:
            query = query.where(Notification.channel == channel)
        async with self.db.transaction() as session:
            total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
            found = await session.scalars(
                query.order_by(Notification.created_at.desc(), Notification.id)
                .offset(offset)
                .limit(limit)
            )
            return int(total or 0), list(found)

    async def claim_due(self, *, now: datetime, lease: timedelta, limit: int) -> list[Notification]:
        async with self.db.transaction() as session:
            # SKIP LOCKED lets several senders (replicas) claim disjoint batches.
            due = list(
                await session.scalars(
                    sa.select(Notification)
                    .where(Notification.status == "queued", Notification.next_attempt_at <= now)
                    .order_by(Notification.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            for notification in due:
                notification.attempts += 1
                notification.next_attempt_at = now + lease
            return due

    async def _update(self, notification_id: uuid.UUID, **values: object) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                sa.update(Notification).where(Notification.id == notification_id).values(**values)
            )

    async def mark_sent(self, notification_id: uuid.UUID, *, at: datetime) -> None:
        await self._update(
            notification_id, status="sent", sent_at=at, next_attempt_at=None, last_error=None
        )

    async def mark_retry(
        self, notification_id: uuid.UUID, *, error: str, next_attempt_at: datetime
    ) -> None:
        await self._update(
            notification_id, last_error=error[:1000], next_attempt_at=next_attempt_at
        )

    async def mark_failed(self, notification_id: uuid.UUID, *, error: str) -> None:
        await self._update(
            notification_id, status="failed", last_error=error[:1000], next_attempt_at=None
        )


class RecipientRepository:
    """Contact details copied from users events, in the handler's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> Recipient | None:
        return await self.session.get(Recipient, user_id)

    async def save(self, recipient: Recipient) -> None:
        self.session.add(recipient)
        await self.session.flush()


def now() -> datetime:
    return utcnow()
