"""Server-side sessions: the browser holds only a random id in an httpOnly cookie.

A signed-in session keeps the API's access and refresh tokens, so they never
reach page JavaScript. Embedded, sessions live in this process's memory;
distributed, in Redis, so that any replica serves any request. Unlike a cache,
a session store does not fail soft: a Redis outage answers 503 rather than
quietly signing everyone out.

The cookie's value starts with `a` for a visitor who never signed in and `s`
for a signed-in one; a session id without a record then means "expired".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeGuard

from redis.asyncio import Redis
from redis.exceptions import RedisError

COOKIE = "panthera_session"


class SessionsUnavailable(Exception):
    """The session store cannot be reached."""


@dataclass
class Session:
    """What a signed-in visitor's id stands for."""

    access_token: str
    refresh_token: str
    expires_at: float
    """Wall-clock time (epoch seconds) at which the access token expires."""
    user: dict[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.user.get("role") == "admin"

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Session:
        return cls(**json.loads(raw))


def new_id(*, signed_in: bool) -> str:
    return ("s" if signed_in else "a") + secrets.token_urlsafe(32)


def is_signed_in_id(session_id: str) -> bool:
    return session_id.startswith("s")


def valid_id(value: str | None) -> TypeGuard[str]:
    return value is not None and len(value) == 44 and value[0] in "as"


class SessionStore(Protocol):
    async def get(self, session_id: str) -> Session | None: ...

    async def put(self, session_id: str, session: Session, *, ttl_seconds: int) -> None: ...

    async def delete(self, session_id: str) -> None: ...

    def lock(self, session_id: str) -> Any:
        """An async context manager: one token refresh per session at a time."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class MemorySessions:
    """Sessions of the embedded topology: one process, one dict."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def get(self, session_id: str) -> Session | None:
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[session_id]
            return None
        return Session.from_bytes(entry[1])

    async def put(self, session_id: str, session: Session, *, ttl_seconds: int) -> None:
        if len(self._entries) >= self.max_entries:
            self._evict_expired()
        self._entries[session_id] = (time.monotonic() + ttl_seconds, session.to_bytes())

    async def delete(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(session_id, (asyncio.Lock(), 0))
        self._locks[session_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[session_id]
            if users == 1:
                del self._locks[session_id]  # nobody else holds or awaits it
            else:
                self._locks[session_id] = (lock, users - 1)

    def _evict_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_entries:  # still full: drop the oldest
            del self._entries[next(iter(self._entries))]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()


class RedisSessions:
    """Sessions shared by every web replica."""

    def __init__(self, url: str, *, prefix: str, timeout_seconds: float = 1.0) -> None:
        self.prefix = prefix
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )

    async def get(self, session_id: str) -> Session | None:
        try:
            raw = await self._redis.get(self.prefix + session_id)
        except RedisError as exc:
            raise SessionsUnavailable(str(exc)) from exc
        return Session.from_bytes(raw) if isinstance(raw, bytes) else None

    async def put(self, session_id: str, session: Session, *, ttl_seconds: int) -> None:
        try:
            await self._redis.set(self.prefix + session_id, session.to_bytes(), ex=ttl_seconds)
        except RedisError as exc:
            raise SessionsUnavailable(str(exc)) from exc

    async def delete(self, session_id: str) -> None:
        try:
            await self._redis.delete(self.prefix + session_id)
        except RedisError as exc:
            raise SessionsUnavailable(str(exc)) from exc

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        # Replicas refreshing one session at once would spend its refresh token twice,
        # which the users service treats as theft and answers by revoking the session.
        lock = self._redis.lock(f"{self.prefix}lock:{session_id}", timeout=15, blocking_timeout=15)
        try:
            acquired = await lock.acquire()
        except RedisError as exc:
            raise SessionsUnavailable(str(exc)) from exc
        if not acquired:
            raise SessionsUnavailable("a token refresh of this session is stuck")
        try:
            yield
        finally:
            with contextlib.suppress(RedisError):  # it expires by itself
                await lock.release()

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise SessionsUnavailable(str(exc)) from exc

    async def close(self) -> None:
        await self._redis.aclose()


class Csrf:
    """Tokens bound to the visitor's session id by a keyed hash (HMAC).

    A form from another site cannot carry the right token: it cannot read the
    httpOnly cookie, and without the key it cannot compute the token.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def valid(self, session_id: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.token(session_id), token or "")


def load_or_create_secret(path: Path) -> bytes:
    """A random key kept in `path`; replicas starting together agree on the first one written."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(secrets.token_hex(32).encode())
    temporary.chmod(0o600)
    try:
        os.link(temporary, path)  # fails if another process got there first: keep theirs
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes().strip()
