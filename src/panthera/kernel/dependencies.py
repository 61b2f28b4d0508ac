"""What each process depends on, as Prometheus sees it: reachability and the database pools.

The composition root registers, per hosted service, a check for each
dependency it has (database, NATS, Redis, and the object store where one is
configured) and the service's database. Every scrape of `/metrics` runs the
checks first (concurrently, two seconds at most each), so
`panthera_dependency_up` is as fresh as the scrape; the pool gauges are read
from SQLAlchemy's pools at that moment too.

One registration per (service, dependency): a later one replaces it, which
keeps the labels bounded and lets a test process build platform after
platform. Gauges exist (at zero) from registration on, before the first scrape.
`/readyz` runs the same checks (`checks_of`), so readiness and the metric agree.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from prometheus_client import Gauge
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("panthera.dependencies")

Check = Callable[[], Awaitable[object]]
DEPENDENCIES = ("database", "nats", "redis", "object_store")

DEPENDENCY_UP = Gauge(
    "panthera_dependency_up",
    "1 when the process reached the dependency at the last scrape, else 0",
    ["service", "dependency"],
)
POOL_CONNECTIONS = Gauge(
    "panthera_db_pool_connections",
    "Database connections of the service's pool, in use or idle",
    ["service", "state"],
)
POOL_LIMIT = Gauge(
    "panthera_db_pool_max_connections",
    "Connections the service's pool may open (size plus overflow)",
    ["service"],
)


_checks: dict[tuple[str, str], Check] = {}
_pools: dict[str, AsyncEngine] = {}
_gauges: dict[str, Check] = {}


def watch(service: str, dependency: str, check: Check) -> None:
    """Check `dependency` of `service` at every scrape (one of DEPENDENCIES)."""
    if dependency not in DEPENDENCIES:
        raise ValueError(f"unknown dependency {dependency!r}: one of {DEPENDENCIES}")
    _checks[(service, dependency)] = check
    DEPENDENCY_UP.labels(service, dependency).set(0)


def unwatch(service: str, dependency: str) -> None:
    """Stop checking (a host that ends for good); its gauge goes with it."""
    if _checks.pop((service, dependency), None) is not None:
        DEPENDENCY_UP.remove(service, dependency)


def checks_of(services: Iterable[str]) -> list[tuple[str, Check]]:
    """The declared checks of `services`, named `service.dependency` (for `/readyz`, which
    thereby checks exactly what `panthera_dependency_up` reports)."""
    wanted = set(services)
    return [
        (f"{service}.{dependency}", check)
        for (service, dependency), check in sorted(_checks.items())
        if service in wanted
    ]


def watch_pool(service: str, engine: AsyncEngine) -> None:
    """Report the engine's pool (read at each scrape: an engine recreates it on dispose)."""
    _pools[service] = engine
    pool: Any = engine.pool  # QueuePool: size() and overflow; other pools report what they have
    size = pool.size() if hasattr(pool, "size") else 0
    POOL_LIMIT.labels(service).set(size + max(getattr(pool, "_max_overflow", 0), 0))
    for state in ("in_use", "idle"):
        POOL_CONNECTIONS.labels(service, state).set(0)


def at_scrape(name: str, update: Check) -> Callable[[], None]:
    """Run `update` before every scrape (gauges read from a database, such as the age of the
    oldest pending order) until the returned callable is called."""
    _gauges[name] = update
    return lambda: _gauges.pop(name, None) and None


async def _update(name: str, update: Check, timeout: float) -> None:  # noqa: ASYNC109
    try:
        await asyncio.wait_for(update(), timeout=timeout)
    except Exception as exc:  # the gauge keeps its last value; the scrape goes on
        log.info("scrape_update_failed", gauge=name, error=repr(exc))


async def refresh(timeout: float = 2.0) -> None:  # noqa: ASYNC109 (a bound per check)
    """Run every check and read every pool, for the scrape being answered."""

    async def probe(key: tuple[str, str], check: Check) -> None:
        try:
            await asyncio.wait_for(check(), timeout=timeout)
        except Exception as exc:
            DEPENDENCY_UP.labels(*key).set(0)
            log.info("dependency_unreachable", service=key[0], dependency=key[1], error=repr(exc))
        else:
            DEPENDENCY_UP.labels(*key).set(1)

    await asyncio.gather(
        *(probe(key, check) for key, check in list(_checks.items())),
        *(_update(name, update, timeout) for name, update in list(_gauges.items())),
    )
    for service, engine in list(_pools.items()):
        pool: Any = engine.pool
        with contextlib.suppress(Exception):  # a pool without these counts reports none
            POOL_CONNECTIONS.labels(service, "in_use").set(pool.checkedout())
            POOL_CONNECTIONS.labels(service, "idle").set(pool.checkedin())


def redis_check(url: str) -> Check:
    """A PING with short timeouts, on one client for the life of the process."""
    client: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def ping() -> object:
        return await client.ping()

    return ping
