"""The notification service: welcome and order messages by email and SMS, from events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.notifications.api import router
from panthera.services.notifications.channels import (
    EmailChannel,
    HttpSmsChannel,
    LogFileSmsChannel,
    MaildirEmailChannel,
    SmsChannel,
    SmtpEmailChannel,
)
from panthera.services.notifications.handlers import HANDLERS
from panthera.services.notifications.metrics import NOTIFICATIONS
from panthera.services.notifications.models import inbox
from panthera.services.notifications.rendering import Renderer
from panthera.services.notifications.repository import NotificationsTx, SqlNotificationStore
from panthera.services.notifications.sender import run_sender
from panthera.services.notifications.service import NotificationsRuntime
from panthera.services.notifications.settings import NotificationsSettings


@asynccontextmanager
async def runtime(host: ServiceHost[NotificationsRuntime]) -> AsyncIterator[NotificationsRuntime]:
    """The channels chosen by configuration, the store, and the sender while the host runs."""
    settings = host.service_settings
    assert isinstance(settings, NotificationsSettings)
    platform = host.settings
    smtp_url = settings.smtp_url or platform.smtp_url
    email: EmailChannel = (
        SmtpEmailChannel(smtp_url, sender=settings.mail_from, timeout=settings.send_timeout_seconds)
        if smtp_url
        else MaildirEmailChannel(platform.data_dir / "mail", sender=settings.mail_from)
    )
    sms: SmsChannel = (
        HttpSmsChannel(
            settings.sms_provider_url,
            token=settings.sms_provider_token,
            timeout=settings.send_timeout_seconds,
        )
        if settings.sms_provider_url
        else LogFileSmsChannel(platform.data_dir / "sms.log")
    )
    rt = NotificationsRuntime(
        uow=host.uow,
        settings=settings,
        store=SqlNotificationStore(host.uow),
        renderer=Renderer(),
        email=email,
        sms=sms,
    )
    sender = None
    if settings.sender_enabled:
        sender = asyncio.create_task(run_sender(rt=rt), name="notification-sender")
    try:
        yield rt
    finally:
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


spec: ServiceSpec[NotificationsRuntime] = ServiceSpec(
    name="notifications",
    title="Notification Service API",
    description="Messages to users (email, SMS) caused by sign-ups and order events.",
    router=router,
    migrations=Path(__file__).parent / "migrations",
    settings_type=NotificationsSettings,
    route_prefixes=("/v1/notifications",),
    runtime=runtime,
    transaction=NotificationsTx,
    handlers=HANDLERS,
    metrics=NOTIFICATIONS,
    inbox=inbox,
    tags=({"name": "Notifications", "description": "Messages sent to users"},),
)
