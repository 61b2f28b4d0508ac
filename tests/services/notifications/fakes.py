"""In-memory stand-ins for the notification service's ports, for unit tests of its use cases.

What only a database guarantees (rollback of the recipients, SKIP LOCKED, unique
ids) is tested on SQLite and PostgreSQL in test_repository.py and test_service.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from panthera.contracts import EventContract
from panthera.kernel.events import Event, Received
from panthera.kernel.fakes import FakeUnitOfWork
from panthera.kernel.outbox import Outbox
from panthera.kernel.uow import Transaction
from panthera.services.notifications.channels import Email, Sms
from panthera.services.notifications.handlers import HANDLERS
from panthera.services.notifications.models import Recipient
from panthera.services.notifications.rendering import Renderer
from panthera.services.notifications.repository import NotificationsTx
from panthera.services.notifications.service import NotificationsRuntime
from panthera.services.notifications.settings import NotificationsSettings
from panthera.services.notifications.store import Channel, Notification


class FakeRecipients:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Recipient] = {}

    async def get(self, user_id: uuid.UUID) -> Recipient | None:
        return self.rows.get(user_id)

    async def save(self, recipient: Recipient) -> None:
        self.rows[recipient.user_id] = recipient


class FakeNotificationsTx(NotificationsTx):
    def __init__(
        self,
        session: Any,
        outbox: Outbox | None,
        *,
        writable: bool,
        recipients: FakeRecipients,
    ) -> None:
        # The base class would build the SQL repository on the (absent) session.
        Transaction.__init__(self, session, outbox, writable=writable)
        self.recipients = recipients


class FakeNotificationStore:
    """The store port in a dict; what `add` is given appears only once the unit commits."""

    def __init__(self) -> None:
        self.items: dict[uuid.UUID, Notification] = {}

    async def add(self, tx: Transaction, notifications: Sequence[Notification]) -> None:
        tx.after_commit(partial(self._insert, list(notifications)))

    def _insert(self, notifications: list[Notification]) -> None:
        for notification in notifications:
            self.items.setdefault(notification.id, notification)

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        return self.items.get(notification_id)

    async def find(
        self, *, user_id: uuid.UUID | None, channel: Channel | None, offset: int, limit: int
    ) -> tuple[int, list[Notification]]:
        found = [
            n
            for n in self.items.values()
            if (user_id is None or n.user_id == user_id)
            and (channel is None or n.channel == channel)
        ]
        found.sort(key=lambda n: (-n.created_at.timestamp(), n.id))
        return len(found), found[offset : offset + limit]

    async def claim_due(self, *, now: datetime, lease: timedelta, limit: int) -> list[Notification]:
        due = sorted(
            (
                n
                for n in self.items.values()
                if n.status == "queued"
                and n.next_attempt_at is not None
                and n.next_attempt_at <= now
            ),
            key=lambda n: n.next_attempt_at or now,
        )[:limit]
        claimed = [replace(n, attempts=n.attempts + 1, next_attempt_at=now + lease) for n in due]
        self.items.update((n.id, n) for n in claimed)
        return claimed

    def _current(self, claimed: Notification) -> bool:
        now = self.items[claimed.id]
        return now.status == "queued" and now.attempts == claimed.attempts

    async def mark_sent(self, notification_id: uuid.UUID, *, at: datetime) -> None:
        if self.items[notification_id].status != "sent":
            self.items[notification_id] = replace(
                self.items[notification_id],
                status="sent",
                sent_at=at,
                next_attempt_at=None,
                last_error=None,
            )

    async def mark_retry(
        self, claimed: Notification, *, error: str, next_attempt_at: datetime
    ) -> None:
        if self._current(claimed):
            self.items[claimed.id] = replace(
                claimed, last_error=error, next_attempt_at=next_attempt_at
            )

    async def mark_failed(self, claimed: Notification, *, error: str) -> None:
        if self._current(claimed):
            self.items[claimed.id] = replace(
                claimed, status="failed", last_error=error, next_attempt_at=None
            )


@dataclass
class Outgoing:
    """A channel that keeps what it was asked to send, and fails the first `failures` times."""

    failures: int = 0
    sent: list[Email | Sms] = field(default_factory=list)
    tries: int = 0

    async def send(self, message: Email | Sms) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise ConnectionRefusedError("the server said no")
        self.sent.append(message)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 8, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    """A runtime on fakes, and what it did."""

    rt: NotificationsRuntime
    uow: FakeUnitOfWork[NotificationsTx]
    recipients: FakeRecipients
    store: FakeNotificationStore
    email: Outgoing
    sms: Outgoing
    clock: Clock

    async def deliver(self, contract: EventContract, *, at: datetime | None = None) -> Event:
        """Hand `contract` to its handler as the consumer does: in one unit of work."""
        event = Event.of(contract)
        if at is not None:
            event = event.model_copy(update={"occurredAt": at})
        await self.redeliver(event)
        return event

    async def redeliver(self, event: Event) -> None:
        data = _parse(event)
        async with self.uow.write() as tx:
            await HANDLERS[type(data)](Received(event, data), tx, self.rt)


def _parse(event: Event) -> EventContract:
    [contract] = [c for c in HANDLERS if event.type == c.TYPE and event.version == c.VERSION]
    return contract.model_validate(event.data)


def harness(*, email_failures: int = 0, **settings: Any) -> Harness:
    recipients = FakeRecipients()
    store = FakeNotificationStore()
    uow: FakeUnitOfWork[NotificationsTx] = FakeUnitOfWork(
        partial(FakeNotificationsTx, recipients=recipients)
    )
    email, sms, clock = Outgoing(failures=email_failures), Outgoing(), Clock()
    options: dict[str, Any] = {
        "max_attempts": 3,
        "retry_base_seconds": 2.0,
        "retry_max_seconds": 600.0,
        "lease_seconds": 60.0,
        **settings,
    }
    rt = NotificationsRuntime(
        uow=uow,
        settings=NotificationsSettings(**options),
        store=store,
        renderer=Renderer(),
        email=email,
        sms=sms,
        clock=clock,
    )
    return Harness(rt, uow, recipients, store, email, sms, clock)
