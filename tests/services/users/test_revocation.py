"""Deleting a user, changing a role or a password, signing out everywhere: the user's
older access tokens stop working at once in every service, on SQLite and PostgreSQL.

The distributed topology (processes sharing Redis) is in tests/e2e/test_revocation.py.
"""

from __future__ import annotations

import uuid

import httpx

from panthera.app import Platform, create_platform
from panthera.contracts.users import RevocationReason, SessionsRevoked
from panthera.kernel.events import Event
from panthera.kernel.service import ServiceSettings
from panthera.kernel.settings import Settings
from tests.conftest import (
    GENEROUS_GATEWAY,
    STRONG_PASSWORD,
    Account,
    assert_problem,
    eventually,
    log_in,
    sign_up,
)

NEW_PASSWORD = "Another-Passw0rd"


async def signed_in_everywhere(client: httpx.AsyncClient, account: Account) -> bool:
    """Whether the token still opens a route of each service that takes any signed-in user."""
    answers = [
        await client.get(path, headers=account.headers)
        for path in ("/v1/users/me", "/v1/orders", "/v1/notifications")
    ]
    codes = {answer.status_code for answer in answers}
    assert codes in ({200}, {401}), [a.text for a in answers]
    if codes == {401}:
        assert all("revoked" in assert_problem(a, 401)["detail"] for a in answers)
    return codes == {200}


async def test_a_deleted_users_token_stops_working_everywhere(
    client: httpx.AsyncClient, alice: Account
) -> None:
    assert await signed_in_everywhere(client, alice)
    deleted = await client.delete(f"/v1/users/{alice.id}", headers=alice.headers)
    assert deleted.status_code == 204
    assert not await signed_in_everywhere(client, alice)
    placed = await client.post(
        "/v1/orders",
        headers={**alice.headers, "Idempotency-Key": "after-delete"},
        json={"items": [], "shippingAddress": {}, "payment": {"token": "tok_visa"}},
    )
    assert_problem(placed, 401)


