"""The notification store's promises, on each adapter: SQL (SQLite and PostgreSQL) and
DynamoDB (DynamoDB Local): exactly-once adds under redelivery and concurrent consumers,
claims shared by senders, marks that only the current claim may make, listings newest
first with exact totals, reads that never wait for a writer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from panthera.app import create_platform
from panthera.kernel.database import utcnow
from panthera.kernel.settings import Settings
from panthera.services.notifications.repository import NotificationsUoW
from panthera.services.notifications.settings import NotificationsSettings
from panthera.services.notifications.store import Channel, Notification, NotificationStore
from tests.conftest import fast_service_settings
from tests.services.notifications.samples import queued


@dataclass
class Running:
    uow: NotificationsUoW
    store: NotificationStore
    kind: str


@pytest.fixture
async def running(settings: Settings, notification_store: str) -> AsyncIterator[Running]:
    options = fast_service_settings()
    # No sender of the platform's own: the test is the only one claiming.
    options["notifications"] = NotificationsSettings(sender_enabled=False)
    platform = create_platform(settings, services=["notifications"], service_settings=options)
    async with platform.running():
        host = platform.hosts["notifications"]
        yield Running(host.uow, host.runtime.store, notification_store)


async def claimable(store: NotificationStore, *, at: datetime) -> list[Notification]:
    return await store.claim_due(now=at, lease=timedelta(minutes=1), limit=5)


async def test_a_redelivered_event_adds_its_notifications_once(running: Running) -> None:
    uow, store = running.uow, running.store
    first = queued(uuid.uuid4())
    with pytest.raises(RuntimeError):
        async with uow.write() as tx:
            await store.add(tx, [first])
            raise RuntimeError("the handler failed after queueing")
    # SQL adds with the handler's transaction, so the failure took it back; DynamoDB
    # cannot join that transaction and has written it already (store.py).
    assert (await store.get(first.id) is None) == (running.kind == "sql")
    for _ in range(2):  # the redeliveries add the same ids again: nothing changes
        async with uow.write() as tx:
            await store.add(tx, [first])
    assert await store.get(first.id) == first
    assert await store.find(user_id=first.user_id, channel=None, offset=0, limit=10) == (1, [first])


async def test_concurrent_consumers_of_one_event_add_one_notification_per_channel(
    running: Running,
) -> None:
    user, event = uuid.uuid4(), uuid.uuid4()

    async def consume(replica: int) -> list[Notification]:
        # Each replica renders the event at its own moment: one version wins, whole.
        at = utcnow() + timedelta(milliseconds=replica)
        both = [
            queued(user, event_id=event, channel="email", at=at),
            queued(user, event_id=event, channel="sms", at=at),
        ]
        async with running.uow.write() as tx:
            await running.store.add(tx, both)
        return both

    candidates = await asyncio.gather(*(consume(replica) for replica in range(5)))
    total, found = await running.store.find(user_id=user, channel=None, offset=0, limit=10)
    assert total == 2
    assert {n.channel for n in found} == {"email", "sms"}
    assert all(n in [c for both in candidates for c in both] for n in found)


async def test_concurrent_senders_claim_each_notification_once(running: Running) -> None:
    store = running.store
    rows = [queued(uuid.uuid4()) for _ in range(12)]
    async with running.uow.write() as tx:
        await store.add(tx, rows)
    now = utcnow() + timedelta(seconds=1)
    claimed: list[Notification] = []
    for _ in range(12):  # rounds of four senders claiming at once, until nothing is due
        batches = await asyncio.gather(
            *(store.claim_due(now=now, lease=timedelta(minutes=1), limit=3) for _ in range(4))
        )
        if not any(batches):
            break
        if running.kind == "sql" and not claimed:
            # With SKIP LOCKED no claimer waits for another's rows and then finds them
            # gone: every claimer gets a full batch of its own.
            assert [len(batch) for batch in batches] == [3, 3, 3, 3]
        claimed.extend(n for batch in batches for n in batch)
    assert sorted(n.id for n in claimed) == sorted(n.id for n in rows)
    assert all(n.attempts == 1 and n.next_attempt_at == now + timedelta(minutes=1) for n in claimed)
    assert await store.claim_due(now=now, lease=timedelta(minutes=1), limit=3) == []


async def test_a_stale_claim_cannot_overwrite_the_current_outcome(running: Running) -> None:
    store = running.store
    row = queued(uuid.uuid4())
    async with running.uow.write() as tx:
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
    # Due again only once its backoff has passed.
    assert await claimable(store, at=later - timedelta(seconds=1)) == []
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
    assert await claimable(store, at=later + timedelta(hours=1)) == []


async def test_a_send_failed_for_good_is_never_claimed_again(running: Running) -> None:
    store = running.store
    row = queued(uuid.uuid4())
    async with running.uow.write() as tx:
        await store.add(tx, [row])
    [claimed] = await store.claim_due(now=utcnow(), lease=timedelta(seconds=30), limit=5)
    await store.mark_failed(claimed, error="SMTPRecipientsRefused: no such mailbox")
    failed = await store.get(row.id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 1, None)
    assert failed.last_error == "SMTPRecipientsRefused: no such mailbox"
    assert await claimable(store, at=utcnow() + timedelta(days=1)) == []


async def test_listings_are_newest_first_with_exact_totals(running: Running) -> None:
    store = running.store
    alice, bob = uuid.uuid4(), uuid.uuid4()
    start = utcnow()
    # 25 of alice's (every third an SMS) and 5 of bob's, interleaved in time.
    rows = [
        queued(
            alice if i % 6 else bob,
            channel="sms" if i % 3 == 0 else "email",
            at=start + timedelta(seconds=i),
        )
        for i in range(30)
    ]
    async with running.uow.write() as tx:
        await store.add(tx, rows)
    newest = sorted(rows, key=lambda n: n.created_at, reverse=True)

    def expect(user: uuid.UUID | None, channel: Channel | None) -> list[Notification]:
        return [
            n
            for n in newest
            if (user is None or n.user_id == user) and (channel is None or n.channel == channel)
        ]

    for user in (alice, bob, None):
        for channel in (None, "email", "sms"):
            wanted = expect(user, channel)
            for offset, limit in ((0, 100), (0, 4), (4, 4), (max(len(wanted) - 2, 0), 5), (40, 10)):
                found = await store.find(user_id=user, channel=channel, offset=offset, limit=limit)
                assert found == (len(wanted), wanted[offset : offset + limit]), (
                    user,
                    channel,
                    offset,
                )
    assert await store.find(user_id=uuid.uuid4(), channel=None, offset=0, limit=10) == (0, [])


async def test_reads_never_wait_for_a_writer(running: Running) -> None:
    store = running.store
    row = queued(uuid.uuid4())
    async with running.uow.write() as tx:
        await store.add(tx, [row])
    async with running.uow.write():
        # On SQLite this process's writer holds the one write lock until the block ends;
        # a read that asked for it would never finish here.
        async with asyncio.timeout(30):
            assert await store.get(row.id) == row
            assert await store.find(user_id=None, channel="email", offset=0, limit=5) == (1, [row])
            assert await store.find(user_id=None, channel="sms", offset=0, limit=5) == (0, [])
