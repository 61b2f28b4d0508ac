"""Queued notifications as the service makes them, for tests and the store benchmark."""

from __future__ import annotations

import uuid
from datetime import datetime

from panthera.kernel.database import utcnow
from panthera.services.notifications.store import Channel, Notification, notification_id


def queued(
    user_id: uuid.UUID,
    *,
    template: str = "welcome",
    channel: Channel = "email",
    event_id: uuid.UUID | None = None,
    at: datetime | None = None,
    body: str = "Hello there",
) -> Notification:
    """A notification due now (or at `at`), never tried, caused by `event_id` (or a new one)."""
    event_id, now = event_id or uuid.uuid4(), at or utcnow()
    email = channel == "email"
    return Notification(
        id=notification_id(event_id, template, channel),
        user_id=user_id,
        channel=channel,
        to="someone@example.com" if email else "+15551234567",
        template=template,
        subject="Hello" if email else None,
        body=body,
        html=f"<p>{body}</p>" if email else None,
        status="queued",
        attempts=0,
        last_error=None,
        event_id=event_id,
        created_at=now,
        sent_at=None,
        next_attempt_at=now,
    )
