"""The floor for a Python stack here: a bare ASGI app that answers with a value read from Redis.

Served by uvicorn exactly like the platform's processes; `benchmarks/gateway.py` starts it.
"""

from __future__ import annotations

import os
from typing import Any

import redis.asyncio as redis

_client = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
_KEY = os.environ.get("BENCH_KEY", "bench:product")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = await _client.get(_KEY) or b"{}"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
