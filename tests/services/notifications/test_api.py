"""Sign-up through the embedded gateway sends a welcome email; the notifications API."""

from __future__ import annotations

import mailbox
import uuid
from email.message import Message
from pathlib import Path
from typing import Any

import httpx

from panthera.app import Platform, create_platform
from panthera.kernel.service import ServiceSettings
from panthera.kernel.settings import Settings
from panthera.services.users import service as users_service
from tests.conftest import (
    STRONG_PASSWORD,
    Account,
    assert_problem,
    eventually,
    log_in,
    sign_up,
)

NOTIFICATION_FIELDS = {
    "id",
    "userId",
    "channel",
    "to",
    "template",
    "subject",
    "body",
    "status",
    "attempts",
    "createdAt",
    "sentAt",
    "event",
}


def maildir_messages(platform: Platform) -> list[Message]:
    path = Path(platform.hosts["notifications"].settings.data_dir) / "mail"
    if not path.exists():
        return []
    return list(mailbox.Maildir(path, create=False))


async def sent(client: httpx.AsyncClient, account: Account, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/notifications", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["notifications"]
    return items if items and all(n["status"] == "sent" for n in items) else []


async def test_sign_up_sends_a_welcome_email_to_the_maildir(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    alice = await sign_up(client, "alice", firstName="Alice")
    [notification] = await eventually(lambda: sent(client, alice), timeout=5)
    assert set(notification) == NOTIFICATION_FIELDS
    assert notification["userId"] == alice.id
    assert notification["channel"] == "email"
    assert notification["to"] == "alice@example.com"
    assert notification["template"] == "welcome"
    assert notification["attempts"] == 1
    assert notification["sentAt"]
    assert "Alice" in notification["subject"]
    uuid.UUID(notification["event"])

    [message] = maildir_messages(platform)
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == notification["subject"]
    assert message["X-Panthera-Notification"] == notification["id"]
    parts = {part.get_content_type(): part for part in message.walk()}
    text, html = (parts[kind].get_payload(decode=True) for kind in ("text/plain", "text/html"))
    assert isinstance(text, bytes) and isinstance(html, bytes)
    assert "Hello Alice" in text.decode()
    assert "<strong>alice</strong>" in html.decode()


async def test_a_user_sees_only_their_own_and_an_admin_sees_all(
    client: httpx.AsyncClient, admin: Account
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    [mine] = await eventually(lambda: sent(client, alice))
    [bobs] = await eventually(lambda: sent(client, bob))

    own = await client.get(f"/v1/notifications/{mine['id']}", headers=alice.headers)
    assert own.status_code == 200
    assert own.json() == mine
    # Someone else's notification does not exist as far as alice can tell.
    assert_problem(await client.get(f"/v1/notifications/{bobs['id']}", headers=alice.headers), 404)
    assert_problem(
        await client.get(f"/v1/notifications/{uuid.uuid4()}", headers=alice.headers), 404
    )
    read_by_admin = await client.get(f"/v1/notifications/{bobs['id']}", headers=admin.headers)
    assert read_by_admin.status_code == 200
    assert read_by_admin.json() == bobs  # bob's own notification, not the admin's
    assert bobs["userId"] == bob.id and bobs["to"] == bob.email

    everything = await client.get("/v1/notifications", headers=admin.headers)
    body = everything.json()
    assert {n["userId"] for n in body["notifications"]} >= {alice.id, bob.id}
    assert body["total"] >= 2


async def test_list_paginates_and_filters_by_channel(
    client: httpx.AsyncClient, admin: Account
) -> None:
    for i in range(3):
        await sign_up(client, f"pager{i}")

    async def three() -> bool:
        listed = await client.get("/v1/notifications", headers=admin.headers)
        return bool(listed.json()["total"] >= 4)  # three sign-ups and the admin

    await eventually(three)
    page = await client.get(
        "/v1/notifications", headers=admin.headers, params={"page": 2, "limit": 2}
    )
    body = page.json()
    assert (body["page"], body["limit"]) == (2, 2)
    assert len(body["notifications"]) == min(2, body["total"] - 2)
    emails = await client.get(
        "/v1/notifications", headers=admin.headers, params={"channel": "email"}
    )
    assert emails.json()["total"] == body["total"]
    sms = await client.get("/v1/notifications", headers=admin.headers, params={"channel": "sms"})
    assert sms.json()["total"] == 0
    assert_problem(
        await client.get("/v1/notifications", headers=admin.headers, params={"channel": "pigeon"}),
        400,
    )
    assert_problem(
        await client.get("/v1/notifications", headers=admin.headers, params={"limit": 101}), 400
    )


async def test_notifications_need_a_token(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/notifications"), 401)
    assert_problem(await client.get(f"/v1/notifications/{uuid.uuid4()}"), 401)
    assert_problem(
        await client.get("/v1/notifications/not-a-uuid", headers={"Authorization": "Bearer x.y.z"}),
        401,
    )


async def test_an_event_recorded_while_nothing_relays_is_delivered_after_a_restart(
    settings: Settings, service_settings: dict[str, ServiceSettings]
) -> None:
    # As after a crash between the commit and the delivery (or `panthera admin
    # create`, which runs the users service alone without its relay).
    alone = create_platform(settings, services=["users"], service_settings=service_settings)
    async with alone.hosts["users"].running():
        await users_service.ensure_admin(
            rt=alone.hosts["users"].runtime,
            email="early@example.com",
            password=STRONG_PASSWORD,
        )
    restarted = create_platform(settings, service_settings=service_settings)
    async with restarted.running():
        transport = httpx.ASGITransport(app=restarted.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            early = await log_in(client, "early@example.com", STRONG_PASSWORD)
            [welcome] = await eventually(lambda: sent(client, early), timeout=5)
    assert welcome["to"] == "early@example.com"
