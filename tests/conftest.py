"""Fixtures shared by every test: settings per database, the platform, HTTP clients.

API tests run twice: on SQLite files in a temporary directory, and on the
machine's real PostgreSQL in schemas unique to the test (dropped afterwards).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from panthera.app import Platform, create_platform
from panthera.gateway.settings import GatewaySettings
from panthera.kernel.service import ServiceSettings
from panthera.kernel.settings import Settings
from panthera.services.notifications.settings import NotificationsSettings
from panthera.services.users.settings import UsersSettings

# Re-exported: tests import both from here.
from panthera.testing.cleanup import POSTGRES_URL as POSTGRES_URL
from panthera.testing.cleanup import drop_schemas as drop_schemas
from panthera.testing.machine import Listeners, RedisSentinel
from panthera.testing.servers import PrivateServer, private_server

STRONG_PASSWORD = "StrongPassword123!"
# Every test client shares one address; the gateway's own limits are tested apart.
GENEROUS_GATEWAY = GatewaySettings(
    rate_limit_per_client="100000/minute", rate_limit_per_route="100000/minute"
)


@pytest.fixture(scope="session", autouse=True)
def machine_services_untouched() -> Iterator[None]:
    """The run leaves the machine's NATS and Redis alone: the same processes serve them
    at the end as at the start, and Redis keeps its data (a test that needs a server
    stopped stops a private one)."""
    before, sentinel = Listeners.now(), RedisSentinel()
    sentinel.place()
    yield
    changes = Listeners.now().changes_since(before)
    if not sentinel.kept():
        changes.append("the machine's Redis lost a key written at the start of the run")
    assert not changes, "the test run restarted machine services: " + "; ".join(changes)


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateServer]:
    """A NATS JetStream server of the test's own, on a free port: stop it at will."""
    with private_server("nats", tmp_path / "private-nats") as server:
        yield server


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateServer]:
    """A Redis server of the test's own, on a free port: stop it at will."""
    with private_server("redis", tmp_path / "private-redis") as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def settings(tmp_path: Path, db_backend: str) -> AsyncIterator[Settings]:
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield Settings(
        data_dir=tmp_path / "data",
        database_url=POSTGRES_URL if db_backend == "postgresql" else None,
        schema_prefix=prefix,
        log_json=True,
        log_level="WARNING",
    )
    if db_backend == "postgresql":
        await drop_schemas(prefix)


def fast_service_settings(**users: Any) -> dict[str, ServiceSettings]:
    """Cheap password hashing and generous limits, so tests spend time on behaviour."""
    options: dict[str, Any] = {
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "login_limit_per_account": "1000/minute",
        "login_limit_per_address": "10000/minute",
    }
    options.update(users)
    return {
        "users": UsersSettings(**options),
        # Quick retries, so that failure paths finish within a test.
        "notifications": NotificationsSettings(
            retry_base_seconds=0.05, retry_max_seconds=0.2, poll_seconds=0.1, max_attempts=3
        ),
    }


@pytest.fixture
def service_settings() -> dict[str, ServiceSettings]:
    return fast_service_settings()


@pytest.fixture
async def platform(
    settings: Settings, service_settings: dict[str, ServiceSettings]
) -> AsyncIterator[Platform]:
    platform = create_platform(
        settings, service_settings=service_settings, gateway_settings=GENEROUS_GATEWAY
    )
    async with platform.running():
        yield platform


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform.app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass
class Account:
    id: str
    email: str
    password: str
    token: str
    refresh_token: str
    body: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(client: httpx.AsyncClient, name: str | None = None, **extra: Any) -> Account:
    name = name or f"user{uuid.uuid4().hex[:8]}"
    body = {"username": name, "email": f"{name}@example.com", "password": STRONG_PASSWORD, **extra}
    created = await client.post("/v1/users", json=body)
    assert created.status_code == 201, created.text
    return await log_in(client, body["email"], body["password"])


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> Account:
    response = await client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    data = response.json()
    return Account(
        id=data["user"]["id"],
        email=email,
        password=password,
        token=data["accessToken"],
        refresh_token=data["refreshToken"],
        body=data["user"],
    )


@pytest.fixture
async def admin(platform: Platform, client: httpx.AsyncClient) -> Account:
    from panthera.services.users import service

    await service.ensure_admin(
        rt=platform.hosts["users"].runtime,
        email="root@example.com",
        password=STRONG_PASSWORD,
        username="root",
    )
    return await log_in(client, "root@example.com", STRONG_PASSWORD)


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Account:
    return await sign_up(client, "alice", firstName="Alice", lastName="Liddell")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Account:
    return await sign_up(client, "bob", firstName="Bob", lastName="Builder")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The one error body: RFC 9457 fields, never a stack trace or a hash."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in response.text
    assert "argon2" not in response.text
    return body


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 (a polling deadline, not a cancellation scope)
    interval: float = 0.05,
) -> Any:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


@pytest.fixture(scope="session")
def dynamodb_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One DynamoDB Local (in memory) for the session; each test uses tables of its own."""
    from tests.services.notifications.dynamodb_local import dynamodb_local

    with dynamodb_local(tmp_path_factory.mktemp("dynamodb") / "dynamodb.log") as endpoint:
        yield endpoint


@pytest.fixture
def restored_environ() -> Iterator[None]:
    """For in-process CLI runs: the CLI sets PANTHERA_* variables for the processes it
    starts (the data directory, the distributed defaults); no test may leak them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
