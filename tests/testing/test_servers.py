"""The testing helpers: private servers, and the guard that sees a machine service restarted."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
import redis

from panthera.testing.machine import Listeners, RedisSentinel, listener_pid
from panthera.testing.ports import free_port, listening
from panthera.testing.servers import PrivateServer


def test_free_port_is_free() -> None:
    assert not listening(free_port())


def test_a_private_redis_keeps_its_port_across_an_outage(private_redis: PrivateServer) -> None:
    client = redis.Redis.from_url(private_redis.url)
    assert client.ping()
    first = private_redis.pid
    assert listener_pid(private_redis.port) == first
    private_redis.stop()
    assert not listening(private_redis.port)
    private_redis.start()
    assert client.ping()
    assert private_redis.pid != first
    client.close()


async def test_a_private_nats_keeps_its_streams_across_an_outage(
    private_nats: PrivateServer,
) -> None:
    client = await nats.connect(private_nats.url)
    await client.jetstream().add_stream(name="KEPT", subjects=["kept.>"])
    await client.close()
    private_nats.stop()
    private_nats.start()
    client = await nats.connect(private_nats.url)
    try:
        names = [info.config.name for info in await client.jetstream().streams_info()]
    finally:
        await client.close()
    assert names == ["KEPT"]


def test_the_guard_sees_a_restarted_server(tmp_path: Path, private_redis: PrivateServer) -> None:
    # The guard's logic, pointed at a server this test may restart.
    ports = {"redis": private_redis.port}
    before = Listeners({"redis": listener_pid(private_redis.port)})
    sentinel = RedisSentinel(private_redis.url)
    sentinel.place()
    private_redis.stop()
    private_redis.start()
    after = Listeners({"redis": listener_pid(private_redis.port)})
    assert after.changes_since(before, ports=ports) == [
        f"the machine's redis (port {private_redis.port}) was pid {before.pids['redis']}, "
        f"is now {after.pids['redis']}"
    ]
    assert not sentinel.kept()  # started empty: the key is gone, as data would be


def test_the_guard_finds_the_process_redis_says_it_is() -> None:
    if not listening(6379):
        pytest.skip("no Redis on this machine")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        info = client.info("server")
    finally:
        client.close()
    seen = Listeners.now().pids["redis"]
    if seen is None:
        pytest.skip("Redis runs as another user, whose sockets this user cannot see")
    assert seen == info["process_id"]
