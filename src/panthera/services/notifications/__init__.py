"""The notification service: welcome and order messages by email and SMS, from events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.services.notifications import service
from panthera.services.notifications.api import router
from panthera.services.notifications.channels import (
    EmailChannel,
    HttpSmsChannel,
    LogFileSmsChannel,
    MaildirEmailChannel,
    SmsChannel,
    SmtpEmailChannel,
)
from panthera.services.notifications.events import HANDLERS
from panthera.services.notifications.models import inbox
from panthera.services.notifications.rendering import Renderer
from panthera.services.notifications.repository import SqlNotificationStore
from panthera.services.notifications.settings import NotificationsSettings


def build_runtime(host: ServiceHost[Any]) -> service.NotificationsRuntime:
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
    return service.NotificationsRuntime(
        db=host.db,
        settings=settings,
        store=SqlNotificationStore(host.db),
        renderer=Renderer(),
        email=email,
        sms=sms,
    )


@asynccontextmanager
async def lifespan(host: ServiceHost[Any]) -> AsyncIterator[None]:
    runtime = build_runtime(host)
    host.runtime = runtime
    sender = None
    if runtime.settings.sender_enabled:
        sender = asyncio.create_task(service.run_sender(rt=runtime), name="notification-sender")
    try:
        yield
    finally:
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


spec: ServiceSpec[Any] = ServiceSpec(
    name="notifications",
    title="Notification Service API",
    description="Messages to users (email, SMS) caused by sign-ups and order events.",
    router=router,
    migrations=Path(__file__).parent / "migrations",
    settings_type=NotificationsSettings,
    route_prefixes=("/v1/notifications",),
    lifespan=lifespan,
    handlers=HANDLERS,
    inbox=inbox,
    tags=({"name": "Notifications", "description": "Messages sent to users"},),
)
