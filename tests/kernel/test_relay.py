"""The outbox relay and the inbox consumer on the in-process bus (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import REGISTRY

from panthera.kernel.bus import EventBus
from panthera.kernel.bus.inprocess import InProcessBus
from panthera.kernel.bus.settings import BusSettings
from panthera.kernel.consumer import Consumer
from panthera.kernel.events import Event, Received
from panthera.kernel.relay import OutboxRelay
from tests.conftest import eventually
from tests.kernel.events_fixture import Mini, ThingHappened, inbox, mini, record_effect

__all__ = ["mini"]

TYPE = "shop.thing.happened"


def consumer(mini: Mini, name: str = "watcher") -> Consumer:
    return Consumer(
        name=name,
        uow=mini.uow,
        inbox=inbox,
        handlers={ThingHappened: record_effect},
        runtime=lambda: None,
    )


async def subscribed_bus(mini: Mini, **settings: object) -> InProcessBus:
    bus = InProcessBus(BusSettings(inprocess_backoff_seconds=[0.001], **settings))  # type: ignore[arg-type]
    watcher = consumer(mini)
    await bus.subscribe(consumer=watcher.name, types=watcher.types, deliver=watcher.handle)
    return bus


def relay(mini: Mini, bus: EventBus, batch_size: int = 100) -> OutboxRelay:
    return OutboxRelay(
        service="shop", db=mini.db, outbox=mini.outbox, bus=bus, batch_size=batch_size
    )


async def test_committed_events_are_delivered_once_in_order(mini: Mini) -> None:
    events = await mini.record(25)
    with pytest.raises(RuntimeError):
        async with mini.uow.write() as tx:
            tx.record(ThingHappened(seq=99))
            raise RuntimeError("the use case failed: its event must not exist")
    bus = await subscribed_bus(mini)
    assert await relay(mini, bus, batch_size=10).publish_pending() == 10
    assert await relay(mini, bus, batch_size=100).publish_pending() == 15
    assert await relay(mini, bus).publish_pending() == 0
    assert await mini.effects() == [(e.id, e.data["seq"]) for e in events]
    assert await mini.unpublished() == 0


class CrashingBus:
    """Delivers like the in-process bus, then dies after the n-th event, before the relay
    can mark anything published (as a process killed mid-batch would)."""

    def __init__(self, inner: InProcessBus, crash_after: int) -> None:
        self.inner = inner
        self.settings = inner.settings
        self.left = crash_after

    async def publish(self, event: Event) -> None:
        await self.inner.publish(event)
        self.left -= 1
        if self.left == 0:
            raise ConnectionError("killed")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_crash_mid_batch_redelivers_and_the_inbox_drops_repeats(mini: Mini) -> None:
    events = await mini.record(10)
    bus = await subscribed_bus(mini)
    crashing = relay(mini, CrashingBus(bus, crash_after=4))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await crashing.publish_pending()
    # The first three were marked in the failed batch's transaction; the fourth was
    # delivered but not marked, so the restarted relay delivers it again.
    assert await mini.unpublished() == 7
    assert await relay(mini, bus).publish_pending() == 7
    assert await mini.effects() == [(e.id, e.data["seq"]) for e in events]


async def test_a_failing_handler_leaves_no_trace_and_is_retried(mini: Mini) -> None:
    [event] = await mini.record(1)
    failures = 2
    watcher = consumer(mini)

    async def flaky(e: Event) -> object:
        nonlocal failures
        if failures:
            failures -= 1
            # The effect and the inbox row are in one transaction: both roll back.
            async with mini.uow.write() as tx:
                await record_effect(Received(e, ThingHappened(seq=e.data["seq"])), tx, None)
                raise RuntimeError("transient")
        return await watcher.handle(e)

    bus = InProcessBus(BusSettings(inprocess_backoff_seconds=[0.001]))
    await bus.subscribe(consumer="watcher", types=[TYPE], deliver=flaky)
    assert await relay(mini, bus).publish_pending() == 1
    assert await mini.effects() == [(event.id, 0)]
    assert not bus.dead_letters


async def test_a_poison_event_is_dead_lettered_after_max_deliver(mini: Mini) -> None:
    await mini.record(2)
    attempts = 0

    async def poison(e: Event) -> object:
        nonlocal attempts
        if e.data["seq"] == 0:
            attempts += 1
            raise ValueError("bug")
        return None

    bus = InProcessBus(BusSettings(max_deliver=3, inprocess_backoff_seconds=[0.001]))
    await bus.subscribe(consumer="watcher", types=[TYPE], deliver=poison)
    # The relay moves on: one bad event does not hold back the next.
    assert await relay(mini, bus).publish_pending() == 2
    assert attempts == 3
    assert [(c, e.data["seq"]) for c, e, _ in bus.dead_letters] == [("watcher", 0)]


async def test_reprocessing_runs_a_handled_event_again(mini: Mini) -> None:
    [event] = await mini.record(1)
    watcher = consumer(mini)
    assert await watcher.handle(event)
    assert not await watcher.handle(event)
    assert await watcher.handle(event, reprocess=True)
    assert len(await mini.effects()) == 2


async def test_the_running_relay_publishes_on_commit_without_waiting_for_a_poll(
    mini: Mini,
) -> None:
    bus = await subscribed_bus(mini)
    slow_poll = OutboxRelay(
        service="shop", db=mini.db, outbox=mini.outbox, bus=bus, poll_seconds=60
    )
    async with slow_poll.running():
        [first] = await mini.record(1)
        await eventually(mini.effects, timeout=30)  # by the first pass, or woken by the commit
        # The relay read the outbox before delivering that: with the next poll a minute
        # away, only the commit's wake-up can publish what commits now, whatever the timing.
        [event] = await mini.record(1)

        async def both() -> list[tuple[uuid.UUID, int]]:
            found = await mini.effects()
            return found if len(found) == 2 else []

        effects = await eventually(both, timeout=30)
    assert effects == [(first.id, 0), (event.id, 0)]


@pytest.mark.integration
@pytest.mark.parametrize("db_backend", ["postgresql"])
async def test_concurrent_relays_keep_order_and_publish_once(mini: Mini) -> None:
    events = await mini.record(60)
    bus = await subscribed_bus(mini)
    relays = [relay(mini, bus, batch_size=7) for _ in range(3)]

    async def drain(r: OutboxRelay) -> None:
        while await mini.unpublished():
            await r.publish_pending()

    await asyncio.gather(*(drain(r) for r in relays))
    assert await mini.effects() == [(e.id, e.data["seq"]) for e in events]


@pytest.mark.integration
@pytest.mark.parametrize("db_backend", ["postgresql"])
async def test_an_event_committed_late_with_a_lower_position_is_not_lost(mini: Mini) -> None:
    bus = await subscribed_bus(mini)
    # A slow use case takes a position first and commits last.
    slow = mini.db.sessions()
    await slow.begin()
    late = Event.of(ThingHappened(seq=1))
    await mini.outbox.insert(slow, [late])
    [early] = await mini.record(1)

    class CommitsTheSlowOneMeanwhile:
        settings = bus.settings

        async def publish(self, event: Event) -> None:
            await bus.publish(event)
            if slow.in_transaction():
                await slow.commit()

    assert await relay(mini, CommitsTheSlowOneMeanwhile()).publish_pending() == 1  # type: ignore[arg-type]
    await slow.close()
    # Committed while the relay was publishing, below the published position: still due.
    assert await mini.unpublished() == 1
    assert await relay(mini, bus).publish_pending() == 1
    assert {event_id for event_id, _ in await mini.effects()} == {early.id, late.id}


async def test_relay_lag_is_the_age_of_the_oldest_unpublished_event(mini: Mini) -> None:
    def lag() -> float | None:
        return REGISTRY.get_sample_value(
            "panthera_outbox_oldest_unpublished_seconds", {"service": "shop"}
        )

    bus = await subscribed_bus(mini)
    shop = relay(mini, bus)
    assert lag() is not None  # exists before the first event
    await mini.record(2)
    await asyncio.sleep(0.3)
    await shop._report_backlog(force=True)
    waited = lag()
    assert waited is not None and 0.3 <= waited < 30
    await shop.publish_pending()
    await shop._report_backlog(force=True)
    assert lag() == 0
