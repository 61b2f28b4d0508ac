"""The notification service's handlers and use cases on fakes: no database, no network."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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
from panthera.contracts.users import UserDeleted, UserRegistered, UserUpdated
from panthera.services.notifications.handlers import HANDLERS, ORDER_TEMPLATES
from panthera.services.notifications.service import GENERIC_REASONS, RecipientUnknown
from panthera.services.notifications.store import notification_id
from tests.services.notifications.fakes import Harness, harness

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SHOE = uuid.UUID("5b0e6c0e-8f7a-4a51-9a0e-3c1f2f1d7e10")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def registered(user_id: uuid.UUID, **fields: Any) -> UserRegistered:
    values: dict[str, Any] = {
        "user_id": user_id,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "role": "customer",
        **fields,
    }
    return UserRegistered(**values)


def updated(user_id: uuid.UUID, **fields: Any) -> UserUpdated:
    return UserUpdated(**registered(user_id, **fields).model_dump())


def order(contract: type[OrderEvent], user_id: uuid.UUID, **fields: Any) -> OrderEvent:
    status = OrderStatus(contract.TYPE.rsplit(".", 1)[1])
    values: dict[str, Any] = {
        "order_id": uuid.uuid4(),
        "user_id": user_id,
        "status": status,
        "total": 12999,
        "currency": "EUR",
        "payment_status": PaymentStatus.CAPTURED,
        "items": [
            OrderItem(
                product_id=SHOE,
                sku="TRAIL-42",
                name="Trail running shoe",
                quantity=1,
                unit_price=12999,
            )
        ],
        **fields,
    }
    return contract(**values)


async def signed_up(h: Harness, **fields: Any) -> uuid.UUID:
    user_id = uuid.uuid4()
    await h.deliver(registered(user_id, **fields), at=at(0))
    return user_id


def test_every_consumed_contract_has_a_handler() -> None:
    assert set(HANDLERS) == {
        UserRegistered,
        UserUpdated,
        UserDeleted,
        OrderConfirmed,
        OrderRejected,
        OrderCancelled,
        OrderShipped,
    }
    assert set(ORDER_TEMPLATES.values()) == {
        "order_confirmed",
        "order_rejected",
        "order_cancelled",
        "order_shipped",
    }


async def test_sign_up_queues_one_welcome_email_and_wakes_the_sender() -> None:
    h = harness()
    event_id = (await h.deliver(registered(uuid.uuid4(), phone="+15551234567"), at=at(0))).id
    [welcome] = h.store.items.values()
    # The welcome has no SMS version: a phone number adds nothing.
    assert (welcome.channel, welcome.template, welcome.to) == (
        "email",
        "welcome",
        "alice@example.com",
    )
    assert welcome.subject == "Welcome to PantheraConnect, Alice"
    assert (welcome.status, welcome.attempts, welcome.event_id) == ("queued", 0, event_id)
    assert welcome.id == notification_id(event_id, "welcome", "email")
    assert h.rt.wake.is_set()


@pytest.mark.parametrize(
    ("phone", "template", "channels"),
    [
        ("+15551234567", "order_confirmed", {"email", "sms"}),
        (None, "order_confirmed", {"email"}),
        ("+15551234567", "order_cancelled", {"email"}),  # no SMS version
        ("+15551234567", "order_shipped", {"email", "sms"}),
    ],
)
async def test_order_messages_go_to_the_channels_the_recipient_has(
    phone: str | None, template: str, channels: set[str]
) -> None:
    h = harness()
    user_id = await signed_up(h, phone=phone)
    contract = next(c for c, name in ORDER_TEMPLATES.items() if name == template)
    event = await h.deliver(order(contract, user_id), at=at(1))
    mine = [n for n in h.store.items.values() if n.event_id == event.id]
    assert {n.channel for n in mine} == channels
    assert {n.template for n in mine} == {template}
    sms = [n for n in mine if n.channel == "sms"]
    assert all(n.to == phone and n.subject is None and n.html is None for n in sms)


async def test_a_redelivered_event_names_the_same_notifications() -> None:
    h = harness()
    user_id = await signed_up(h, phone="+15551234567")
    event = await h.deliver(order(OrderConfirmed, user_id), at=at(1))
    before = dict(h.store.items)
    await h.redeliver(event)
    assert h.store.items == before


async def test_newer_contact_details_win_whatever_the_order_of_arrival() -> None:
    h = harness()
    user_id = await signed_up(h)
    await h.deliver(updated(user_id, email="new@example.com"), at=at(10))
    # An older change arriving late is ignored.
    await h.deliver(updated(user_id, email="old@example.com", first_name="Old"), at=at(5))
    kept = h.recipients.rows[user_id]
    assert (kept.email, kept.first_name, kept.updated_at) == ("new@example.com", "Alice", at(10))
    event = await h.deliver(order(OrderShipped, user_id), at=at(11))
    [shipped] = [n for n in h.store.items.values() if n.event_id == event.id]
    assert shipped.to == "new@example.com"


async def test_the_welcome_goes_where_the_user_signed_up_even_after_a_newer_change() -> None:
    h = harness()
    user_id = uuid.uuid4()
    await h.deliver(updated(user_id, email="later@example.com"), at=at(10))
    event = await h.deliver(registered(user_id, email="first@example.com"), at=at(0))
    assert h.recipients.rows[user_id].email == "later@example.com"
    [welcome] = [n for n in h.store.items.values() if n.event_id == event.id]
    assert welcome.to == "first@example.com"


async def test_a_deleted_user_keeps_a_tombstone_that_late_events_cannot_revive() -> None:
    h = harness()
    user_id = await signed_up(h, phone="+15551234567", last_name="Liddell")
    await h.deliver(UserDeleted(user_id=user_id), at=at(20))
    gone = h.recipients.rows[user_id]
    assert gone.deleted_at == at(20)
    assert (gone.email, gone.phone, gone.username, gone.first_name, gone.last_name) == (None,) * 5
    # A change made before the deletion, or even one stamped after it, brings nothing back.
    await h.deliver(updated(user_id, email="back@example.com"), at=at(30))
    assert h.recipients.rows[user_id].email is None
    h.rt.wake.clear()
    queued = len(h.store.items)
    await h.deliver(order(OrderShipped, user_id), at=at(31))
    assert len(h.store.items) == queued
    assert not h.rt.wake.is_set()


async def test_a_sign_up_that_arrives_after_the_deletion_sends_no_welcome() -> None:
    h = harness()
    user_id = uuid.uuid4()
    await h.deliver(UserDeleted(user_id=user_id), at=at(5))
    await h.deliver(registered(user_id), at=at(0))
    assert h.store.items == {}
    assert h.recipients.rows[user_id].email is None


async def test_an_order_for_an_unknown_user_rolls_back_and_queues_nothing() -> None:
    h = harness()
    with pytest.raises(RecipientUnknown):
        await h.deliver(order(OrderConfirmed, uuid.uuid4()), at=at(0))
    assert h.store.items == {}
    assert (h.uow.commits, h.uow.rollbacks) == (0, 1)
    assert not h.rt.wake.is_set()


# -- reasons, as people read them --------------------------------------------


async def bodies(h: Harness, event: OrderEvent) -> list[str]:
    sent = await h.deliver(event, at=at(1))
    mine = [n for n in h.store.items.values() if n.event_id == sent.id]
    return [text for n in mine for text in (n.subject or "", n.body, n.html or "")]


@pytest.mark.parametrize("contract", [OrderRejected, OrderCancelled])
async def test_order_emails_use_the_reason_text_of_the_event(
    contract: type[OrderEvent],
) -> None:
    h = harness()
    user_id = await signed_up(h, phone="+15551234567")
    texts = await bodies(
        h,
        order(
            contract,
            user_id,
            reason=OrderReason.OUT_OF_STOCK,
            reason_text="Sorry, Trail running shoe is out of stock",
        ),
    )
    assert any("Sorry, Trail running shoe is out of stock." in text for text in texts)
    for text in texts:
        assert "out_of_stock" not in text
        assert str(SHOE) not in text


@pytest.mark.parametrize("reason", list(OrderReason))
@pytest.mark.parametrize("contract", [OrderRejected, OrderCancelled])
async def test_without_reason_text_the_code_becomes_a_generic_sentence(
    contract: type[OrderEvent], reason: OrderReason
) -> None:
    h = harness()
    user_id = await signed_up(h, phone="+15551234567")
    texts = await bodies(h, order(contract, user_id, reason=reason, reason_text=None))
    assert any(GENERIC_REASONS[reason] in text for text in texts)
    for text in texts:
        assert reason.value not in text
        assert str(SHOE) not in text


async def test_an_order_without_a_reason_says_none() -> None:
    h = harness()
    user_id = await signed_up(h)
    [_subject, body, html] = await bodies(h, order(OrderRejected, user_id))
    assert "we could not place your order" in body
    assert "None" not in body + html
    assert "Trail running shoe" in body and "129.99 EUR" in body
