"""Sending queued notifications: claim what is due, deliver it, record the outcome.

A sender runs in every process of the service whose `sender_enabled` is on;
replicas share the queue through the store's claims (see store.py). A send
that fails waits with exponential backoff and ends `failed` after
`max_attempts`, or at once when the channel says no retry can succeed; a
sender that dies mid-send loses its lease, and the message is tried again once
the lease expires.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from opentelemetry import trace

from panthera.kernel import tracing
from panthera.kernel.wakeup import woken_or_timed_out
from panthera.services.notifications.channels import Email, PermanentFailure, Sms
from panthera.services.notifications.metrics import SENDS
from panthera.services.notifications.service import NotificationsRuntime
from panthera.services.notifications.store import Notification

log = structlog.get_logger("panthera.notifications")


async def _send(rt: NotificationsRuntime, notification: Notification) -> None:
    async with asyncio.timeout(rt.settings.send_timeout_seconds):
        if notification.channel == "email":
            await rt.email.send(
                Email(
                    id=str(notification.id),
                    to=notification.to,
                    subject=notification.subject or "",
                    text=notification.body,
                    html=notification.html,
                )
            )
        else:
            await rt.sms.send(
                Sms(id=str(notification.id), to=notification.to, body=notification.body)
            )


async def _send_one(rt: NotificationsRuntime, claimed: Notification) -> None:
    """One attempt, in a span of the trace of the event that caused the notification."""
    with tracing.continued(
        claimed.trace_context, f"send {claimed.channel}", kind=trace.SpanKind.CLIENT
    ) as span:
        span.set_attribute("notification.template", claimed.template)
        span.set_attribute("notification.attempt", claimed.attempts)
        await _attempt(rt, claimed)


async def _attempt(rt: NotificationsRuntime, claimed: Notification) -> None:
    try:
        await _send(rt, claimed)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, PermanentFailure) or claimed.attempts >= rt.settings.max_attempts:
            SENDS.labels(claimed.channel, "failed").inc()
            log.error("notification_failed", id=str(claimed.id), error=error)
            await rt.store.mark_failed(claimed, error=error)
        else:
            SENDS.labels(claimed.channel, "retry").inc()
            delay = rt.settings.retry_delay(claimed.attempts)
            log.warning("notification_retry", id=str(claimed.id), error=error, delay=delay)
            await rt.store.mark_retry(
                claimed, error=error, next_attempt_at=rt.clock() + timedelta(seconds=delay)
            )
        return
    SENDS.labels(claimed.channel, "sent").inc()
    await rt.store.mark_sent(claimed.id, at=rt.clock())


async def deliver_due(*, rt: NotificationsRuntime) -> int:
    """Send every notification due now; failures wait with exponential backoff."""
    claimed = await rt.store.claim_due(
        now=rt.clock(),
        lease=timedelta(seconds=rt.settings.lease_seconds),
        limit=rt.settings.batch_size,
    )
    await asyncio.gather(*(_send_one(rt, n) for n in claimed))
    return len(claimed)


async def run_sender(*, rt: NotificationsRuntime) -> None:
    """Send until cancelled: right after new notifications commit, else every poll."""
    while True:
        try:
            sent = await deliver_due(rt=rt)
        except Exception:
            log.exception("notification_sender_failed")
            sent = 0
        if sent >= rt.settings.batch_size:
            continue
        await woken_or_timed_out(rt.wake, rt.settings.poll_seconds)
