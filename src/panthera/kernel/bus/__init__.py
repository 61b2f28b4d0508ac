"""The event bus port and the choice of adapter.

`publish` returns once the event is safe: handed to every in-process consumer
(embedded topology) or stored by JetStream (distributed topology). A consumer
subscribes with a name (its service) and a `Deliver` callable that raises to
ask for a redelivery; the adapters do retries, backoff and dead-lettering.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from prometheus_client import Counter, Gauge

from panthera.kernel.bus.settings import BusSettings
from panthera.kernel.database import Database
from panthera.kernel.events import Event
from panthera.kernel.settings import Settings

Deliver = Callable[[Event], Awaitable[object]]


class Undeliverable(Exception):
    """Raised by a consumer for an event that can never succeed (an unknown version,
    malformed data): the bus dead-letters it at once instead of retrying."""


Unsubscribe = Callable[[], Awaitable[None]]

CONSUMER_LAG = Gauge(
    "panthera_consumer_lag",
    "Events waiting for a consumer (JetStream: pending plus unacknowledged)",
    ["consumer", "source"],
)
DEAD_LETTERS = Counter(
    "panthera_events_dead_lettered_total",
    "Events given up on after the maximum number of deliveries",
    ["consumer", "type"],
)
REDELIVERIES = Counter(
    "panthera_events_redelivered_total",
    "Failed deliveries that will be retried",
    ["consumer", "type"],
)


class EventBus(Protocol):
    settings: BusSettings

    async def connect(self) -> None:
        """Open connections; counted, so that hosts sharing a bus may each call it."""

    async def close(self) -> None:
        """Undo one `connect`; the last one really closes."""

    async def ping(self) -> None:
        """Raise if the bus is unreachable (readiness)."""

    async def publish(self, event: Event) -> None: ...

    async def subscribe(
        self, *, consumer: str, types: Collection[str], deliver: Deliver
    ) -> Unsubscribe: ...

    async def observe(self, *, types: Collection[str], deliver: Deliver) -> Unsubscribe:
        """Hear every event of these types published from now on, in every process that
        observes (no queue group, no inbox, no retry): for in-memory state such as waking
        the requests waiting for an order's decision. A failure is logged, not retried."""
        ...

    def replay(self, *, types: Collection[str], since: datetime) -> AsyncIterator[Event]:
        """Every stored event of these types since a time, oldest first."""
        ...

    def report_backlog(self, source: str, backlog: int) -> None:
        """The relay of `source` tells how many events it has not published yet."""

    def attach_outbox(self, source: str, db: Database, table: sa.Table) -> None:
        """Where `source` keeps its events (the in-process bus replays from there)."""


def source_of(event_type: str) -> str:
    """`users.user.registered` comes from the `users` service."""
    return event_type.split(".", 1)[0]


def create_bus(settings: Settings, bus_settings: BusSettings | None = None) -> EventBus:
    """JetStream when `PANTHERA_NATS_URL` is set, in-process otherwise."""
    bus_settings = bus_settings or BusSettings()
    if settings.nats_url:
        from panthera.kernel.bus.jetstream import JetStreamBus

        return JetStreamBus(settings.nats_url, bus_settings)
    from panthera.kernel.bus.inprocess import InProcessBus

    return InProcessBus(bus_settings)
