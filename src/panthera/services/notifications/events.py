"""Events the notification service consumes (catalogue: docs/events.md); it publishes none."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.events import Event
from panthera.services.notifications import service
from panthera.services.notifications.models import Recipient
from panthera.services.notifications.service import NotificationsRuntime

USER_REGISTERED = "users.user.registered"
USER_UPDATED = "users.user.updated"
USER_DELETED = "users.user.deleted"
ORDER_CONFIRMED = "orders.order.confirmed"
ORDER_REJECTED = "orders.order.rejected"
ORDER_CANCELLED = "orders.order.cancelled"
ORDER_SHIPPED = "orders.order.shipped"


async def on_user_registered(event: Event, session: AsyncSession, rt: NotificationsRuntime) -> None:
    await service.remember_recipient(session=session, data=event.data, at=event.occurredAt)
    data = event.data
    recipient = Recipient(
        user_id=uuid.UUID(data["userId"]),
        email=data.get("email"),
        phone=data.get("phone"),
        username=data.get("username"),
        first_name=data.get("firstName"),
        last_name=data.get("lastName"),
    )
    # The welcome goes to the address the user signed up with, whatever came since.
    await service.notify(
        rt=rt,
        session=session,
        event_id=event.id,
        template="welcome",
        recipient=recipient,
        context={"username": data.get("username") or "", "email": data.get("email") or ""},
    )


async def on_user_updated(event: Event, session: AsyncSession, rt: NotificationsRuntime) -> None:
    await service.remember_recipient(session=session, data=event.data, at=event.occurredAt)


async def on_user_deleted(event: Event, session: AsyncSession, rt: NotificationsRuntime) -> None:
    await service.forget_recipient(
        session=session, user_id=uuid.UUID(event.data["userId"]), at=event.occurredAt
    )


def _order_handler(template: str) -> Any:
    async def on_order_event(event: Event, session: AsyncSession, rt: NotificationsRuntime) -> None:
        await service.notify_order(
            rt=rt, session=session, event_id=event.id, template=template, data=event.data
        )

    on_order_event.__name__ = f"on_{template}"
    return on_order_event


HANDLERS: dict[str, Any] = {
    USER_REGISTERED: on_user_registered,
    USER_UPDATED: on_user_updated,
    USER_DELETED: on_user_deleted,
    ORDER_CONFIRMED: _order_handler("order_confirmed"),
    ORDER_REJECTED: _order_handler("order_rejected"),
    ORDER_CANCELLED: _order_handler("order_cancelled"),
    ORDER_SHIPPED: _order_handler("order_shipped"),
}
