"""What the embedded edge checks on every routed request before a service sees it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import Scope

from panthera.kernel.ratelimit import RateLimiter


def client_address(scope: Scope, *, trusted_hops: int) -> str:
    """The connection's peer, or with `trusted_hops` proxies in front, the address the
    farthest of them saw (counted from the right of X-Forwarded-For), as Envoy does."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if trusted_hops == 0:
        return peer
    forwarded = [
        entry.strip()
        for name, value in scope["headers"]
        if name == b"x-forwarded-for"
        for entry in value.decode("latin-1").split(",")
    ]
    return forwarded[-trusted_hops] if len(forwarded) >= trusted_hops else peer


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
