"""The rate limiter on memory and on the real Redis, and its fail-open rule."""

from __future__ import annotations

import uuid

import pytest

from panthera.kernel.errors import TooManyRequests
from panthera.kernel.ratelimit import RateLimiter
from panthera.testing.ports import free_port


@pytest.mark.parametrize(
    "redis_url",
    [None, pytest.param("redis://127.0.0.1:6379/0", marks=pytest.mark.integration)],
)
async def test_allows_up_to_the_limit_then_429_with_retry_after(redis_url: str | None) -> None:
    limiter = RateLimiter(redis_url)
    key = uuid.uuid4().hex
    for _ in range(3):
        await limiter.hit("3/minute", "test", key)
    with pytest.raises(TooManyRequests) as raised:
        await limiter.hit("3/minute", "test", key)
    assert raised.value.headers is not None
    assert 1 <= int(raised.value.headers["Retry-After"]) <= 61
    await limiter.hit("3/minute", "test", uuid.uuid4().hex)  # other keys are untouched


async def test_an_unreachable_redis_fails_open() -> None:
    limiter = RateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    for _ in range(10):
        await limiter.hit("1/minute", "test", "same-key")
