"""The cache port: memory and Redis adapters, and Redis failing soft."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from panthera.kernel.cache import MemoryCache, RedisCache, create_cache
from panthera.testing.ports import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_memory_cache_stores_expires_and_deletes() -> None:
    cache = MemoryCache()
    await cache.set("a", b"1", ttl_seconds=60)
    await cache.set("b", b"2", ttl_seconds=1)
    assert await cache.get("a") == b"1"
    await cache.delete("a", "missing")
    assert await cache.get("a") is None
    cache._entries["b"] = (time.monotonic() - 1, b"2")  # as if its second had passed
    assert await cache.get("b") is None


async def test_memory_cache_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1", ttl_seconds=60)
    await cache.set("b", b"2", ttl_seconds=60)
    await cache.get("a")
    await cache.set("c", b"3", ttl_seconds=60)
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1" and await cache.get("c") == b"3"


def test_configuration_chooses_the_adapter() -> None:
    assert isinstance(create_cache(None), MemoryCache)
    assert isinstance(create_cache(REDIS_URL), RedisCache)


@pytest.fixture
async def redis_cache() -> AsyncIterator[RedisCache]:
    cache = RedisCache(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    yield cache
    await cache.close()


@pytest.mark.integration
async def test_redis_cache_round_trip(redis_cache: RedisCache) -> None:
    assert await redis_cache.get("k") is None
    await redis_cache.set("k", b"value", ttl_seconds=30)
    assert await redis_cache.get("k") == b"value"
    ttl = await redis_cache._redis.ttl(redis_cache.prefix + "k")
    assert 0 < ttl <= 30
    await redis_cache.delete("k")
    assert await redis_cache.get("k") is None


@pytest.mark.integration
async def test_redis_cache_entries_expire(redis_cache: RedisCache) -> None:
    await redis_cache.set("short", b"x", ttl_seconds=1)
    await asyncio.sleep(1.2)
    assert await redis_cache.get("short") is None


async def test_unreachable_redis_degrades_to_misses_quickly() -> None:
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", retry_after_seconds=60)
    started = time.monotonic()
    await cache.set("k", b"v", ttl_seconds=10)
    assert await cache.get("k") is None
    await cache.delete("k")
    # Resting after the first failure: later calls do not even try to connect.
    for _ in range(100):
        assert await cache.get("k") is None
    assert time.monotonic() - started < 2
    await cache.close()


@pytest.mark.integration
async def test_a_redis_that_comes_back_is_used_again(redis_cache: RedisCache) -> None:
    redis_cache.retry_after_seconds = 0.1
    redis_cache._failed("get", ConnectionError("simulated outage"))
    assert await redis_cache.get("k") is None  # resting
    await asyncio.sleep(0.15)
    await redis_cache.set("k", b"back", ttl_seconds=10)
    assert await redis_cache.get("k") == b"back"
