"""Use cases of the notification service: keep recipients, queue messages, send them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.auth.principals import Principal
from panthera.kernel.database import Database, utcnow
from panthera.kernel.errors import NotFound
from panthera.services.notifications.channels import Email, EmailChannel, Sms, SmsChannel
from panthera.services.notifications.models import Notification, Recipient
from panthera.services.notifications.rendering import Renderer
from panthera.services.notifications.repository import (
    NotificationStore,
    RecipientRepository,
    notification_id,
)
from panthera.services.notifications.settings import NotificationsSettings

log = structlog.get_logger("panthera.notifications")

SENDS = Counter(
    "panthera_notifications_sends_total",
    "Notification send attempts by channel and outcome",
    ["channel", "outcome"],
)

REASONS = {
    "out_of_stock": "some items are out of stock",
    "payment_declined": "the payment was declined",
    "expired": "it was not completed in time",
}


class RecipientUnknown(Exception):
    """An event about a user whose users.user.registered we have not seen yet: retry later."""


@dataclass
class NotificationsRuntime:
    """The collaborators the use cases need, built once when the service starts."""

    db: Database
    settings: NotificationsSettings
    store: NotificationStore
    renderer: Renderer
    email: EmailChannel
    sms: SmsChannel
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set after a commit that queued notifications: the sender starts at once."""


# -- recipients -------------------------------------------------------------


async def remember_recipient(*, session: AsyncSession, data: dict[str, Any], at: datetime) -> None:
    """Keep (or refresh) our copy of a user's contact details; older news never wins."""
    user_id = uuid.UUID(data["userId"])
    recipients = RecipientRepository(session)
    recipient = await recipients.get(user_id)
    if recipient is None:
        recipient = Recipient(user_id=user_id, updated_at=at)
    elif recipient.deleted_at is not None or recipient.updated_at > at:
        return
    recipient.email = data.get("email")
    recipient.phone = data.get("phone")
    recipient.username = data.get("username")
    recipient.first_name = data.get("firstName")
    recipient.last_name = data.get("lastName")
    recipient.updated_at = at
    await recipients.save(recipient)


async def forget_recipient(*, session: AsyncSession, user_id: uuid.UUID, at: datetime) -> None:
    """Erase a deleted user's contact details, keeping a tombstone so late events are dropped."""
    recipients = RecipientRepository(session)
    recipient = await recipients.get(user_id) or Recipient(user_id=user_id)
    recipient.email = recipient.phone = recipient.first_name = recipient.last_name = None
    recipient.username = None
    recipient.updated_at = at
    recipient.deleted_at = at
    await recipients.save(recipient)


def _name(recipient: Recipient) -> str:
    return recipient.first_name or recipient.username or "there"


# -- queueing ---------------------------------------------------------------


async def notify(
    *,
    rt: NotificationsRuntime,
    session: AsyncSession,
    event_id: uuid.UUID,
    template: str,
    recipient: Recipient,
    context: dict[str, Any],
) -> list[Notification]:
    """Render a template for a recipient and queue its email (and SMS, if it has one)."""
    rendered = rt.renderer.render(template, {"name": _name(recipient), **context})
    now = utcnow()
    queued: list[Notification] = []

    def queue(channel: str, to: str, subject: str | None, body: str, html: str | None) -> None:
        queued.append(
            Notification(
                id=notification_id(event_id, template, channel),
                user_id=recipient.user_id,
                channel=channel,
                to=to,
                template=template,
                subject=subject,
                body=body,
                html=html,
                status="queued",
                attempts=0,
                last_error=None,
                event_id=event_id,
                created_at=now,
                sent_at=None,
                next_attempt_at=now,
            )
        )

    if recipient.email:
        queue("email", recipient.email, rendered.subject, rendered.text, rendered.html)
    if rendered.sms is not None and recipient.phone:
        queue("sms", recipient.phone, None, rendered.sms, None)
    await rt.store.add(session, queued)
    if queued:
        sa.event.listen(session.sync_session, "after_commit", lambda _s: rt.wake.set(), once=True)
    return queued


async def notify_order(
    *,
    rt: NotificationsRuntime,
    session: AsyncSession,
    event_id: uuid.UUID,
    template: str,
    data: dict[str, Any],
) -> list[Notification]:
    """Queue the message for an order outcome or shipment to the order's owner."""
    user_id = uuid.UUID(data["userId"])
    recipient = await RecipientRepository(session).get(user_id)
    if recipient is None:
        # Users and orders are separate streams: the sign-up may simply not be here yet.
        raise RecipientUnknown(f"no contact details for user {user_id} yet")
    if recipient.deleted_at is not None:
        log.info("notification_skipped_deleted_user", user_id=str(user_id), template=template)
        return []
    reason = data.get("reason")
    context = {
        "orderId": data["orderId"],
        "orderRef": str(data["orderId"])[:8].upper(),
        "status": data.get("status"),
        "reason": reason,
        "reasonText": REASONS.get(reason or "", (reason or "").replace("_", " ")),
        "total": data.get("total"),
        "currency": data.get("currency"),
        "items": data.get("items") or [],
    }
    return await notify(
        rt=rt,
        session=session,
        event_id=event_id,
        template=template,
        recipient=recipient,
        context=context,
    )


# -- sending ----------------------------------------------------------------


async def _send_one(rt: NotificationsRuntime, notification: Notification) -> None:
    try:
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
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if notification.attempts >= rt.settings.max_attempts:
            SENDS.labels(notification.channel, "failed").inc()
            log.error("notification_failed", id=str(notification.id), error=error)
            await rt.store.mark_failed(notification.id, error=error)
        else:
            SENDS.labels(notification.channel, "retry").inc()
            delay = rt.settings.retry_delay(notification.attempts)
            log.warning("notification_retry", id=str(notification.id), error=error, delay=delay)
            await rt.store.mark_retry(
                notification.id, error=error, next_attempt_at=utcnow() + timedelta(seconds=delay)
            )
        return
    SENDS.labels(notification.channel, "sent").inc()
    await rt.store.mark_sent(notification.id, at=utcnow())


async def deliver_due(*, rt: NotificationsRuntime) -> int:
    """Send every notification due now; failures wait with exponential backoff."""
    claimed = await rt.store.claim_due(
        now=utcnow(),
        lease=timedelta(seconds=rt.settings.lease_seconds),
        limit=rt.settings.batch_size,
    )
    await asyncio.gather(*(_send_one(rt, n) for n in claimed))
    return len(claimed)


async def run_sender(*, rt: NotificationsRuntime) -> None:
    """Send until cancelled: right after new notifications commit, else every poll."""
    while True:
        rt.wake.clear()
        try:
            sent = await deliver_due(rt=rt)
        except Exception:
            log.exception("notification_sender_failed")
            sent = 0
        if sent >= rt.settings.batch_size:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rt.wake.wait(), timeout=rt.settings.poll_seconds)


# -- reading ----------------------------------------------------------------


async def get(
    *, rt: NotificationsRuntime, notification_id: uuid.UUID, actor: Principal
) -> Notification:
    """One notification: its recipient or an admin; anyone else learns nothing."""
    found = await rt.store.get(notification_id)
    if found is None or not actor.may_access(found.user_id):
        raise NotFound("Notification not found")
    return found


async def get_all(
    *,
    rt: NotificationsRuntime,
    actor: Principal,
    channel: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[Notification]]:
    """A page of notifications, newest first: the caller's own, or everybody's for an admin."""
    return await rt.store.find(
        user_id=None if actor.is_admin else actor.user_id,
        channel=channel,
        offset=offset,
        limit=limit,
    )
