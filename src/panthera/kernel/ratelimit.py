"""Rate limiting on the `limits` library: memory in one process, Redis across many."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import cast

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from prometheus_client import Counter

from panthera.kernel.errors import TooManyRequests

log = structlog.get_logger("panthera.ratelimit")
_parse = lru_cache(maxsize=64)(parse)

REFUSALS = Counter(
    "panthera_rate_limit_refusals_total",
    "Requests refused (429) by a rate limit, by the limit's name (the key's first part)",
    ["limit"],
)


def declare_limits(*names: str) -> None:
    """Create the refusal counters of these limits at zero (before their first refusal)."""
    for name in names:
        REFUSALS.labels(name)


class RateLimiter:
    """Counts hits per key; fails open when its store is unreachable.

    Failing open is deliberate: a Redis outage must not lock every customer
    out; the outage is logged and the database-side checks still apply.
    """

    def __init__(
        self, redis_url: str | None = None, *, exact: bool = True, prefix: str = "panthera:"
    ) -> None:
        """`prefix`: the deployment's Redis key prefix (`Settings.redis_prefix`)."""
        self.storage: Storage = (
            # redis-py's asyncio client, already a dependency (limits defaults to coredis).
            cast(
                Storage,
                storage_from_string(
                    f"async+{redis_url}", implementation="redispy", key_prefix=f"{prefix}limits"
                ),
            )
            if redis_url
            else MemoryStorage()
        )
        # A moving window counts every hit (login limits: exact, and Retry-After is
        # true); a sliding window counter approximates it with two counters per key,
        # cheap enough for the gateway's per-request limits.
        self.strategy: MovingWindowRateLimiter | SlidingWindowCounterRateLimiter = (
            MovingWindowRateLimiter(self.storage)
            if exact
            else SlidingWindowCounterRateLimiter(self.storage)
        )

    async def hit(self, limit: str | RateLimitItem, *key: str) -> None:
        item = _parse(limit) if isinstance(limit, str) else limit
        try:
            allowed = await self.strategy.hit(item, *key)
            if allowed:
                return
            stats = await self.strategy.get_window_stats(item, *key)
        except Exception as exc:  # the store is down: fail open, loudly
            log.warning("rate_limit_store_unavailable", error=str(exc))
            return
        REFUSALS.labels(key[0] if key else "default").inc()
        retry_after = int(stats.reset_time - time.time()) + 1
        raise TooManyRequests("Too many attempts; try again later", retry_after=retry_after)
