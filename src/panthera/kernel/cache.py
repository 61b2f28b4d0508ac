"""The cache port and its adapters: in-process memory, or Redis shared by replicas.

A cache is an optimisation, never a dependency: every adapter fails soft. A
Redis that is down or slow turns reads into misses and writes into no-ops
(logged), so callers fall back to their database instead of failing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

log = structlog.get_logger("panthera.cache")

CACHE_LOOKUPS = Counter(
    "panthera_cache_lookups_total",
    "Cache reads by result: hit, miss, or error (the store failed; read as a miss)",
    ["cache", "result"],
)


def _count(name: str) -> dict[str, Counter]:
    """The cache's counters, created at zero so its hit ratio exists before its first read."""
    return {result: CACHE_LOOKUPS.labels(name, result) for result in ("hit", "miss", "error")}


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl_seconds: int) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """A bounded LRU with expiry, for the embedded topology (one process)."""

    def __init__(self, max_entries: int = 10_000, *, name: str = "default") -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lookups = _count(name)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            self._lookups["miss"].inc()
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            self._lookups["miss"].inc()
            return None
        self._entries.move_to_end(key)
        self._lookups["hit"].inc()
        return value

    async def set(self, key: str, value: bytes, *, ttl_seconds: int) -> None:
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    """Redis with short timeouts; after a failure it rests before trying again.

    The rest keeps an outage from adding a connect timeout to every request.
    Entries carry a TTL, which bounds how long an invalidation lost during an
    outage can leave a stale value behind.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "panthera:",
        timeout_seconds: float = 0.25,
        retry_after_seconds: float = 5.0,
        name: str = "default",
    ) -> None:
        self.prefix = prefix
        self._lookups = _count(name)
        self.retry_after_seconds = retry_after_seconds
        self._down_until = 0.0
        self._redis: Redis = Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry_on_timeout=False,
        )

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, exc: Exception) -> None:
        self._down_until = time.monotonic() + self.retry_after_seconds
        log.warning("cache_unavailable", operation=operation, error=f"{type(exc).__name__}: {exc}")

    async def get(self, key: str) -> bytes | None:
        if not self._available():
            self._lookups["error"].inc()
            return None
        try:
            value = await self._redis.get(self.prefix + key)
        except Exception as exc:
            self._failed("get", exc)
            self._lookups["error"].inc()
            return None
        found = value if isinstance(value, bytes) else None
        self._lookups["hit" if found is not None else "miss"].inc()
        return found

    async def set(self, key: str, value: bytes, *, ttl_seconds: int) -> None:
        if not self._available():
            return
        try:
            await self._redis.set(self.prefix + key, value, ex=ttl_seconds)
        except Exception as exc:
            self._failed("set", exc)

    async def delete(self, *keys: str) -> None:
        # Deletes are tried even while resting: a lost invalidation is worse than a slow one.
        if not keys:
            return
        try:
            await self._redis.delete(*(self.prefix + key for key in keys))
        except Exception as exc:
            self._failed("delete", exc)

    async def close(self) -> None:
        try:
            await self._redis.aclose()
        except Exception as exc:  # closing a dead connection must not fail a shutdown
            log.warning("cache_close_failed", error=str(exc))


def create_cache(redis_url: str | None, *, prefix: str = "panthera:", name: str = "") -> Cache:
    """Redis when the platform has one configured, otherwise memory.

    `prefix` starts with the deployment's (`Settings.redis_prefix`), so that deployments
    sharing one Redis share no entry: e.g. `settings.redis_prefix + "catalog:"`.

    `name` labels its metrics (`panthera_cache_lookups_total{cache=...}`); unset, it is
    the last part of `prefix` (`panthera:catalog:` -> `catalog`).
    """
    name = name or next((p for p in reversed(prefix.split(":")) if p), "default")
    if redis_url:
        return RedisCache(redis_url, prefix=prefix, name=name)
    return MemoryCache(name=name)
