"""The notification service: welcome and order messages by email and SMS, from events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from panthera.kernel.service import ServiceHost, ServiceSpec
from panthera.kernel.startup import wait_until_available
from panthera.kernel.wakeup import stop_loop
from panthera.services.notifications.api import router
from panthera.services.notifications.channels import (
    EmailChannel,
    HttpSmsChannel,
    LogFileSmsChannel,
    MaildirEmailChannel,
    SmsChannel,
    SmtpEmailChannel,
)
from panthera.services.notifications.dynamodb import DynamoNotificationStore
from panthera.services.notifications.dynamodb_table import create_table, dynamodb_client
from panthera.services.notifications.handlers import HANDLERS
from panthera.services.notifications.metrics import NOTIFICATIONS
from panthera.services.notifications.models import inbox
from panthera.services.notifications.rendering import Renderer
from panthera.services.notifications.repository import NotificationsTx, SqlNotificationStore
from panthera.services.notifications.sender import run_sender
from panthera.services.notifications.service import NotificationsRuntime
from panthera.services.notifications.settings import NotificationsSettings
from panthera.services.notifications.store import NotificationStore


async def open_store(
    host: ServiceHost[NotificationsRuntime], settings: NotificationsSettings, stack: AsyncExitStack
) -> NotificationStore:
    """The store the settings choose; a DynamoDB client lives as long as `stack`."""
    if settings.store == "sql":
        return SqlNotificationStore(host.uow)
    client = await stack.enter_async_context(dynamodb_client(settings))
    store = DynamoNotificationStore(client, settings.dynamodb_table)

    async def table_ready() -> None:
        if settings.dynamodb_create_table:
            await create_table(client, store.table)
        try:
            await store.ping()
        except client.exceptions.ResourceNotFoundException as exc:
            raise LookupError(
                f"DynamoDB table {store.table} does not exist: create it with `panthera "
                "notifications create-table`, or set PANTHERA_NOTIFICATIONS__DYNAMODB_CREATE_TABLE"
                "=true"
            ) from exc

    # As for the database: a missing table or an unreachable DynamoDB is waited for, said
    # in the log, and then stops the start (not the first send).
    await wait_until_available(
        "dynamodb", table_ready, service="notifications", within=host.settings.startup_wait_seconds
    )
    return store


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
    async with AsyncExitStack() as stack:
        rt = NotificationsRuntime(
            uow=host.uow,
            settings=settings,
            store=await open_store(host, settings, stack),
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
                await stop_loop(sender)


async def readiness(rt: NotificationsRuntime) -> None:
    """The store, when it lives outside the service's database (DynamoDB)."""
    if isinstance(rt.store, DynamoNotificationStore):
        await rt.store.ping()


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
    readiness=readiness,
    tags=({"name": "Notifications", "description": "Messages sent to users"},),
)
