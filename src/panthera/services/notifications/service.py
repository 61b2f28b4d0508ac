"""Use cases of the notification service: keep recipients, queue messages, send them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from panthera.contracts.orders import OrderEvent, OrderReason
from panthera.contracts.users import UserProfile, UserRegistered
from panthera.kernel import tracing
from panthera.kernel.auth.principals import Principal
from panthera.kernel.database import utcnow
from panthera.kernel.errors import NotFound
from panthera.services.notifications.channels import EmailChannel, SmsChannel
from panthera.services.notifications.models import Recipient
from panthera.services.notifications.rendering import Renderer
from panthera.services.notifications.repository import NotificationsTx, NotificationsUoW
from panthera.services.notifications.settings import NotificationsSettings
from panthera.services.notifications.store import (
    Channel,
    Notification,
    NotificationStore,
    notification_id,
)

log = structlog.get_logger("panthera.notifications")

GENERIC_REASONS: dict[OrderReason, str] = {
    OrderReason.OUT_OF_STOCK: "Some items are out of stock.",
    OrderReason.UNKNOWN_PRODUCT: "Some items are no longer sold.",
    OrderReason.INVALID_ORDER: "The order could not be accepted as it was.",
    OrderReason.PAYMENT_DECLINED: "The payment was declined.",
    OrderReason.EXPIRED: "It could not be completed in time.",
    OrderReason.CANCELLED_BY_CUSTOMER: "It was cancelled at your request.",
    OrderReason.CANCELLED_BY_ADMIN: "It was cancelled by our team.",
}
"""What an email says when an order event carries a reason code but no `reasonText`."""


class RecipientUnknown(Exception):
    """An event about a user whose users.user.registered we have not seen yet: retry later."""


@dataclass(frozen=True)
class NotificationsRuntime:
    """The collaborators the use cases need, built once when the service starts."""

    uow: NotificationsUoW
    settings: NotificationsSettings
    store: NotificationStore
    renderer: Renderer
    email: EmailChannel
    sms: SmsChannel
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set after a commit that queued notifications: the sender starts at once."""
    clock: Callable[[], datetime] = utcnow
    """Now, for queueing and backoff; unit tests move it by hand."""


# -- recipients -------------------------------------------------------------


async def remember_recipient(
    *, tx: NotificationsTx, profile: UserProfile, at: datetime
) -> Recipient:
    """Keep (or refresh) our copy of a user's contact details, as of `at`.

    Older news never wins (events of one user may arrive out of order), and a
    deleted user stays deleted. Returns the copy as it now stands.
    """
    recipient = await tx.recipients.get(profile.user_id)
    if recipient is None:
        recipient = Recipient(user_id=profile.user_id, deleted_at=None)
    elif recipient.deleted_at is not None or recipient.updated_at > at:
        return recipient
    recipient.email = profile.email
    recipient.phone = profile.phone
    recipient.username = profile.username
    recipient.first_name = profile.first_name
    recipient.last_name = profile.last_name
    recipient.updated_at = at
    await tx.recipients.save(recipient)
    return recipient


async def forget_recipient(*, tx: NotificationsTx, user_id: uuid.UUID, at: datetime) -> None:
    """Erase a deleted user's contact details, keeping a tombstone so late events are dropped."""
    recipient = await tx.recipients.get(user_id) or Recipient(user_id=user_id)
    recipient.email = recipient.phone = recipient.first_name = recipient.last_name = None
    recipient.username = None
    recipient.updated_at = at
    recipient.deleted_at = at
    await tx.recipients.save(recipient)


def _name(recipient: Recipient) -> str:
    return recipient.first_name or recipient.username or "there"


# -- queueing ---------------------------------------------------------------


async def notify(
    *,
    tx: NotificationsTx,
    rt: NotificationsRuntime,
    event_id: uuid.UUID,
    template: str,
    recipient: Recipient,
    context: dict[str, Any],
) -> list[Notification]:
    """Render a template for a recipient and queue its email (and SMS, if it has one)."""
    rendered = rt.renderer.render(template, {"name": _name(recipient), **context})
    now = rt.clock()

    def queued(
        channel: Channel, to: str, subject: str | None, body: str, html: str | None
    ) -> Notification:
        return Notification(
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
            trace_context=tracing.current_context(),
        )

    messages: list[Notification] = []
    if recipient.email:
        messages.append(
            queued("email", recipient.email, rendered.subject, rendered.text, rendered.html)
        )
    if rendered.sms is not None and recipient.phone:
        messages.append(queued("sms", recipient.phone, None, rendered.sms, None))
    if messages:
        await rt.store.add(tx, messages)
        tx.after_commit(rt.wake.set)
    return messages


async def welcome(
    *,
    tx: NotificationsTx,
    rt: NotificationsRuntime,
    event_id: uuid.UUID,
    user: UserRegistered,
    at: datetime,
) -> list[Notification]:
    """Keep a new user's contact details and welcome them where they signed up."""
    kept = await remember_recipient(tx=tx, profile=user, at=at)
    if kept.deleted_at is not None:
        # The account was deleted before its sign-up reached us: nobody to welcome.
        log.info("notification_skipped_deleted_user", user_id=str(user.user_id), template="welcome")
        return []
    # The address signed up with, whatever changes arrived before this event.
    signed_up = Recipient(
        user_id=user.user_id,
        email=user.email,
        phone=user.phone,
        username=user.username,
        first_name=user.first_name,
        last_name=user.last_name,
    )
    return await notify(
        tx=tx,
        rt=rt,
        event_id=event_id,
        template="welcome",
        recipient=signed_up,
        context={"username": user.username, "email": user.email},
    )


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def reason_text(order: OrderEvent) -> str | None:
    """Why the order ended as it did, for a person; None when there is nothing to say.

    The orders service writes the sentence (`reasonText`, e.g. "Sorry, Trail running
    shoe is out of stock"); an event without one gets a generic sentence for its code.
    Never the code itself, nor a product id.
    """
    if order.reason_text and order.reason_text.strip():
        return _sentence(order.reason_text)
    if order.reason is not None:
        return GENERIC_REASONS.get(order.reason)
    return None


async def notify_order(
    *,
    tx: NotificationsTx,
    rt: NotificationsRuntime,
    event_id: uuid.UUID,
    template: str,
    order: OrderEvent,
) -> list[Notification]:
    """Queue the message for an order outcome or shipment to the order's owner."""
    recipient = await tx.recipients.get(order.user_id)
    if recipient is None:
        # Users and orders are separate streams: the sign-up may simply not be here yet.
        raise RecipientUnknown(f"no contact details for user {order.user_id} yet")
    if recipient.deleted_at is not None:
        log.info("notification_skipped_deleted_user", user_id=str(order.user_id), template=template)
        return []
    context = {
        "orderRef": str(order.order_id)[:8].upper(),
        "reasonText": reason_text(order),
        "total": order.total,
        "currency": order.currency,
        "items": order.items,
    }
    return await notify(
        tx=tx, rt=rt, event_id=event_id, template=template, recipient=recipient, context=context
    )


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
    channel: Channel | None,
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
