"""The notification service on real channels: an SMTP server, order events, retries, recipients."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from panthera.app import Platform, create_platform
from panthera.contracts.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderEvent,
    OrderItem,
    OrderReason,
    OrderRejected,
    OrderShipped,
    OrderStatus,
    PaymentStatus,
)
from panthera.contracts.users import UserRegistered
from panthera.kernel.bus.inprocess import InProcessBus
from panthera.kernel.events import Event
from panthera.kernel.service import ServiceSettings
from panthera.kernel.settings import Settings
from panthera.services.notifications.dynamodb import DynamoNotificationStore
from panthera.services.notifications.models import Recipient
from panthera.services.notifications.rendering import money
from panthera.services.notifications.repository import SqlNotificationStore
from panthera.services.notifications.settings import NotificationsSettings
from panthera.testing.ports import free_port
from tests.conftest import Account, assert_problem, eventually, fast_service_settings, sign_up
from tests.services.notifications.smtp import Sink, smtp_server


@pytest.fixture
def smtp() -> Iterator[tuple[str, Sink]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def service_settings(smtp: tuple[str, Sink], notification_store: str) -> dict[str, ServiceSettings]:
    options = fast_service_settings()
    base = options["notifications"]
    assert isinstance(base, NotificationsSettings)
    options["notifications"] = base.model_copy(update={"smtp_url": smtp[0]})
    return options


LAMP, BULB = uuid.uuid4(), uuid.uuid4()


def order_event(user_id: str, contract: type[OrderEvent], **fields: Any) -> Event:
    """An order event as the orders service publishes it."""
    return Event.of(
        contract(
            order_id=uuid.uuid4(),
            user_id=uuid.UUID(user_id),
            status=OrderStatus(contract.TYPE.rsplit(".", 1)[1]),
            total=2599,
            currency="EUR",
            payment_status=PaymentStatus.CAPTURED,
            items=[
                OrderItem(
                    product_id=LAMP, sku="LAMP", name="Desk lamp", quantity=2, unit_price=1000
                ),
                OrderItem(product_id=BULB, sku="BULB", name="Bulb", quantity=1, unit_price=599),
            ],
            **fields,
        )
    )


async def all_sent(
    client: httpx.AsyncClient, account: Account, count: int, *, user_id: str | None = None
) -> list[Any]:
    """The notifications `account` sees (only `user_id`'s, if given), once `count` are sent."""
    response = await client.get("/v1/notifications", headers=account.headers)
    items: list[dict[str, Any]] = [
        n for n in response.json()["notifications"] if user_id in (None, n["userId"])
    ]
    done = len(items) == count and all(n["status"] == "sent" for n in items)
    return items if done else []


async def test_welcome_goes_to_a_real_smtp_server(
    client: httpx.AsyncClient, smtp: tuple[str, Sink]
) -> None:
    alice = await sign_up(client, "alice", firstName="Alice")
    await eventually(lambda: all_sent(client, alice, 1))
    [message] = smtp[1].received()
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Welcome to PantheraConnect, Alice"
    assert message.is_multipart()


@pytest.mark.parametrize(
    ("contract", "template", "extra", "expect", "sms"),
    [
        (OrderConfirmed, "order_confirmed", {}, "25.99 EUR", True),
        (
            OrderRejected,
            "order_rejected",
            {
                "reason": OrderReason.OUT_OF_STOCK,
                "reason_text": "Sorry, Desk lamp is out of stock",
            },
            "could not place your order",
            True,
        ),
        (
            OrderRejected,
            "order_rejected",
            {"reason": OrderReason.PAYMENT_DECLINED},
            "The payment was declined.",
            True,
        ),
        (
            OrderCancelled,
            "order_cancelled",
            {"reason": OrderReason.CANCELLED_BY_CUSTOMER},
            "refunded",
            False,
        ),
        (OrderShipped, "order_shipped", {}, "has shipped", True),
    ],
)
async def test_order_events_send_their_messages(
    client: httpx.AsyncClient,
    platform: Platform,
    smtp: tuple[str, Sink],
    contract: type[OrderEvent],
    template: str,
    extra: dict[str, Any],
    expect: str,
    sms: bool,
) -> None:
    bob = await sign_up(client, "bob", firstName="Bob", phone="+15551234567")
    await eventually(lambda: all_sent(client, bob, 1))
    event = order_event(bob.id, contract, **extra)
    host = platform.hosts["notifications"]
    await host.bus.publish(event)
    # A redelivery of the same event changes nothing.
    await host.bus.publish(event)

    count = 3 if sms else 2
    found = await eventually(lambda: all_sent(client, bob, count))
    mine = [n for n in found if n["event"] == str(event.id)]
    assert {n["channel"] for n in mine} == ({"email", "sms"} if sms else {"email"})
    email = next(n for n in mine if n["channel"] == "email")
    assert email["template"] == template
    assert expect in email["body"]
    assert "Desk lamp" in email["body"]
    if "reason_text" in extra:
        assert "Sorry, Desk lamp is out of stock." in email["body"]
    # People read sentences: never a reason code, never a product id.
    for notification in mine:
        for leak in ("_", str(LAMP), str(BULB)):
            assert leak not in notification["body"]
    if sms:
        text = next(n for n in mine if n["channel"] == "sms")
        assert text["to"] == "+15551234567"
        lines = (Path(host.settings.data_dir) / "sms.log").read_text().splitlines()
        assert json.loads(lines[-1])["body"] == text["body"]
    received = smtp[1].by_notification()
    assert received[email["id"]] == 1
    assert len(received) == 2


async def test_an_order_event_for_an_unknown_user_is_retried_then_dead_lettered(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    early = order_event(str(uuid.uuid4()), OrderShipped)
    host = platform.hosts["notifications"]
    # No users.user.registered ever came: retried max_deliver times, then dead-lettered.
    await host.bus.publish(early)
    assert isinstance(host.bus, InProcessBus)
    assert [(c, e.id) for c, e, _ in host.bus.dead_letters] == [("notifications", early.id)]


async def recipient(platform: Platform, user_id: str) -> Recipient | None:
    async with platform.hosts["notifications"].uow.read() as tx:
        found: Recipient | None = await tx.recipients.get(uuid.UUID(user_id))
        return found


async def test_contact_details_follow_user_events(
    client: httpx.AsyncClient, platform: Platform, admin: Account
) -> None:
    carol = await sign_up(client, "carol")
    await eventually(lambda: all_sent(client, carol, 1))
    changed = await client.put(
        f"/v1/users/{carol.id}", headers=carol.headers, json={"email": "carol@new.example"}
    )
    assert changed.status_code == 200

    async def updated() -> bool:
        row = await recipient(platform, carol.id)
        return row is not None and row.email == "carol@new.example"

    await eventually(updated)
    bus = platform.hosts["notifications"].bus
    await bus.publish(order_event(carol.id, OrderConfirmed))
    items = await eventually(lambda: all_sent(client, carol, 2))
    [confirmed] = [n for n in items if n["template"] == "order_confirmed"]
    assert confirmed["to"] == "carol@new.example"

    assert (await client.delete(f"/v1/users/{carol.id}", headers=carol.headers)).status_code == 204

    async def erased() -> bool:
        row = await recipient(platform, carol.id)
        return row is not None and row.deleted_at is not None and row.email is None

    await eventually(erased)
    # A late order event for a deleted user is handled and sends nothing.
    late = order_event(carol.id, OrderShipped)
    await bus.publish(late)
    # Carol's token died with her account (issue 10): the shop's staff look instead.
    assert (await client.get("/v1/notifications", headers=carol.headers)).status_code == 401
    assert await all_sent(client, admin, 2, user_id=carol.id)
    assert isinstance(bus, InProcessBus)  # the embedded bus keeps its dead letters
    assert list(bus.dead_letters) == []


class TestRetries:
    @pytest.fixture
    def service_settings(self, notification_store: str) -> dict[str, ServiceSettings]:
        options = fast_service_settings()
        base = options["notifications"]
        assert isinstance(base, NotificationsSettings)
        # Nothing listens on this port: every send fails for real.
        dead = f"smtp://127.0.0.1:{free_port()}"
        options["notifications"] = base.model_copy(
            update={"smtp_url": dead, "send_timeout_seconds": 2}
        )
        return options

    async def test_a_send_that_keeps_failing_ends_failed_with_its_last_error(
        self, client: httpx.AsyncClient, platform: Platform
    ) -> None:
        dave = await sign_up(client, "dave")

        async def failed() -> list[Any]:
            response = await client.get("/v1/notifications", headers=dave.headers)
            items = response.json()["notifications"]
            return [n for n in items if n["status"] == "failed"]

        [notification] = await eventually(failed)
        assert notification["attempts"] == 3
        assert notification["sentAt"] is None
        store = platform.hosts["notifications"].runtime.store
        stored = await store.get(uuid.UUID(notification["id"]))
        assert stored is not None
        assert stored.last_error and "Connect" in stored.last_error


def test_money_uses_the_currency_minor_unit() -> None:
    assert money(2599, "EUR") == "25.99 EUR"
    assert money(1500, "JPY") == "1,500 JPY"
    assert money(12345, "KWD") == "12.345 KWD"


async def test_standalone_settings_default_to_a_maildir(tmp_path: Path) -> None:
    platform = create_platform(
        Settings(data_dir=tmp_path / "d"),
        services=["notifications"],
        service_settings=fast_service_settings(),
    )
    async with platform.running():
        rt = platform.hosts["notifications"].runtime
        assert type(rt.email).__name__ == "MaildirEmailChannel"
        assert type(rt.sms).__name__ == "LogFileSmsChannel"


async def test_the_store_is_the_one_the_settings_name(
    platform: Platform, notification_store: str
) -> None:
    store = platform.hosts["notifications"].runtime.store
    expected = {"sql": SqlNotificationStore, "dynamodb": DynamoNotificationStore}
    assert type(store) is expected[notification_store]


async def test_readiness_covers_the_store(
    client: httpx.AsyncClient, platform: Platform, notification_store: str
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    store = platform.hosts["notifications"].runtime.store
    if isinstance(store, DynamoNotificationStore):
        await store.client.delete_table(TableName=store.table)
        body = assert_problem(await client.get("/readyz"), 503)
        assert "ResourceNotFoundException" in body["checks"]["notifications"]


async def test_replicas_handling_one_event_at_once_queue_its_messages_once(
    settings: Settings, notification_store: str
) -> None:
    # Two replicas of the service on the same database and store, as `--replicas
    # notifications=2` runs them; the bus may hand both the same event (a redelivery
    # racing the first delivery).
    options = fast_service_settings()
    options["notifications"] = NotificationsSettings(sender_enabled=False)
    replicas = [
        create_platform(settings, services=["notifications"], service_settings=options)
        for _ in range(2)
    ]
    user = UserRegistered(
        user_id=uuid.uuid4(),
        username="rita",
        email="rita@example.com",
        phone="+15557654321",
        role="customer",
    )
    async with replicas[0].running(), replicas[1].running():
        hosts = [replica.hosts["notifications"] for replica in replicas]
        consumers = [c for host in hosts if (c := host.consumer) is not None]
        assert len(consumers) == 2
        await consumers[0].handle(Event.of(user))
        confirmed = order_event(str(user.user_id), OrderConfirmed)
        for _ in range(3):
            await asyncio.gather(*(c.handle(confirmed) for c in consumers for _ in range(2)))
        store = hosts[0].runtime.store
        total, found = await store.find(user_id=user.user_id, channel=None, offset=0, limit=10)
    mine = sorted((n.template, n.channel) for n in found if n.event_id == confirmed.id)
    assert mine == [("order_confirmed", "email"), ("order_confirmed", "sms")]
    assert total == 3  # and the welcome email
