"""What the gateway does to every routed request before a service sees it:
client rate limits and a short-lived cache of public catalog reads."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from starlette.types import Message, Scope, Send

from panthera.kernel.cache import Cache
from panthera.kernel.ratelimit import RateLimiter


def client_address(scope: Scope, *, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                return str(value.decode("latin-1").split(",", 1)[0].strip())
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


@dataclass(frozen=True)
class RateLimits:
    limiter: RateLimiter
    per_client: str
    per_route: str

    async def check(self, client: str, service: str) -> None:
        """Raise `TooManyRequests` (429 with Retry-After) past either limit."""
        await asyncio.gather(
            self.limiter.hit(self.per_client, "gw-client", client),
            self.limiter.hit(self.per_route, "gw-route", service, client),
        )


class EdgeCache:
    """Caches anonymous `GET`s of public reads for a few seconds.

    Only the short TTL bounds staleness at the edge; services invalidate their
    own caches on every change, which is what a client reading its own write
    through an authenticated request sees.
    """

    def __init__(self, cache: Cache, *, prefixes: tuple[str, ...], ttl_seconds: int) -> None:
        self.cache = cache
        self.prefixes = prefixes
        self.ttl_seconds = ttl_seconds

    def key_for(self, scope: Scope) -> str | None:
        if self.ttl_seconds <= 0 or scope["method"] != "GET":
            return None
        if not any(scope["path"].startswith(prefix) for prefix in self.prefixes):
            return None
        if any(name in (b"authorization", b"cookie") for name, _ in scope["headers"]):
            return None
        return f"gw:{scope['path']}?{scope['query_string'].decode('latin-1')}"

    async def replay(self, key: str, send: Send) -> bool:
        stored = await self.cache.get(key)
        if stored is None:
            return False
        entry = json.loads(stored)
        headers = [(k.encode(), v.encode()) for k, v in entry["headers"]]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"x-cache", b"hit")],
            }
        )
        await send({"type": "http.response.body", "body": entry["body"].encode("latin-1")})
        return True

    def recorder(self, key: str, send: Send) -> tuple[Send, _Recording]:
        recording = _Recording()

        async def send_and_record(message: Message) -> None:
            recording.observe(message)
            await send(message)

        return send_and_record, recording

    async def store(self, key: str, recording: _Recording) -> None:
        if recording.status != 200 or recording.too_big:
            return
        entry = {
            "headers": [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in recording.headers
                if k.lower() in _KEPT_HEADERS
            ],
            "body": b"".join(recording.body).decode("latin-1"),
        }
        await self.cache.set(key, json.dumps(entry).encode(), ttl_seconds=self.ttl_seconds)


_KEPT_HEADERS = frozenset({b"content-type", b"etag", b"cache-control", b"content-encoding"})
_MAX_CACHED_BYTES = 256 * 1024


class _Recording:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.too_big = False

    def observe(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body" and not self.too_big:
            chunk = message.get("body", b"")
            self.size += len(chunk)
            self.too_big = self.size > _MAX_CACHED_BYTES
            self.body.append(chunk)
