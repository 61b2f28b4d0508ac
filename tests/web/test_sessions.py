"""Session stores: memory (embedded) and Redis (distributed, the machine's real Redis)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from panthera.testing.ports import free_port
from panthera.web.sessions import (
    MemorySessions,
    RedisSessions,
    Session,
    SessionStore,
    SessionsUnavailable,
    new_id,
)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessions()
        return
    redis_store = RedisSessions(
        "redis://127.0.0.1:6379/0", prefix=f"t{uuid.uuid4().hex[:8]}:session:"
    )
    yield redis_store
    await redis_store.close()


def a_session(refresh: str = "r1") -> Session:
    return Session(
        access_token="a1",
        refresh_token=refresh,
        expires_at=time.time() + 900,
        user={"id": "u1", "role": "customer"},
    )


async def test_a_session_is_kept_until_deleted_or_expired(store: SessionStore) -> None:
    kept, brief = new_id(signed_in=True), new_id(signed_in=True)
    await store.put(kept, a_session(), ttl_seconds=60)
    await store.put(brief, a_session(), ttl_seconds=1)
    found = await store.get(kept)
    assert found is not None and found.user["id"] == "u1" and not found.is_admin
    await asyncio.sleep(1.2)
    assert await store.get(brief) is None
    await store.delete(kept)
    assert await store.get(kept) is None
    assert await store.get(new_id(signed_in=True)) is None


async def test_one_refresh_at_a_time_per_session(store: SessionStore) -> None:
    session_id = new_id(signed_in=True)
    inside: list[int] = []
    overlaps: list[int] = []

    async def refresh(n: int) -> None:
        async with store.lock(session_id):
            if inside:
                overlaps.append(n)
            inside.append(n)
            await asyncio.sleep(0.05)
            inside.remove(n)

    await asyncio.gather(*(refresh(n) for n in range(5)))
    assert overlaps == []


async def test_a_redis_that_cannot_be_reached_is_reported_not_taken_for_no_session() -> None:
    dead = RedisSessions(f"redis://127.0.0.1:{free_port()}/0", prefix="x:", timeout_seconds=0.3)
    try:
        with pytest.raises(SessionsUnavailable):
            await dead.get(new_id(signed_in=True))
        with pytest.raises(SessionsUnavailable):
            await dead.ping()
    finally:
        await dead.close()
