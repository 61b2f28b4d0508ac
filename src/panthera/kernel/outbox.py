"""The outbox and inbox tables every service keeps.

A use case records an event with `record_event` in the same transaction as
the change it describes, so an event exists if and only if the change does.
A consumer records each handled event id in its inbox in the transaction of
its effect, so a redelivered event is recognised and skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.events import Event

_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Callbacks run after a transaction that recorded an event commits, so that a
# relay in this process publishes at once instead of at its next poll.
_commit_listeners: dict[sa.Table, list[Callable[[], None]]] = {}


def on_commit(table: sa.Table, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` after each commit that wrote to `table`; returns the remover."""
    _commit_listeners.setdefault(table, []).append(callback)

    def remove() -> None:
        listeners = _commit_listeners.get(table, [])
        if callback in listeners:
            listeners.remove(callback)

    return remove


def _notify(table: sa.Table) -> Callable[[Any], None]:
    def after_commit(_session: Any) -> None:
        for callback in list(_commit_listeners.get(table, ())):
            callback()

    return after_commit


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata,
        # The position orders a service's events; SQLite needs INTEGER to autoincrement.
        sa.Column("position", _POSITION, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("ix_outbox_unpublished", "published_at", "position"),
    )


def inbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.String(80), primary_key=True),
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )


def create_outbox_and_inbox() -> None:
    """Migration step shared by every service's first revision."""
    metadata = sa.MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    metadata.create_all(op.get_bind())


def drop_outbox_and_inbox() -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")


class Outbox:
    """Writes events to one service's outbox table."""

    def __init__(self, table: sa.Table, *, source: str) -> None:
        self.table = table
        self.source = source

    async def record(
        self,
        session: AsyncSession,
        type: str,
        *,
        subject: uuid.UUID | str,
        data: dict[str, Any],
        version: int = 1,
    ) -> Event:
        event = Event(
            id=uuid.uuid4(),
            type=type,
            version=version,
            occurredAt=datetime.now(UTC),
            source=self.source,
            subject=str(subject),
            data=data,
        )
        event.attach_trace_context()
        await session.execute(
            self.table.insert().values(
                event_id=event.id,
                type=event.type,
                subject=event.subject,
                envelope=event.model_dump(mode="json"),
                occurred_at=event.occurredAt,
            )
        )
        if self.table in _commit_listeners:
            sa.event.listen(session.sync_session, "after_commit", _notify(self.table), once=True)
        return event
