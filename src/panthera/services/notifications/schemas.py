"""Response bodies of the notifications API (../shared/API.md "Notifications")."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from panthera.kernel.schemas import ApiModel
from panthera.services.notifications.store import Channel, Status


class NotificationRead(ApiModel):
    """A message sent (or being sent) to a user."""

    id: uuid.UUID
    user_id: uuid.UUID
    channel: Channel
    to: str
    template: str = Field(examples=["welcome", "order_confirmed"])
    subject: str | None = None
    body: str = Field(description="The plain-text body (SMS text for `sms`).")
    status: Status
    attempts: int
    created_at: datetime
    sent_at: datetime | None = None
    event: uuid.UUID = Field(
        validation_alias="event_id", description="The id of the event that caused it."
    )


class NotificationList(ApiModel):
    total: int
    page: int
    limit: int
    notifications: list[NotificationRead]
