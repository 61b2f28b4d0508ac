"""HTTP routes of the notification service: parse, call a use case, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from panthera.kernel.auth.dependencies import CurrentPrincipal
from panthera.kernel.errors import responses
from panthera.kernel.pagination import PageParams
from panthera.kernel.service import runtime_of
from panthera.services.notifications import service
from panthera.services.notifications.schemas import NotificationList, NotificationRead
from panthera.services.notifications.service import NotificationsRuntime
from panthera.services.notifications.store import Channel

Runtime = Annotated[NotificationsRuntime, Depends(runtime_of)]
NotificationId = Annotated[
    uuid.UUID, Path(alias="notificationId", description="ID of the notification")
]

router = APIRouter(prefix="/notifications", tags=["Notifications"])


@router.get(
    "",
    response_model=NotificationList,
    summary="List notifications",
    responses=responses(400, 401),
)
async def list_notifications(
    rt: Runtime,
    actor: CurrentPrincipal,
    page: PageParams,
    channel: Annotated[Channel | None, Query(description="Only this channel")] = None,
) -> NotificationList:
    """The caller's notifications, newest first; an admin sees everybody's."""
    total, found = await service.get_all(
        rt=rt, actor=actor, channel=channel, offset=page.offset, limit=page.limit
    )
    return NotificationList(
        total=total,
        page=page.page,
        limit=page.limit,
        notifications=[NotificationRead.model_validate(n) for n in found],
    )


@router.get(
    "/{notificationId}",
    response_model=NotificationRead,
    summary="Get a notification by ID",
    responses=responses(400, 401, 404),
)
async def get_notification(
    rt: Runtime, notification_id: NotificationId, actor: CurrentPrincipal
) -> NotificationRead:
    """One notification: its recipient or an admin (404 for anyone else)."""
    return NotificationRead.model_validate(
        await service.get(rt=rt, notification_id=notification_id, actor=actor)
    )
