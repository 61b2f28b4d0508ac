"""The outbox and inbox tables every service keeps, and the outbox's writer.

A use case records an event with `tx.record(...)` (panthera.kernel.uow) in the
transaction of the change it describes, so an event exists if and only if the
change does. A consumer records each handled event id in its inbox in the
transaction of its effect, so a redelivered event is recognised and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
import structlog
from alembic import op
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.events import Event

log = structlog.get_logger("panthera.outbox")

_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
    """One service's outbox table, and who wants to hear that it has new rows.

    Listeners are this instance's (the relay of the same host subscribes), so that
    two platforms in one process, as in tests, never wake each other's relays.
    """

    def __init__(self, table: sa.Table, *, source: str) -> None:
        self.table = table
        self.source = source
        self._listeners: list[Callable[[], None]] = []
        self._observers: list[Callable[[Sequence[Event]], None]] = []

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` after each commit that recorded events; returns the remover."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def observe(self, callback: Callable[[Sequence[Event]], None]) -> None:
        """Call `callback` with the events of each commit that recorded some (metrics)."""
        self._observers.append(callback)

    def committed(self, events: Sequence[Event] = ()) -> None:
        """A transaction that recorded events has committed: wake the listeners."""
        for callback in list(self._listeners):
            callback()
        for observer in list(self._observers):
            try:
                observer(events)
            except Exception:  # counting must never fail a committed change
                log.exception("outbox_observer_failed")

    async def insert(self, session: AsyncSession, events: Sequence[Event]) -> None:
        """Write events as outbox rows, in the order given, in the caller's transaction."""
        if not events:
            return
        await session.execute(
            self.table.insert(),
            [
                {
                    "event_id": event.id,
                    "type": event.type,
                    "subject": event.subject,
                    "envelope": event.model_dump(mode="json"),
                    "occurred_at": event.occurredAt,
                }
                for event in events
            ],
        )
