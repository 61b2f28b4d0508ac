"""The notification service's tables, on its own metadata."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from panthera.kernel.database import UtcDateTime, utcnow
from panthera.kernel.outbox import inbox_table, outbox_table


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class NotificationRow(Base):
    """A `store.Notification` in the SQL store; the columns are its fields."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    channel: Mapped[str] = mapped_column(sa.String(10))
    to: Mapped[str] = mapped_column(sa.String(254))
    template: Mapped[str] = mapped_column(sa.String(50))
    subject: Mapped[str | None] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text())
    html: Mapped[str | None] = mapped_column(sa.Text())
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    attempts: Mapped[int] = mapped_column(sa.Integer(), default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    event_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    trace_context: Mapped[dict[str, str] | None] = mapped_column(sa.JSON())

    __table_args__ = (
        # One message per channel and template per event, whatever the redeliveries.
        sa.UniqueConstraint("event_id", "template", "channel", name="uq_notifications_event"),
        sa.Index("ix_notifications_user_created", "user_id", "created_at"),
        sa.Index("ix_notifications_due", "status", "next_attempt_at"),
    )


class Recipient(Base):
    """Our copy of a user's contact details, kept from users.user.* events."""

    __tablename__ = "recipients"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    username: Mapped[str | None] = mapped_column(sa.String(50))
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    """`occurredAt` of the event the copy reflects: an older event never overwrites it."""
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
