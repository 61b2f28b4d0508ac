"""Trust boundaries: whose X-Forwarded-For a service believes, and which origins CORS allows.

A service alone in its process is served exactly as `panthera serve` serves it
(the CLI's uvicorn configuration) on a real socket. Clients connect from
distinct loopback addresses: 127.0.0.2 plays the gateway, 127.0.0.3 anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from panthera.app import create_platform, create_service_app
from panthera.cli import server_config
from panthera.gateway.settings import GatewaySettings
from panthera.kernel.settings import Settings
from tests.conftest import STRONG_PASSWORD, fast_service_settings

GATEWAY = "127.0.0.2"
STRANGER = "127.0.0.3"
LIMIT = 3  # login attempts per client address per minute


@pytest.fixture
async def users_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(data_dir=tmp_path, gateway_addresses=GATEWAY, log_level="WARNING")
    users = fast_service_settings(login_limit_per_address=f"{LIMIT}/minute")["users"]
    _host, app = create_service_app("users", settings, service_settings=users)
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=0, behind=GATEWAY))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the users service did not start"
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, timeout=30)


def from_address(base_url: str, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)


async def bad_login(client: httpx.AsyncClient, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = await client.post(
        "/v1/auth/login",
        json={"email": "nobody@example.com", "password": "wrong-password-1"},
        headers=headers,
    )
    return response.status_code


async def test_a_spoofed_forwarded_for_does_not_escape_the_address_limit(users_url: str) -> None:
    async with from_address(users_url, STRANGER) as stranger:
        # Each attempt claims to come from somewhere new; the service counts the socket's address.
        codes = [await bad_login(stranger, f"198.51.100.{n}") for n in range(LIMIT + 2)]
    assert codes == [401] * LIMIT + [429, 429]


async def test_the_gateways_forwarded_for_names_the_client(users_url: str) -> None:
    async with from_address(users_url, GATEWAY) as gateway:
        first = [await bad_login(gateway, "198.51.100.1") for _ in range(LIMIT + 1)]
        # Another client behind the same gateway has its own allowance.
        other = await bad_login(gateway, "198.51.100.2")
    assert first == [401] * LIMIT + [429]
    assert other == 401
    async with from_address(users_url, STRANGER) as stranger:
        # Nor did the gateway's clients use up the stranger's allowance.
        assert await bad_login(stranger) == 401


async def test_a_good_login_from_behind_the_gateway_still_works(users_url: str) -> None:
    async with from_address(users_url, GATEWAY) as gateway:
        body = {"username": "carol", "email": "carol@example.com", "password": STRONG_PASSWORD}
        created = await gateway.post("/v1/users", json=body)
        assert created.status_code == 201, created.text
        response = await gateway.post(
            "/v1/auth/login",
            json={"email": body["email"], "password": STRONG_PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.9"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["accessToken"]


# -- CORS at the in-process gateway ----------------------------------------------------
ALLOWED = "https://shop.example"


@pytest.fixture
def gateway_settings() -> GatewaySettings:
    return GatewaySettings(
        cors_origins=[ALLOWED],
        rate_limit_per_client="100000/minute",
        rate_limit_per_route="100000/minute",
    )


@pytest.fixture
async def edge(
    settings: Settings, gateway_settings: GatewaySettings
) -> AsyncIterator[httpx.AsyncClient]:
    platform = create_platform(
        settings, service_settings=fast_service_settings(), gateway_settings=gateway_settings
    )
    async with platform.running():
        transport = httpx.ASGITransport(app=platform.app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }


@pytest.mark.parametrize("db_backend", ["sqlite"])
async def test_cors_allows_a_configured_origin(edge: httpx.AsyncClient) -> None:
    answer = await edge.options("/v1/auth/login", headers=preflight(ALLOWED))
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in answer.headers["access-control-allow-methods"]
    read = await edge.get("/v1/products", headers={"Origin": ALLOWED})
    assert read.status_code == 200
    assert read.headers.get("access-control-allow-origin") == ALLOWED


@pytest.mark.parametrize("db_backend", ["sqlite"])
async def test_cors_refuses_any_other_origin(edge: httpx.AsyncClient) -> None:
    for origin in ("https://evil.example", "https://shop.example.evil.example", "null"):
        answer = await edge.options("/v1/auth/login", headers=preflight(origin))
        assert answer.status_code == 400, (origin, answer.text)
        assert "access-control-allow-origin" not in answer.headers
        read = await edge.get("/v1/products", headers={"Origin": origin})
        assert "access-control-allow-origin" not in read.headers


@pytest.mark.parametrize("db_backend", ["sqlite"])
async def test_without_configured_origins_nothing_is_allowed(
    settings: Settings,
) -> None:
    platform = create_platform(settings, service_settings=fast_service_settings())
    async with platform.running():
        transport = httpx.ASGITransport(app=platform.app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            answer = await http.options("/v1/auth/login", headers=preflight(ALLOWED))
            read = await http.get("/v1/products", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in read.headers