async def test_a_demoted_admin_loses_admin_routes_at_once_and_signs_in_as_customer(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await client.post(
        "/v1/users",
        headers=admin.headers,
        json={
            "username": "deputy",
            "email": "deputy@example.com",
            "password": STRONG_PASSWORD,
            "role": "admin",
        },
    )
    assert created.status_code == 201, created.text
    deputy = await log_in(client, "deputy@example.com", STRONG_PASSWORD)
    assert (await client.get("/v1/users", headers=deputy.headers)).status_code == 200
    demoted = await client.put(
        f"/v1/users/{deputy.id}", headers=admin.headers, json={"role": "customer"}
    )
    assert demoted.status_code == 200, demoted.text
    assert_problem(await client.get("/v1/users", headers=deputy.headers), 401)
    low_stock = await client.get("/v1/products?stockBelow=5", headers=deputy.headers)
    assert_problem(low_stock, 401)
    # At once, in the same second: the new token carries the new version.
    again = await log_in(client, "deputy@example.com", STRONG_PASSWORD)
    assert_problem(await client.get("/v1/users", headers=again.headers), 403)
    assert await signed_in_everywhere(client, again)
    # A change that leaves the role alone revokes nothing.
    renamed = await client.put(
        f"/v1/users/{deputy.id}", headers=admin.headers, json={"firstName": "Dep", "role": None}
    )
    assert renamed.status_code == 200
    assert await signed_in_everywhere(client, again)


async def test_signing_out_everywhere_ends_every_session_and_a_new_login_works_at_once(
    client: httpx.AsyncClient, alice: Account
) -> None:
    other = await log_in(client, alice.email, STRONG_PASSWORD)
    plain = await client.post("/v1/auth/logout", json={"refreshToken": other.refresh_token})
    assert plain.status_code == 204
    assert await signed_in_everywhere(client, other)  # one session's logout: tokens live on
    third = await log_in(client, alice.email, STRONG_PASSWORD)
    everywhere = await client.post(
        "/v1/auth/logout", json={"refreshToken": alice.refresh_token, "allSessions": True}
    )
    assert everywhere.status_code == 204
    for session in (alice, other, third):
        assert not await signed_in_everywhere(client, session)
    refreshed = await client.post("/v1/auth/refresh", json={"refreshToken": third.refresh_token})
    assert_problem(refreshed, 401)
    fresh = await log_in(client, alice.email, STRONG_PASSWORD)
    assert await signed_in_everywhere(client, fresh)
    again = await client.post(
        "/v1/auth/logout", json={"refreshToken": alice.refresh_token, "allSessions": True}
    )
    assert_problem(again, 401)


async def test_a_password_change_ends_the_other_sessions(
    client: httpx.AsyncClient, alice: Account
) -> None:
    other = await log_in(client, alice.email, STRONG_PASSWORD)
    path = "/v1/users/me/password"
    wrong = await client.post(
        path,
        headers=alice.headers,
        json={"currentPassword": "Wrong-Passw0rd", "newPassword": NEW_PASSWORD},
    )
    assert_problem(wrong, 401)
    weak = await client.post(
        path, headers=alice.headers, json={"currentPassword": STRONG_PASSWORD, "newPassword": "a"}
    )
    assert_problem(weak, 400)
    assert_problem(await client.post(path, json={"currentPassword": "x", "newPassword": "y"}), 401)
    assert await signed_in_everywhere(client, other)  # refusals changed nothing
    changed = await client.post(
        path,
        headers=alice.headers,
        json={"currentPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert not await signed_in_everywhere(client, other)
    other_refresh = await client.post(
        "/v1/auth/refresh", json={"refreshToken": other.refresh_token}
    )
    assert_problem(other_refresh, 401)
    # The caller's own session goes on: its refresh token gets a token of the new version.
    mine = await client.post("/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
    assert mine.status_code == 200, mine.text
    token = mine.json()["accessToken"]
    assert (
        await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200
    old = await client.post(
        "/v1/auth/login", json={"email": alice.email, "password": STRONG_PASSWORD}
    )
    assert_problem(old, 401)
    await log_in(client, alice.email, NEW_PASSWORD)


async def test_revocations_survive_a_restart(
    settings: Settings, service_settings: dict[str, ServiceSettings]
) -> None:
    first = create_platform(
        settings, service_settings=service_settings, gateway_settings=GENEROUS_GATEWAY
    )
    async with (
        first.running(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=first.app), base_url="http://t"
        ) as client,
    ):
        alice = await sign_up(client, "alice")
        spare = await log_in(client, alice.email, STRONG_PASSWORD)
        signed_out = await client.post(
            "/v1/auth/logout", json={"refreshToken": spare.refresh_token, "allSessions": True}
        )
        assert signed_out.status_code == 204
    second = create_platform(
        settings, service_settings=service_settings, gateway_settings=GENEROUS_GATEWAY
    )
    async with (
        second.running(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=second.app), base_url="http://t"
        ) as client,
    ):
        assert not await signed_in_everywhere(client, alice)
        assert await signed_in_everywhere(
            client, await log_in(client, alice.email, STRONG_PASSWORD)
        )


async def test_every_revocation_is_published_as_a_typed_event(
    platform: Platform, client: httpx.AsyncClient, alice: Account
) -> None:
    heard: list[SessionsRevoked] = []

    async def hear(event: Event) -> None:
        heard.append(SessionsRevoked.model_validate(event.data))

    stop = await platform.hosts["orders"].bus.observe(types=[SessionsRevoked.TYPE], deliver=hear)
    try:
        signed_out = await client.post(
            "/v1/auth/logout", json={"refreshToken": alice.refresh_token, "allSessions": True}
        )
        assert signed_out.status_code == 204
        await eventually(lambda: _true(heard))
    finally:
        await stop()
    assert [(e.user_id, e.reason) for e in heard] == [
        (uuid.UUID(alice.id), RevocationReason.SIGNED_OUT_EVERYWHERE)
    ]
    assert heard[0].token_version == 1


async def _true(items: list[SessionsRevoked]) -> bool:
    return bool(items)
