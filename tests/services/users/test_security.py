"""Every authorization and input rule of the users API, from the attacker's side."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from panthera.app import Platform
from tests.conftest import STRONG_PASSWORD, Account, assert_problem, sign_up


async def test_unauthenticated_requests_get_401(client: httpx.AsyncClient, alice: Account) -> None:
    for method, path in [
        ("GET", "/v1/users"),
        ("GET", "/v1/users/me"),
        ("GET", f"/v1/users/{alice.id}"),
        ("PUT", f"/v1/users/{alice.id}"),
        ("DELETE", f"/v1/users/{alice.id}"),
    ]:
        response = await client.request(method, path, json={} if method == "PUT" else None)
        assert assert_problem(response, 401)["detail"], path
        assert response.headers["www-authenticate"] == "Bearer"


async def test_customer_cannot_list_users(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(await client.get("/v1/users", headers=alice.headers), 403)


async def test_customer_cannot_touch_another_customer(
    client: httpx.AsyncClient, alice: Account, bob: Account, admin: Account
) -> None:
    path = f"/v1/users/{bob.id}"
    assert_problem(await client.get(path, headers=alice.headers), 403)
    assert_problem(await client.put(path, headers=alice.headers, json={"firstName": "X"}), 403)
    assert_problem(await client.put(path, headers=alice.headers, json={"role": "admin"}), 403)
    assert_problem(await client.delete(path, headers=alice.headers), 403)
    # A customer learns nothing about ids that do not exist either.
    assert_problem(await client.get(f"/v1/users/{uuid.uuid4()}", headers=alice.headers), 403)
    unchanged = await client.get(path, headers=admin.headers)
    assert unchanged.json()["firstName"] == "Bob"
    assert unchanged.json()["role"] == "customer"


async def test_customer_cannot_raise_their_own_role(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.put(
        f"/v1/users/{alice.id}", headers=alice.headers, json={"role": "admin", "firstName": "Evil"}
    )
    assert_problem(response, 403)
    me = (await client.get("/v1/users/me", headers=alice.headers)).json()
    assert (me["role"], me["firstName"]) == ("customer", "Alice")


async def test_anonymous_sign_up_cannot_choose_admin(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/users",
        json={
            "username": "mallory",
            "email": "mallory@example.com",
            "password": STRONG_PASSWORD,
            "role": "admin",
        },
    )
    assert_problem(response, 403)
    login = await client.post(
        "/v1/auth/login", json={"email": "mallory@example.com", "password": STRONG_PASSWORD}
    )
    assert_problem(login, 401)


async def test_customer_cannot_create_admin(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post(
        "/v1/users",
        headers=alice.headers,
        json={
            "username": "mallory",
            "email": "mallory@example.com",
            "password": STRONG_PASSWORD,
            "role": "admin",
        },
    )
    assert_problem(response, 403)


async def test_admin_gets_404_for_unknown_user(client: httpx.AsyncClient, admin: Account) -> None:
    missing = f"/v1/users/{uuid.uuid4()}"
    assert_problem(await client.get(missing, headers=admin.headers), 404)
    assert_problem(await client.put(missing, headers=admin.headers, json={}), 404)
    assert_problem(await client.delete(missing, headers=admin.headers), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "password": STRONG_PASSWORD}, "body.username"),
        (
            {"username": "ab", "email": "a@example.com", "password": STRONG_PASSWORD},
            "body.username",
        ),
        (
            {"username": "a" * 51, "email": "a@example.com", "password": STRONG_PASSWORD},
            "body.username",
        ),
        (
            {"username": "bad name", "email": "a@example.com", "password": STRONG_PASSWORD},
            "body.username",
        ),
        ({"username": "valid", "email": "not-an-email", "password": STRONG_PASSWORD}, "body.email"),
        ({"username": "valid", "email": "a@example.com", "password": "short1A"}, "body.password"),
        (
            {"username": "valid", "email": "a@example.com", "password": "alllowercase123"},
            "body.password",
        ),
        (
            {"username": "valid", "email": "a@example.com", "password": "NoDigitsHere!"},
            "body.password",
        ),
        (
            {"username": "valid", "email": "a@example.com", "password": "Aa1" + "x" * 200},
            "body.password",
        ),
        (
            {
                "username": "valid",
                "email": "a@example.com",
                "password": STRONG_PASSWORD,
                "isAdmin": True,
            },
            "body.isAdmin",
        ),
        ({"username": 42, "email": "a@example.com", "password": STRONG_PASSWORD}, "body.username"),
        (
            {
                "username": "valid",
                "email": "a@example.com",
                "password": STRONG_PASSWORD,
                "firstName": "x" * 101,
            },
            "body.firstName",
        ),
        (
            {
                "username": "valid",
                "email": "a@example.com",
                "password": STRONG_PASSWORD,
                "phone": "12345",
            },
            "body.phone",
        ),
        (
            {
                "username": "valid",
                "email": "a@example.com",
                "password": STRONG_PASSWORD,
                "role": "superuser",
            },
            "body.role",
        ),
    ],
)
async def test_invalid_sign_up_is_400_with_the_field_and_creates_nothing(
    client: httpx.AsyncClient, admin: Account, body: dict[str, object], field: str
) -> None:
    problem = assert_problem(await client.post("/v1/users", json=body), 400)
    assert field in {error["field"] for error in problem["errors"]}
    listed = await client.get("/v1/users", headers=admin.headers)
    assert listed.json()["total"] == 1


async def test_malformed_json_is_400_in_plain_words(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/users", content=b'{"username": "x",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    # The parser's offset is in the message, not shown as a field.
    assert body["errors"] == [
        {
            "field": "body",
            "message": "The body is not valid JSON: expecting property name enclosed in "
            "double quotes at character 17",
            "type": "json_invalid",
        }
    ]
    assert body["detail"] == f"Invalid request: {body['errors'][0]['message']}"
    empty = await client.post(
        "/v1/users", content=b"", headers={"content-type": "application/json"}
    )
    assert assert_problem(empty, 400)["errors"][0]["message"] == "A JSON body is required"
    array = await client.post("/v1/users", json=[1, 2])
    assert assert_problem(array, 400)["errors"][0]["message"] == "The body must be a JSON object"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_without_the_json_content_type_is_400_saying_so(
    client: httpx.AsyncClient, admin: Account, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = b'{"username": "x", "email": "x@example.com", "password": "StrongPassword123!"}'
    response = await client.post("/v1/users", content=body, headers=headers)
    problem = assert_problem(response, 400)
    shown = content_type or "none"
    assert problem["errors"] == [
        {
            "field": "body",
            "message": f"Send the body as JSON with Content-Type: application/json (got: {shown})",
            "type": "content_type",
        }
    ]
    assert "dictionary" not in response.text  # no framework wording
    listed = await client.get("/v1/users", headers=admin.headers)
    assert listed.json()["total"] == 1  # nothing was created


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": "x"},
        {"limit": 0},
        {"limit": 101},
        {"limit": 100000},
        {"search": "s" * 101},
    ],
)
async def test_bad_paging_is_400(
    client: httpx.AsyncClient, admin: Account, params: dict[str, str | int]
) -> None:
    assert_problem(await client.get("/v1/users", params=params, headers=admin.headers), 400)


async def test_non_uuid_id_is_400(client: httpx.AsyncClient, admin: Account) -> None:
    body = assert_problem(await client.get("/v1/users/42", headers=admin.headers), 400)
    assert body["errors"][0]["field"] == "path.userId"


async def test_unknown_fields_in_update_are_400_and_change_nothing(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.put(
        f"/v1/users/{alice.id}",
        headers=alice.headers,
        json={"firstName": "Changed", "passwordHash": "x"},
    )
    assert_problem(response, 400)
    assert (await client.get("/v1/users/me", headers=alice.headers)).json()["firstName"] == "Alice"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hmac_token(claims: dict[str, object], secret: bytes, kid: str) -> str:
    """HS256 signed with the public key: the classic algorithm-confusion attack."""
    signing_input = (
        _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        + "."
        + _b64(json.dumps(claims).encode())
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _forge(claims: dict[str, object], key: object, alg: str, kid: str = "x") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


def _claims(user_id: str, **over: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": "panthera",
        "aud": "panthera",
        "sub": user_id,
        "role": "admin",
        "iat": now,
        "exp": now + 600,
        **over,
    }


async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, platform: Platform, alice: Account
) -> None:
    issuer = platform.hosts["users"].runtime.issuer
    kid = issuer.key.kid
    header, payload, signature = alice.token.split(".")
    raised = json.loads(base64.urlsafe_b64decode(payload + "==="))
    raised["role"] = "admin"
    tampered_payload = base64.urlsafe_b64encode(json.dumps(raised).encode()).rstrip(b"=").decode()
    unsigned_header = (
        base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        .rstrip(b"=")
        .decode()
    )
    public_pem = issuer.key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tokens = {
        "garbage": "not.a.token",
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "alg none": f"{unsigned_header}.{tampered_payload}.",
        "other key": _forge(_claims(alice.id), Ed25519PrivateKey.generate(), "EdDSA", kid),
        "hmac with public key": _hmac_token(_claims(alice.id), public_pem, kid),
        "expired": _forge(
            _claims(alice.id, exp=int(time.time()) - 60), issuer.key.private_key, "EdDSA", kid
        ),
        "wrong audience": _forge(
            _claims(alice.id, aud="elsewhere"), issuer.key.private_key, "EdDSA", kid
        ),
        "no subject uuid": _forge(_claims("root"), issuer.key.private_key, "EdDSA", kid),
    }
    for name, token in tokens.items():
        response = await client.get("/v1/users", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401)
        assert response.status_code == 401, name
    basic = await client.get("/v1/users/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_problem(basic, 401)


async def test_no_response_ever_carries_a_password_hash(
    client: httpx.AsyncClient, admin: Account
) -> None:
    await sign_up(client, "dave")
    for response in [
        await client.get("/v1/users", headers=admin.headers),
        await client.get("/v1/users/me", headers=admin.headers),
    ]:
        assert "$argon2" not in response.text
        assert "password" not in response.text.lower()


async def test_the_last_admin_can_neither_leave_nor_be_demoted(
    client: httpx.AsyncClient, admin: Account
) -> None:
    """Issue 10, finding 7: the shop would have nobody to run it."""
    path = f"/v1/users/{admin.id}"
    assert (
        "last admin"
        in assert_problem(await client.delete(path, headers=admin.headers), 409)["detail"]
    )
    demoted = await client.put(path, headers=admin.headers, json={"role": "customer"})
    assert_problem(demoted, 409)
    assert (await client.get(path, headers=admin.headers)).json()["role"] == "admin"
    created = await client.post(
        "/v1/users",
        headers=admin.headers,
        json={
            "username": "second",
            "email": "second@example.com",
            "password": STRONG_PASSWORD,
            "role": "admin",
        },
    )
    assert created.status_code == 201
    # With another admin, either may go; then the other is the last one.
    assert (await client.delete(path, headers=admin.headers)).status_code == 204
    second = await client.post(
        "/v1/auth/login", json={"email": "second@example.com", "password": STRONG_PASSWORD}
    )
    token = {"Authorization": f"Bearer {second.json()['accessToken']}"}
    own = f"/v1/users/{created.json()['id']}"
    assert_problem(await client.put(own, headers=token, json={"role": "customer"}), 409)


async def test_two_admins_removing_each_other_at_once_leave_one(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await client.post(
        "/v1/users",
        headers=admin.headers,
        json={
            "username": "rival",
            "email": "rival@example.com",
            "password": STRONG_PASSWORD,
            "role": "admin",
        },
    )
    assert created.status_code == 201
    rival = await client.post(
        "/v1/auth/login", json={"email": "rival@example.com", "password": STRONG_PASSWORD}
    )
    rival_headers = {"Authorization": f"Bearer {rival.json()['accessToken']}"}
    answers = await asyncio.gather(
        client.delete(f"/v1/users/{created.json()['id']}", headers=admin.headers),
        client.delete(f"/v1/users/{admin.id}", headers=rival_headers),
    )
    assert sorted(a.status_code for a in answers) in ([204, 409], [204, 401])
    listed = await client.get("/v1/users", headers=admin.headers)
    if listed.status_code == 401:  # the rival won: the first admin is gone
        listed = await client.get("/v1/users", headers=rival_headers)
    assert [u["role"] for u in listed.json()["users"]] == ["admin"]


@pytest.mark.parametrize("field", ["username", "password", "firstName", "lastName", "email"])
async def test_control_characters_are_400_on_either_database(
    client: httpx.AsyncClient, field: str
) -> None:
    """Issue 10, finding 6: PostgreSQL refuses NUL in text, SQLite stored it."""
    body = {
        "username": "nul.user",
        "email": "nul@example.com",
        "password": STRONG_PASSWORD,
        "firstName": "Nul",
        "lastName": "User",
    }
    body[field] = body[field][:2] + "\u0000" + body[field][2:]
    assert_problem(await client.post("/v1/users", json=body), 400)
    login = await client.post(
        "/v1/auth/login", json={"email": "nul@example.com", "password": "Strong\u0000Pass1"}
    )
    assert_problem(login, 400)
    lone_surrogate = b'{"username":"x\\ud800yz","email":"s@example.com","password":"Aa345678"}'
    answer = await client.post(
        "/v1/users", content=lone_surrogate, headers={"content-type": "application/json"}
    )
    assert_problem(answer, 400)
    assert (
        await client.post(
            "/v1/auth/login", json={"email": "nul@example.com", "password": STRONG_PASSWORD}
        )
    ).status_code == 401


@pytest.mark.parametrize("value", ["true", "1", 1, None])
async def test_all_sessions_is_a_strict_boolean(
    client: httpx.AsyncClient, alice: Account, value: object
) -> None:
    """Issue 10, finding 5."""
    answer = await client.post(
        "/v1/auth/logout", json={"refreshToken": alice.refresh_token, "allSessions": value}
    )
    assert_problem(answer, 400)
    assert (await client.get("/v1/users/me", headers=alice.headers)).status_code == 200
