"""The sender on fakes: sent, retried with backoff, failed for good (claims: test_repository)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from panthera.contracts.users import UserRegistered
from panthera.services.notifications.channels import Email
from panthera.services.notifications.sender import deliver_due
from panthera.services.notifications.store import Notification
from tests.services.notifications.fakes import Harness, harness


async def queue_welcome(h: Harness) -> Notification:
    user = UserRegistered(
        user_id=uuid.uuid4(), username="dave", email="dave@example.com", role="customer"
    )
    await h.deliver(user, at=h.clock())
    [queued] = h.store.items.values()
    return queued


async def test_a_due_notification_is_sent_once_and_marked_sent() -> None:
    h = harness()
    queued = await queue_welcome(h)
    assert await deliver_due(rt=h.rt) == 1
    [email] = h.email.sent
    assert isinstance(email, Email)
    assert (email.id, email.to, email.subject) == (
        str(queued.id),
        "dave@example.com",
        queued.subject,
    )
    sent = h.store.items[queued.id]
    assert (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (
        "sent",
        1,
        h.clock(),
        None,
    )
    assert await deliver_due(rt=h.rt) == 0
    assert len(h.email.sent) == 1


async def test_failures_back_off_exponentially_then_end_failed_with_the_last_error() -> None:
    h = harness(email_failures=100, max_attempts=3, retry_base_seconds=2.0)
    queued = await queue_welcome(h)

    assert await deliver_due(rt=h.rt) == 1
    first = h.store.items[queued.id]
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.next_attempt_at == h.clock() + timedelta(seconds=2)
    assert first.last_error == "ConnectionRefusedError: the server said no"

    # Not due before its backoff has passed.
    h.clock.advance(1.9)
    assert await deliver_due(rt=h.rt) == 0
    h.clock.advance(0.1)
    assert await deliver_due(rt=h.rt) == 1
    second = h.store.items[queued.id]
    assert (second.status, second.attempts) == ("queued", 2)
    assert second.next_attempt_at == h.clock() + timedelta(seconds=4)

    h.clock.advance(4)
    assert await deliver_due(rt=h.rt) == 1
    last = h.store.items[queued.id]
    assert (last.status, last.attempts, last.next_attempt_at, last.sent_at) == (
        "failed",
        3,
        None,
        None,
    )
    assert last.last_error == "ConnectionRefusedError: the server said no"
    h.clock.advance(3600)
    assert await deliver_due(rt=h.rt) == 0
    assert (h.email.tries, h.email.sent) == (3, [])


async def test_a_send_that_recovers_is_sent_on_its_retry() -> None:
    h = harness(email_failures=1)
    queued = await queue_welcome(h)
    await deliver_due(rt=h.rt)
    h.clock.advance(h.rt.settings.retry_delay(1))
    await deliver_due(rt=h.rt)
    done = h.store.items[queued.id]
    assert (done.status, done.attempts, done.last_error) == ("sent", 2, None)
    assert len(h.email.sent) == 1


async def test_the_backoff_is_capped() -> None:
    h = harness(retry_base_seconds=2.0, retry_max_seconds=5.0)
    assert [h.rt.settings.retry_delay(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, 5.0]
