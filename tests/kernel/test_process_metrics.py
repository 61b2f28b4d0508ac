"""Kernel metrics every process exports: dependency reachability, pools, cache, rate limits."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY

from panthera.app import Platform
from panthera.kernel import dependencies
from panthera.kernel.cache import MemoryCache, create_cache
from panthera.kernel.errors import TooManyRequests
from panthera.kernel.ratelimit import RateLimiter, declare_limits
from panthera.testing.ports import free_port


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def scraped(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    raise AssertionError(f"{name}{{{wanted}}} not in the scrape")


async def test_every_hosted_service_reports_its_database_and_pool(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    text = (await client.get("/metrics")).text
    for service in platform.hosts:
        assert scraped(text, "panthera_dependency_up", service=service, dependency="database") == 1
        assert scraped(text, "panthera_db_pool_max_connections", service=service) > 0
        for state in ("in_use", "idle"):
            assert scraped(text, "panthera_db_pool_connections", service=service, state=state) >= 0


@pytest.fixture
def only_our_checks() -> Iterator[None]:
    """Checks of this test alone: those other tests' platforms left are set aside."""
    saved = dict(dependencies._checks)
    dependencies._checks.clear()
    yield
    for service, dependency in list(dependencies._checks):
        dependencies.unwatch(service, dependency)
    dependencies._checks.update(saved)


@pytest.mark.usefixtures("only_our_checks")
async def test_an_unreachable_redis_reads_zero() -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    dependencies.watch("probe-test", "redis", dependencies.redis_check(nobody))
    assert sample("panthera_dependency_up", service="probe-test", dependency="redis") == 0
    await dependencies.refresh(timeout=3)
    assert sample("panthera_dependency_up", service="probe-test", dependency="redis") == 0


@pytest.mark.integration
@pytest.mark.usefixtures("only_our_checks")
async def test_the_machines_redis_reads_one() -> None:
    dependencies.watch("probe-test", "redis", dependencies.redis_check("redis://127.0.0.1:6379/0"))
    await dependencies.refresh(timeout=3)
    assert sample("panthera_dependency_up", service="probe-test", dependency="redis") == 1


def test_only_known_dependencies_are_watched() -> None:
    async def check() -> None:
        return None

    with pytest.raises(ValueError, match="unknown dependency"):
        dependencies.watch("users", "mainframe", check)


async def test_cache_lookups_are_counted_by_result_from_zero() -> None:
    cache = MemoryCache(name="metrics-test")
    assert sample("panthera_cache_lookups_total", cache="metrics-test", result="hit") == 0
    await cache.get("absent")
    await cache.set("there", b"1", ttl_seconds=60)
    await cache.get("there")
    await cache.get("there")
    assert sample("panthera_cache_lookups_total", cache="metrics-test", result="miss") == 1
    assert sample("panthera_cache_lookups_total", cache="metrics-test", result="hit") == 2
    create_cache(None, prefix="panthera:abc:catalog-metrics:")
    assert sample("panthera_cache_lookups_total", cache="catalog-metrics", result="miss") == 0


async def test_rate_limit_refusals_are_counted_by_limit() -> None:
    declare_limits("metrics-test-login")
    assert sample("panthera_rate_limit_refusals_total", limit="metrics-test-login") == 0
    limiter = RateLimiter()
    await limiter.hit("1/minute", "metrics-test-login", "someone")
    with pytest.raises(TooManyRequests):
        await limiter.hit("1/minute", "metrics-test-login", "someone")
    assert sample("panthera_rate_limit_refusals_total", limit="metrics-test-login") == 1
