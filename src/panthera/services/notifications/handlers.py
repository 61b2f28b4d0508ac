"""Events the notification service consumes (catalogue: docs/events.md); it publishes none.

Each handler runs in the consumer's unit of work, with the event's inbox row: what
it queues commits with it, or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping

from panthera.contracts import EventContract
from panthera.contracts.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderEvent,
    OrderRejected,
    OrderShipped,
)
from panthera.contracts.users import UserDeleted, UserRegistered, UserUpdated
from panthera.kernel.consumer import Handler
from panthera.kernel.events import Received
from panthera.services.notifications import service
from panthera.services.notifications.repository import NotificationsTx
from panthera.services.notifications.service import NotificationsRuntime

ORDER_TEMPLATES: dict[type[OrderEvent], str] = {
    OrderConfirmed: "order_confirmed",
    OrderRejected: "order_rejected",
    OrderCancelled: "order_cancelled",
    OrderShipped: "order_shipped",
}
"""The message each order event sends."""


async def on_user_registered(
    received: Received[UserRegistered], tx: NotificationsTx, rt: NotificationsRuntime
) -> None:
    await service.welcome(
        tx=tx, rt=rt, event_id=received.id, user=received.data, at=received.occurred_at
    )


async def on_user_updated(
    received: Received[UserUpdated], tx: NotificationsTx, rt: NotificationsRuntime
) -> None:
    await service.remember_recipient(tx=tx, profile=received.data, at=received.occurred_at)


async def on_user_deleted(
    received: Received[UserDeleted], tx: NotificationsTx, rt: NotificationsRuntime
) -> None:
    await service.forget_recipient(tx=tx, user_id=received.data.user_id, at=received.occurred_at)


async def on_order_event(
    received: Received[OrderEvent], tx: NotificationsTx, rt: NotificationsRuntime
) -> None:
    await service.notify_order(
        tx=tx,
        rt=rt,
        event_id=received.id,
        template=ORDER_TEMPLATES[type(received.data)],
        order=received.data,
    )


HANDLERS: Mapping[type[EventContract], Handler] = {
    UserRegistered: on_user_registered,
    UserUpdated: on_user_updated,
    UserDeleted: on_user_deleted,
    **{contract: on_order_event for contract in ORDER_TEMPLATES},
}
