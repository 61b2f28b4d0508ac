"""The SQL notification store on SQLite and PostgreSQL: exactly-once adds, claims shared by
senders, marks that only the current claim may make, reads that never wait for a writer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from panthera.app import create_platform
from panthera.kernel.database import utcnow
from panthera.kernel.settings import Settings
from panthera.services.notifications.repository import NotificationsUoW, SqlNotificationStore
from panthera.services.notifications.settings import NotificationsSettings
from panthera.services.notifications.store import Notification, notification_id
from tests.conftest import fast_service_settings


@pytest.fixture
async def uow(settings: Settings) -> AsyncIterator[NotificationsUoW]:
    options = fast_service_settings()
    # No sender of the platform's own: the test is the only one claiming.
    options["notifications"] = NotificationsSettings(sender_enabled=False)
    platform = create_platform(settings, services=["notifications"], service_settings=options)
    async with platform.running():
        yield platform.hosts["notifications"].uow


def queued(user_id: uuid.UUID, *, template: str = "welcome") -> Notification:
    event_id, now = uuid.uuid4(), utcnow()
    return Notification(
        id=notification_id(event_id, template, "email"),
        user_id=user_id,
        channel="email",
        to="someone@example.com",
        template=template,
        subject="Hello",
        body="Hello there",
        html="<p>Hello there</p>",
        status="queued",
        attempts=0,
        last_error=None,
        event_id=event_id,
        created_at=now,
        sent_at=None,
        next_attempt_at=now,
    )


async def test_add_is_part_of_the_transaction_and_idempotent(uow: NotificationsUoW) -> None:
    store = SqlNotificationStore(uow)
    first = queued(uuid.uuid4())
    with pytest.raises(RuntimeError):
        async with uow.write() as tx:
            await store.add(tx, [first])
            raise RuntimeError("the handler failed after queueing")
    assert await store.get(first.id) is None
    for _ in range(2):  # a redelivery adds the same ids again: nothing changes
        async with uow.write() as tx:
            await store.add(tx, [first])
    assert await store.get(first.id) == first
    assert await store.find(user_id=first.user_id, channel=None, offset=0, limit=10) == (1, [first])


async def test_concurrent_senders_claim_disjoint_batches(uow: NotificationsUoW) -> None:
    store = SqlNotificationStore(uow)
    rows = [queued(uuid.uuid4()) for _ in range(12)]
    async with uow.write() as tx:
        await store.add(tx, rows)
    now = utcnow() + timedelta(seconds=1)
    batches = await asyncio.gather(
        *(store.claim_due(now=now, lease=timedelta(minutes=1), limit=3) for _ in range(4))
    )
    claimed = [n.id for batch in batches for n in batch]
    # With SKIP LOCKED no claimer waits for another's rows and then finds them gone:
    # every claimer gets a full batch of its own.
    assert [len(batch) for batch in batches] == [3, 3, 3, 3]
    assert sorted(claimed) == sorted(n.id for n in rows)
    assert all(
        n.attempts == 1 and n.next_attempt_at == now + timedelta(minutes=1)
        for batch in batches
        for n in batch
    )
    assert await store.claim_due(now=now, lease=timedelta(minutes=1), limit=3) == []


async def test_a_stale_claim_cannot_overwrite_the_current_outcome(uow: NotificationsUoW) -> None:
    store = SqlNotificationStore(uow)
    row = queued(uuid.uuid4())
    async with uow.write() as tx:
        await store.add(tx, [row])
    now = utcnow()
    [stale] = await store.claim_due(now=now, lease=timedelta(seconds=30), limit=5)
    # That sender hangs past its lease; another claims the message again.
    later = now + timedelta(seconds=31)
    [current] = await store.claim_due(now=later, lease=timedelta(seconds=30), limit=5)
    assert (stale.attempts, current.attempts) == (1, 2)
    # The stale sender's verdicts are refused; the current one's count.
    await store.mark_failed(stale, error="TimeoutError: stale")
    await store.mark_retry(stale, error="TimeoutError: stale", next_attempt_at=later)
    still = await store.get(row.id)
    assert still is not None
    assert (still.status, still.attempts, still.last_error) == ("queued", 2, None)
    await store.mark_retry(current, error="SMTPException: busy", next_attempt_at=later)
    retried = await store.get(row.id)
    assert retried is not None
    assert (retried.status, retried.last_error, retried.next_attempt_at) == (
        "queued",
        "SMTPException: busy",
        later,
    )
    # A delivery is final, whoever reports it; a late failure cannot undo it.
    await store.mark_sent(row.id, at=later)
    await store.mark_failed(current, error="TimeoutError: late")
    sent = await store.get(row.id)
    assert sent is not None
    assert (sent.status, sent.sent_at, sent.next_attempt_at, sent.last_error) == (
        "sent",
        later,
        None,
        None,
    )


async def test_reads_never_wait_for_a_writer(uow: NotificationsUoW) -> None:
    store = SqlNotificationStore(uow)
    row = queued(uuid.uuid4())
    async with uow.write() as tx:
        await store.add(tx, [row])
    async with uow.write():
        # On SQLite this process's writer holds the one write lock until the block ends;
        # a read that asked for it would never finish here.
        async with asyncio.timeout(30):
            assert await store.get(row.id) == row
            assert await store.find(user_id=None, channel="email", offset=0, limit=5) == (1, [row])
            assert await store.find(user_id=None, channel="sms", offset=0, limit=5) == (0, [])
