"""The users API through the embedded gateway, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.conftest import STRONG_PASSWORD, Account, assert_problem, log_in, sign_up

USER_FIELDS = {
    "id",
    "username",
    "email",
    "firstName",
    "lastName",
    "phone",
    "role",
    "createdAt",
    "updatedAt",
}


async def test_sign_up_returns_the_user_without_secrets(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/users",
        json={
            "username": "john.doe",
            "email": "John.Doe@Example.com",
            "password": STRONG_PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == USER_FIELDS
    assert user["username"] == "john.doe"
    assert user["email"] == "john.doe@example.com"
    assert user["role"] == "customer"
    uuid.UUID(user["id"])
    assert "password" not in response.text.lower()


async def test_sign_up_conflicts_on_username_or_email(client: httpx.AsyncClient) -> None:
    await sign_up(client, "carol")
    same_email = await client.post(
        "/v1/users",
        json={"username": "carol2", "email": "CAROL@example.com", "password": STRONG_PASSWORD},
    )
    assert "email" in assert_problem(same_email, 409)["detail"]
    same_name = await client.post(
        "/v1/users",
        json={"username": "Carol", "email": "other@example.com", "password": STRONG_PASSWORD},
    )
    assert "username" in assert_problem(same_name, 409)["detail"]


async def test_concurrent_sign_ups_for_one_email_create_one_user(
    client: httpx.AsyncClient, admin: Account
) -> None:
    body = {"username": "racer", "email": "racer@example.com", "password": STRONG_PASSWORD}
    answers = await asyncio.gather(
        *(client.post("/v1/users", json={**body, "username": f"racer{i}"}) for i in range(8))
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 7
    listed = await client.get("/v1/users", params={"search": "racer"}, headers=admin.headers)
    assert listed.json()["total"] == 1


async def test_login_returns_tokens_and_user(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post(
        "/v1/auth/login", json={"email": alice.email, "password": STRONG_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 900
    assert body["refreshToken"] and body["accessToken"].count(".") == 2
    assert body["user"]["id"] == alice.id


async def test_login_failure_is_the_same_for_unknown_email_and_wrong_password(
    client: httpx.AsyncClient, alice: Account
) -> None:
    wrong = await client.post(
        "/v1/auth/login", json={"email": alice.email, "password": "Wrong-password1"}
    )
    unknown = await client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": "Whatever1"}
    )
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]


async def test_me_and_get_by_id(client: httpx.AsyncClient, alice: Account) -> None:
    me = await client.get("/v1/users/me", headers=alice.headers)
    assert me.status_code == 200
    assert me.json()["firstName"] == "Alice"
    by_id = await client.get(f"/v1/users/{alice.id}", headers=alice.headers)
    assert by_id.json() == me.json()


async def test_update_own_profile(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.put(
        f"/v1/users/{alice.id}",
        headers=alice.headers,
        json={"firstName": "Jonathan", "phone": "+15551234567"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["firstName"] == "Jonathan"
    assert body["lastName"] == "Liddell"
    assert body["phone"] == "+15551234567"
    assert body["updatedAt"] > body["createdAt"]
    cleared = await client.put(
        f"/v1/users/{alice.id}", headers=alice.headers, json={"lastName": None}
    )
    assert cleared.json()["lastName"] is None


async def test_update_email_to_a_taken_one_conflicts(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    response = await client.put(
        f"/v1/users/{alice.id}", headers=alice.headers, json={"email": bob.email}
    )
    assert_problem(response, 409)


async def test_delete_self_then_the_account_is_gone(
    client: httpx.AsyncClient, alice: Account, admin: Account
) -> None:
    response = await client.delete(f"/v1/users/{alice.id}", headers=alice.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/v1/users/{alice.id}", headers=admin.headers), 404)
    login = await client.post(
        "/v1/auth/login", json={"email": alice.email, "password": STRONG_PASSWORD}
    )
    assert_problem(login, 401)
    refresh = await client.post("/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
    assert_problem(refresh, 401)


async def test_admin_lists_with_pagination_and_search(
    client: httpx.AsyncClient, admin: Account
) -> None:
    for i in range(12):
        await client.post(
            "/v1/users",
            json={
                "username": f"shopper{i:02d}",
                "email": f"shopper{i:02d}@example.com",
                "password": STRONG_PASSWORD,
                "lastName": "Smith" if i % 2 else "Jones",
            },
        )
    first = await client.get("/v1/users", headers=admin.headers)
    body = first.json()
    assert (body["total"], body["page"], body["limit"], len(body["users"])) == (13, 1, 10, 10)
    second = await client.get("/v1/users", params={"page": 2, "limit": 10}, headers=admin.headers)
    assert len(second.json()["users"]) == 3
    assert not {u["id"] for u in body["users"]} & {u["id"] for u in second.json()["users"]}
    smiths = await client.get("/v1/users", params={"search": "smi"}, headers=admin.headers)
    assert smiths.json()["total"] == 6
    by_email = await client.get("/v1/users", params={"search": "SHOPPER03@"}, headers=admin.headers)
    assert [u["username"] for u in by_email.json()["users"]] == ["shopper03"]
    wildcard = await client.get("/v1/users", params={"search": "%"}, headers=admin.headers)
    assert wildcard.json()["total"] == 0


async def test_admin_creates_admin_and_changes_roles(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    created = await client.post(
        "/v1/users",
        headers=admin.headers,
        json={
            "username": "ops",
            "email": "ops@example.com",
            "password": STRONG_PASSWORD,
            "role": "admin",
        },
    )
    assert created.status_code == 201
    assert created.json()["role"] == "admin"
    promoted = await client.put(
        f"/v1/users/{alice.id}", headers=admin.headers, json={"role": "admin"}
    )
    assert promoted.json()["role"] == "admin"
    # The role is read from the token, so it takes effect at the next login.
    again = await log_in(client, alice.email, STRONG_PASSWORD)
    listed = await client.get("/v1/users", headers=again.headers)
    assert listed.status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, alice: Account
) -> None:
    first = await client.post("/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
    assert first.status_code == 200
    rotated = first.json()["refreshToken"]
    assert rotated != alice.refresh_token
    reuse = await client.post("/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
    assert_problem(reuse, 401)
    # The thief replayed the old token: the legitimate newer one is revoked too.
    assert_problem(await client.post("/v1/auth/refresh", json={"refreshToken": rotated}), 401)


async def test_concurrent_refreshes_of_one_token_yield_one_new_pair(
    client: httpx.AsyncClient, alice: Account
) -> None:
    answers = await asyncio.gather(
        *(
            client.post("/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
            for _ in range(5)
        )
    )
    assert sum(r.status_code == 200 for r in answers) == 1  # one winner, never none
    assert all(r.status_code in (200, 401) for r in answers)


async def test_logout_spends_the_refresh_token(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post("/v1/auth/logout", json={"refreshToken": alice.refresh_token})
    assert response.status_code == 204
    assert_problem(
        await client.post("/v1/auth/refresh", json={"refreshToken": alice.refresh_token}), 401
    )
    assert_problem(
        await client.post("/v1/auth/logout", json={"refreshToken": alice.refresh_token}), 401
    )
    assert_problem(await client.post("/v1/auth/logout", json={"refreshToken": "nope"}), 401)


async def test_jwks_publishes_the_public_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    assert "d" not in key
