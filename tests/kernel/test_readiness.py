"""`/readyz` follows the dependencies a process cannot serve without, and comes back with them.

Each dependency is the test's own: a private nats-server and redis-server on
free ports, killed and restarted by process id, and a TCP relay in front of the
machine's PostgreSQL whose stop makes the database unreachable. The machine's
own servers are never touched.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from panthera.app import Platform, create_platform
from panthera.kernel.settings import Settings
from panthera.testing.servers import PrivateServer, nats_server, redis_server
from tests.conftest import POSTGRES_URL, drop_schemas, eventually, fast_service_settings
from tests.engines import TcpRelay

pytestmark = pytest.mark.integration

SERVICE_CHECKS = ("catalog", "catalog.database", "catalog.nats", "catalog.redis")
READY = {"status": "ready", "checks": dict.fromkeys(SERVICE_CHECKS, "ok")}


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[PrivateServer]:
    server = nats_server(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateServer]:
    server = redis_server(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def database() -> AsyncIterator[TcpRelay]:
    target = urlsplit(POSTGRES_URL)
    relay = TcpRelay(target.hostname or "127.0.0.1", target.port or 5432)
    await relay.start()
    yield relay
    await relay.stop()


@pytest.fixture
async def http(
    tmp_path: Path, nats: PrivateServer, redis: PrivateServer, database: TcpRelay
) -> AsyncIterator[httpx.AsyncClient]:
    target = urlsplit(POSTGRES_URL)
    relayed = target._replace(netloc=f"{target.username}@127.0.0.1:{database.port}")
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=urlunsplit(relayed),
        schema_prefix=prefix,
        nats_url=f"nats://127.0.0.1:{nats.port}",
        redis_url=f"redis://127.0.0.1:{redis.port}/0",
        log_level="WARNING",
    )
    platform: Platform = create_platform(
        settings, services=["catalog"], service_settings=fast_service_settings()
    )
    try:
        async with platform.running():
            transport = httpx.ASGITransport(app=platform.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
                yield client
    finally:
        await drop_schemas(prefix)


async def readyz(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await http.get("/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def ready_again(http: httpx.AsyncClient) -> None:
    async def ready() -> bool:
        return await readyz(http) == (200, READY)

    await eventually(ready, timeout=60, interval=0.2)


async def dependency_up(http: httpx.AsyncClient, dependency: str) -> float:
    text = (await http.get("/metrics")).text
    line = f'panthera_dependency_up{{dependency="{dependency}",service="catalog"}}'
    values = [row.split()[-1] for row in text.splitlines() if row.startswith(line)]
    assert values, f"no {line} in /metrics"
    return float(values[0])


async def test_ready_while_every_dependency_answers(http: httpx.AsyncClient) -> None:
    assert await readyz(http) == (200, READY)


async def test_not_ready_without_the_database_and_ready_when_it_returns(
    http: httpx.AsyncClient, database: TcpRelay
) -> None:
    await database.stop()
    status, body = await readyz(http)
    assert status == 503, body
    assert body["detail"] == "Some dependencies are unavailable"
    failing = {name for name, state in body["checks"].items() if state != "ok"}
    assert failing == {"catalog", "catalog.database"}, body
    await database.start()
    await ready_again(http)


async def test_not_ready_without_nats_and_ready_when_it_returns(
    http: httpx.AsyncClient, nats: PrivateServer
) -> None:
    nats.stop()

    async def refused() -> dict[str, Any] | None:
        status, body = await readyz(http)
        return body if status == 503 else None

    body = await eventually(refused, timeout=30, interval=0.1)
    assert "NATS" in body["checks"]["catalog"], body
    assert body["checks"]["catalog.nats"] != "ok", body
    assert body["checks"]["catalog.redis"] == "ok", body
    nats.start()
    await ready_again(http)


async def test_not_ready_without_redis_yet_serving_and_ready_when_it_returns(
    http: httpx.AsyncClient, redis: PrivateServer
) -> None:
    """Redis holds caches and limits that fail soft: without it `/readyz` says so (503,
    naming it) while requests are still answered; the probes that decide traffic leave
    it out (`?exclude=redis`), so losing it takes no replica out of a load balancer."""
    assert await dependency_up(http, "redis") == 1
    redis.stop()
    status, body = await readyz(http)
    assert status == 503, body
    failing = {name for name, state in body["checks"].items() if state != "ok"}
    assert failing == {"catalog.redis"}, body
    assert await dependency_up(http, "redis") == 0
    traffic = await http.get("/readyz", params={"exclude": "redis"})
    assert traffic.status_code == 200, traffic.text
    assert traffic.json()["checks"]["catalog.redis"] == "skipped"
    assert (await http.get("/v1/products")).status_code == 200
    redis.start()
    await ready_again(http)
    assert await dependency_up(http, "redis") == 1
