"""The JetStream adapter against the machine's real NATS, in streams unique to each test."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from panthera.kernel.bus.jetstream import JetStreamBus
from panthera.kernel.bus.settings import BusSettings
from panthera.kernel.consumer import Consumer
from panthera.kernel.events import Event
from panthera.kernel.relay import OutboxRelay
from tests.conftest import eventually
from tests.kernel.events_fixture import Mini, ThingHappened, inbox, mini, record_effect

__all__ = ["mini"]

pytestmark = pytest.mark.integration

NATS_URL = os.environ.get("PANTHERA_TEST_NATS_URL", "nats://127.0.0.1:4222")
TYPE = "shop.thing.happened"


def isolated_settings(**overrides: object) -> BusSettings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "stream_prefix": f"T{tag}",
        "subject_prefix": f"t{tag}",
        "backoff_seconds": [0.2, 0.4],
        "ack_wait_seconds": 2.0,
        "lag_poll_seconds": 0.2,
        **overrides,
    }
    return BusSettings.model_validate(values)


@pytest.fixture
def bus_settings() -> BusSettings:
    return isolated_settings()


@pytest.fixture
async def bus(bus_settings: BusSettings) -> AsyncIterator[JetStreamBus]:
    bus = JetStreamBus(NATS_URL, bus_settings)
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.delete_streams(["shop"])
        await bus.close()


def event(seq: int = 0) -> Event:
    return Event(
        id=uuid.uuid4(),
        type=TYPE,
        occurredAt=datetime.now(UTC),
        source="shop",
        subject="thing-1",
        data={"seq": seq},
    )


async def stream_messages(bus: JetStreamBus, source: str = "shop") -> int:
    info = await bus.js.stream_info(bus.stream_name(source))
    return int(info.state.messages)


@pytest.mark.parametrize("db_backend", ["postgresql"])
async def test_a_pipelined_batch_reaches_the_stream_in_commit_order(
    bus: JetStreamBus, mini: Mini
) -> None:
    events = await mini.record(150)
    relay = OutboxRelay(service="shop", db=mini.db, outbox=mini.outbox, bus=bus)
    assert await relay.publish_pending() == 150
    assert await mini.unpublished() == 0
    received = [e async for e in bus.replay(types=[TYPE], since=events[0].occurredAt)]
    assert [e.id for e in received] == [e.id for e in events]


async def test_a_batch_counts_only_the_acknowledged_prefix(bus: JetStreamBus) -> None:
    # No stream stores `ghost` events (the bus is told it exists): JetStream refuses them.
    bus._streams.add(bus.stream_name("ghost"))
    shop = [Event.of(ThingHappened(seq=i)) for i in range(4)]
    ghost = shop[2].model_copy(update={"type": "ghost.thing.happened", "source": "ghost"})
    accepted, failure = await bus.publish_batch([shop[0], shop[1], ghost, shop[3]])
    assert accepted == 2
    assert failure is not None


@pytest.mark.parametrize("db_backend", ["postgresql"])
async def test_a_restarted_relay_publishes_nothing_twice(bus: JetStreamBus, mini: Mini) -> None:
    events = await mini.record(5)

    class DiesBeforeMarking(JetStreamBus):
        # The relay hands JetStream a batch with its acks pipelined: every event reaches
        # the stream, and the relay dies once the third one was acknowledged.
        async def publish_batch(self, batch: Sequence[Event]) -> tuple[int, Exception | None]:
            accepted, failure = await super().publish_batch(batch)
            assert (accepted, failure) == (5, None)
            return 2, ConnectionError("killed after the publish, before the mark")

    dying = DiesBeforeMarking(NATS_URL, bus.settings)
    await dying.connect()
    try:
        relay = OutboxRelay(service="shop", db=mini.db, outbox=mini.outbox, bus=dying)
        with pytest.raises(ConnectionError):
            await relay.publish_pending()
    finally:
        await dying.close()
    assert await mini.unpublished() == 3
    restarted = OutboxRelay(service="shop", db=mini.db, outbox=mini.outbox, bus=bus)
    assert await restarted.publish_pending() == 3
    # The third event went out twice; JetStream kept one copy (same Nats-Msg-Id).
    assert await stream_messages(bus) == 5
    received = [e async for e in bus.replay(types=[TYPE], since=events[0].occurredAt)]
    assert [e.id for e in received] == [e.id for e in events]


@pytest.mark.parametrize("db_backend", ["postgresql"])
async def test_two_replicas_share_a_durable_consumer_and_apply_each_event_once(
    bus: JetStreamBus, mini: Mini
) -> None:
    handled_by: dict[str, list[int]] = {"a": [], "b": []}
    replicas = []
    for name in handled_by:
        replica = JetStreamBus(NATS_URL, bus.settings)
        await replica.connect()
        consumer = Consumer(
            name="watcher",
            uow=mini.uow,
            inbox=inbox,
            handlers={ThingHappened: record_effect},
            runtime=lambda: None,
        )

        async def deliver(e: Event, name: str = name, consumer: Consumer = consumer) -> bool:
            handled = await consumer.handle(e)
            if handled:
                handled_by[name].append(e.data["seq"])
            return handled

        await replica.subscribe(consumer="watcher", types=[TYPE], deliver=deliver)
        replicas.append(replica)
    try:
        published = [event(i) for i in range(200)]
        for e in published:
            await bus.publish(e)

        async def all_applied() -> bool:
            return len(await mini.effects()) >= len(published)

        await eventually(all_applied, timeout=20)
        assert sorted(seq for _, seq in await mini.effects()) == list(range(200))
        # Both replicas worked, and no event was applied by both.
        assert handled_by["a"] and handled_by["b"]
        assert not set(handled_by["a"]) & set(handled_by["b"])
    finally:
        for replica in replicas:
            await replica.close()


async def test_a_failure_is_redelivered_after_the_backoff(bus: JetStreamBus) -> None:
    attempts: list[float] = []

    async def flaky(e: Event) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("transient")

    await bus.subscribe(consumer="watcher", types=[TYPE], deliver=flaky)
    await bus.publish(event())

    async def three() -> bool:
        return len(attempts) >= 3

    await eventually(three, timeout=10)
    # Naks carried the configured delays: 0.2 s, then 0.4 s.
    assert attempts[1] - attempts[0] >= 0.18
    assert attempts[2] - attempts[1] >= 0.38
    info = await bus.js.consumer_info(bus.stream_name("shop"), "watcher")
    await eventually(lambda: _acked(bus), timeout=5)
    assert info.config.max_deliver == bus.settings.max_deliver


async def _acked(bus: JetStreamBus) -> bool:
    info = await bus.js.consumer_info(bus.stream_name("shop"), "watcher")
    return not info.num_ack_pending and not info.num_pending


async def test_a_poison_event_goes_to_the_dead_letter_subject() -> None:
    settings = isolated_settings(max_deliver=3, backoff_seconds=[0.05])
    bus = JetStreamBus(NATS_URL, settings)
    await bus.connect()
    try:
        attempts = 0

        async def poison(e: Event) -> None:
            nonlocal attempts
            attempts += 1
            raise ValueError("a bug in the handler")

        await bus.subscribe(consumer="watcher", types=[TYPE], deliver=poison)
        bad = event()
        await bus.publish(bad)

        async def dead_lettered() -> int:
            return await stream_messages(bus, "deadletter")

        await eventually(dead_lettered, timeout=10)
        assert attempts == 3
        message = await bus.js.get_last_msg(
            bus.stream_name("deadletter"), bus.deadletter_subject("watcher", TYPE)
        )
        assert message.data is not None
        assert Event.model_validate_json(message.data).id == bad.id
        assert message.headers is not None
        assert "a bug in the handler" in message.headers["Panthera-Error"]
        # Terminated: no further delivery.
        await eventually(lambda: _acked(bus), timeout=5)
        assert attempts == 3
    finally:
        await bus.delete_streams(["shop"])
        await bus.close()


async def test_events_of_other_types_are_acked_and_skipped(bus: JetStreamBus) -> None:
    seen: list[str] = []

    async def deliver(e: Event) -> None:
        seen.append(e.type)

    await bus.subscribe(consumer="watcher", types=[TYPE], deliver=deliver)
    other = event().model_copy(update={"id": uuid.uuid4(), "type": "shop.thing.vanished"})
    await bus.publish(other)
    await bus.publish(event())
    await eventually(lambda: _seen(seen), timeout=5)
    await eventually(lambda: _acked(bus), timeout=5)
    assert seen == [TYPE]


async def _seen(seen: list[str]) -> bool:
    return bool(seen)


async def test_replay_reads_the_stream_from_a_time(bus: JetStreamBus) -> None:
    old = [event(i) for i in range(3)]
    for e in old:
        await bus.publish(e)
    await asyncio.sleep(0.01)
    since = datetime.now(UTC)
    new = [event(i) for i in range(3, 6)]
    for e in new:
        await bus.publish(e)
    replayed = [e.id async for e in bus.replay(types=[TYPE], since=since)]
    assert replayed == [e.id for e in new]
    everything = [e.id async for e in bus.replay(types=[TYPE], since=since - timedelta(hours=1))]
    assert everything == [e.id for e in old + new]


async def test_consumer_lag_is_reported(bus: JetStreamBus) -> None:
    from prometheus_client import REGISTRY

    gate = asyncio.Event()

    async def stuck(e: Event) -> None:
        await gate.wait()

    await bus.subscribe(consumer="laggard", types=[TYPE], deliver=stuck)
    for i in range(5):
        await bus.publish(event(i))

    async def lag() -> float:
        value = REGISTRY.get_sample_value(
            "panthera_consumer_lag", {"consumer": "laggard", "source": "shop"}
        )
        return value if value and value >= 5 else 0

    assert await eventually(lag, timeout=5) == 5
    gate.set()


async def test_streams_keep_the_configured_number_of_copies(bus: JetStreamBus) -> None:
    name = await bus.ensure_stream("shop")
    info = await bus.js.stream_info(name)
    assert info.config.num_replicas == 1


async def test_more_copies_than_the_servers_can_hold_is_a_clear_error() -> None:
    """The machine's NATS is one server: three copies cannot be placed."""
    settings = isolated_settings(stream_replicas=3)
    bus = JetStreamBus(NATS_URL, settings)
    with pytest.raises(RuntimeError, match="PANTHERA_EVENTS__STREAM_REPLICAS"):
        await bus.connect()
    with pytest.raises(ConnectionError, match="not connected"):
        await bus.ping()  # and nothing half-open is left behind
