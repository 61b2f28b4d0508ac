"""Which access tokens no longer count, although still well signed and unexpired.

Every access token carries its user's token version (`ver`). Deleting a user,
changing their role, changing their password or signing out everywhere raises
the user's version; from then on each service's verifier refuses tokens with a
lower one. A verifier remembers a user's floor for as long as a token issued
before it can live (the access token lifetime), then forgets it: such tokens
have expired by then anyway.

A version, not a time: a token issued right after the change, within the same
second, carries the new version and is accepted.

Floors are kept in memory (one process: the embedded topology) and, when
`PANTHERA_REDIS_URL` is set, in Redis too, so that every process of the
distributed topology sees a change the moment the users service makes it. A
Redis outage falls back to the process's own copy, which every process also
learns from the `users.sessions.revoked` event.
"""

from __future__ import annotations

import time
import uuid

import structlog
from redis.asyncio import Redis

log = structlog.get_logger("panthera.auth")


class MemoryFloors:
    """Floors of one process, each forgotten after its time to live."""

    def __init__(self) -> None:
        self._floors: dict[uuid.UUID, tuple[int, float]] = {}

    def get(self, user_id: uuid.UUID) -> int:
        entry = self._floors.get(user_id)
        if entry is None:
            return 0
        version, expires_at = entry
        if expires_at <= time.monotonic():
            del self._floors[user_id]
            return 0
        return version

    def raise_to(self, user_id: uuid.UUID, version: int, ttl_seconds: float) -> None:
        if version > self.get(user_id):
            self._floors[user_id] = (version, time.monotonic() + ttl_seconds)
            self._forget_expired()

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for user_id in [u for u, (_, until) in self._floors.items() if until <= now]:
            del self._floors[user_id]


# Raise, never lower: two changes racing leave the higher floor, in one round trip.
_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


class Revocations:
    """The lowest token version each user's tokens must carry, for a token's lifetime."""

    def __init__(
        self, *, ttl_seconds: float, redis_url: str | None = None, prefix: str = "panthera:"
    ) -> None:
        self.ttl_seconds = ttl_seconds
        # The deployment's key prefix (Settings.redis_prefix): deployments sharing one Redis
        # never see each other's floors.
        self.prefix = prefix
        self.local = MemoryFloors()
        self._redis: Redis | None = Redis.from_url(redis_url) if redis_url else None

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}token-floor:{user_id}"

    async def floor(self, user_id: uuid.UUID) -> int:
        """Tokens of `user_id` with a lower version than this are revoked."""
        local = self.local.get(user_id)
        if self._redis is None:
            return local
        try:
            shared = await self._redis.get(self._key(user_id))
        except Exception as exc:  # Redis is down: what this process heard still holds
            log.warning("revocation_store_unavailable", error=str(exc))
            return local
        return max(local, int(shared or 0))

    async def revoke_below(
        self, user_id: uuid.UUID, version: int, *, ttl_seconds: float | None = None
    ) -> None:
        """From now on, refuse tokens of `user_id` with a version below `version`
        (for `ttl_seconds`, by default an access token's lifetime)."""
        ttl = self.ttl_seconds if ttl_seconds is None else ttl_seconds
        if ttl <= 0:
            return
        self.local.raise_to(user_id, version, ttl)
        if self._redis is None:
            return
        try:
            await self._redis.eval(_RAISE, 1, self._key(user_id), str(version), str(int(ttl) + 1))
        except Exception as exc:
            log.warning("revocation_store_unavailable", error=str(exc))

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
