"""The notification store port: what the use cases need of wherever notifications live.

The seed keeps notifications in a NoSQL database (DynamoDB); SQL is the
default (`repository.SqlNotificationStore`). The use cases see only this port
and plain `Notification` records, never a table or a session, so that another
adapter implements the same methods without touching them.

Exactly once, whatever the store. A notification's id is derived from the
event that caused it (`notification_id`: event id, template, channel), and
`add` writes with the handler's transaction, which also records the event in
the consumer's inbox:
- the SQL adapter inserts in that transaction (`ON CONFLICT (id) DO NOTHING`),
  so the rows exist if and only if the inbox row does;
- a store outside the database (DynamoDB) cannot join that transaction. Its
  `add` writes at once, each item a conditional put keyed by the notification
  id (`attribute_not_exists(id)`), before the inbox row commits. If the commit
  then fails, the event is delivered again and puts the same ids, which the
  condition refuses: one notification per event, template and channel.
Claims and marks are conditional too: a claim takes queued, due items and
counts an attempt (SQL: `FOR UPDATE SKIP LOCKED`, so that replicas claim
disjoint batches; DynamoDB: an update conditioned on status and
`next_attempt_at`); `mark_retry` and `mark_failed` apply only while the item is
still the claim the caller made (same `attempts`, still queued), so a sender
whose lease expired cannot overwrite the outcome of the one that took over.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from panthera.kernel.uow import Transaction

Channel = Literal["email", "sms"]
Status = Literal["queued", "sent", "failed"]

_NAMESPACE = uuid.UUID("6d1c3b52-4a55-4f59-9c1e-0a6f3c0b7a11")


def notification_id(event_id: uuid.UUID, template: str, channel: Channel) -> uuid.UUID:
    """The same event, template and channel always name the same notification."""
    return uuid.uuid5(_NAMESPACE, f"{event_id}:{template}:{channel}")


@dataclass(frozen=True)
class Notification:
    """One message to one address, and where its delivery stands."""

    id: uuid.UUID
    user_id: uuid.UUID
    channel: Channel
    to: str
    template: str
    subject: str | None
    body: str
    html: str | None
    status: Status
    attempts: int
    last_error: str | None
    event_id: uuid.UUID
    """The event that caused it."""
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    """When a sender may (re)try it: due now, after a backoff, or once a lease expires."""
    trace_context: dict[str, str] | None = None
    """The trace of the event that caused it (`traceparent`): each send continues it."""


class NotificationStore(Protocol):
    async def add(self, tx: Transaction, notifications: Sequence[Notification]) -> None:
        """Store new queued notifications with the effect of the causing event (see above)."""
        ...

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        """A read that never takes a write lock."""
        ...

    async def find(
        self, *, user_id: uuid.UUID | None, channel: Channel | None, offset: int, limit: int
    ) -> tuple[int, list[Notification]]:
        """Newest first, and the total; `user_id=None` means everybody's. Never locks."""
        ...

    async def claim_due(self, *, now: datetime, lease: timedelta, limit: int) -> list[Notification]:
        """Queued notifications due by `now`, leased to the caller until `now + lease` and
        counted as an attempt (the records returned carry the new count)."""
        ...

    async def mark_sent(self, notification_id: uuid.UUID, *, at: datetime) -> None:
        """Delivered: final, whoever held the claim."""
        ...

    async def mark_retry(
        self, claimed: Notification, *, error: str, next_attempt_at: datetime
    ) -> None:
        """Failed this time; due again at `next_attempt_at`, if `claimed` is still current."""
        ...

    async def mark_failed(self, claimed: Notification, *, error: str) -> None:
        """Failed for good, if `claimed` is still current."""
        ...
