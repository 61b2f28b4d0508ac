"""The embedded topology's bus: delivery inside the process, fed by the outbox relays.

`publish` hands the event to each subscribed consumer and returns only when
every one has committed its effect (or given up on it), so the relay marks a
row published only after that: a crash in between means the row is published
again after the restart, and the consumers' inboxes drop the repeat. The
outbox tables are the log; `replay` reads them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import structlog

from panthera.kernel.bus import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    REDELIVERIES,
    Deliver,
    Undeliverable,
    Unsubscribe,
    source_of,
)
from panthera.kernel.bus.settings import BusSettings
from panthera.kernel.database import Database
from panthera.kernel.events import Event

log = structlog.get_logger("panthera.bus")


@dataclass(frozen=True, eq=False)
class _Subscription:
    consumer: str
    types: frozenset[str]
    deliver: Deliver


class InProcessBus:
    def __init__(self, settings: BusSettings | None = None) -> None:
        self.settings = settings or BusSettings()
        self._subscriptions: list[_Subscription] = []
        self._observers: list[_Subscription] = []
        self._logs: dict[str, tuple[Database, sa.Table]] = {}
        # The most recent give-ups, for inspection; the log and a counter have them all.
        self.dead_letters: deque[tuple[str, Event, str]] = deque(maxlen=1000)

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def publish(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if event.type in subscription.types:
                await self._deliver(subscription, event)
        for observer in list(self._observers):
            if event.type in observer.types:
                try:
                    await observer.deliver(event)
                except Exception as exc:
                    log.warning("observer_failed", event_id=str(event.id), error=repr(exc))

    async def _deliver(self, subscription: _Subscription, event: Event) -> None:
        attempts = self.settings.max_deliver
        for attempt in range(1, attempts + 1):
            try:
                await subscription.deliver(event)
                return
            except Exception as exc:
                if attempt == attempts or isinstance(exc, Undeliverable):
                    DEAD_LETTERS.labels(subscription.consumer, event.type).inc()
                    self.dead_letters.append((subscription.consumer, event, repr(exc)))
                    log.error(
                        "event_dead_lettered",
                        consumer=subscription.consumer,
                        event_id=str(event.id),
                        type=event.type,
                        attempts=attempt,
                        error=repr(exc),
                    )
                    return
                REDELIVERIES.labels(subscription.consumer, event.type).inc()
                log.warning(
                    "event_redelivery",
                    consumer=subscription.consumer,
                    event_id=str(event.id),
                    type=event.type,
                    attempt=attempt,
                    error=repr(exc),
                )
                await asyncio.sleep(self.settings.backoff(attempt, inprocess=True))

    async def subscribe(
        self, *, consumer: str, types: Collection[str], deliver: Deliver
    ) -> Unsubscribe:
        subscription = _Subscription(consumer, frozenset(types), deliver)
        self._subscriptions.append(subscription)

        async def unsubscribe() -> None:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        return unsubscribe

    async def observe(self, *, types: Collection[str], deliver: Deliver) -> Unsubscribe:
        observer = _Subscription("observer", frozenset(types), deliver)
        self._observers.append(observer)

        async def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def report_backlog(self, source: str, backlog: int) -> None:
        # Delivery is synchronous with the relay: what a consumer still waits for
        # is exactly what the source has not published yet.
        for subscription in self._subscriptions:
            if any(source_of(t) == source for t in subscription.types):
                CONSUMER_LAG.labels(subscription.consumer, source).set(backlog)

    def attach_outbox(self, source: str, db: Database, table: sa.Table) -> None:
        self._logs[source] = (db, table)

    async def replay(self, *, types: Collection[str], since: datetime) -> AsyncIterator[Event]:
        wanted = set(types)
        for source in sorted({source_of(t) for t in wanted}):
            if source not in self._logs:
                log.warning("replay_source_not_hosted", source=source)
                continue
            db, table = self._logs[source]
            query = (
                sa.select(table.c.envelope)
                .where(
                    table.c.type.in_(wanted),
                    table.c.occurred_at >= since,
                    table.c.published_at.is_not(None),
                )
                .order_by(table.c.position)
            )
            async with db.read() as session:
                rows = (await session.scalars(query)).all()
            for envelope in rows:
                yield Event.model_validate(envelope)
