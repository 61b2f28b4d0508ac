"""Revoked token versions: kept a token's lifetime, shared through Redis by processes.

Runs against the machine's Redis (two `Revocations` are two processes' verifiers).
"""

from __future__ import annotations

import asyncio
import uuid

from panthera.kernel.auth.revocations import Revocations

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_a_floor_raised_in_one_process_holds_in_another_through_redis() -> None:
    users, orders = (Revocations(ttl_seconds=60, redis_url=REDIS_URL) for _ in range(2))
    user = uuid.uuid4()
    try:
        assert await orders.floor(user) == 0
        await users.revoke_below(user, 3)
        assert await orders.floor(user) == 3
        await orders.revoke_below(user, 2)  # a late, older event never lowers it
        assert await users.floor(user) == 3
    finally:
        await users.close()
        await orders.close()


async def test_a_floor_is_forgotten_once_every_older_token_has_expired() -> None:
    store = Revocations(ttl_seconds=1, redis_url=REDIS_URL)
    user = uuid.uuid4()
    try:
        await store.revoke_below(user, 1)
        assert await store.floor(user) == 1
        await asyncio.sleep(2.1)
        assert await store.floor(user) == 0
    finally:
        await store.close()


async def test_an_unreachable_redis_falls_back_to_what_the_process_heard() -> None:
    store = Revocations(ttl_seconds=60, redis_url="redis://127.0.0.1:1/0")
    user = uuid.uuid4()
    try:
        await store.revoke_below(user, 2)  # logged, not raised
        assert await store.floor(user) == 2
    finally:
        await store.close()
