"""The outbox relay: publishes a service's committed outbox rows, oldest first.

Rows are read in position order and handed to the bus in that order; a bus
that can (JetStream) keeps many publications in flight on its one connection,
which stores them in the order sent, and reports which ones were acknowledged.
`published_at` is set, in one statement, only for the rows from the start of
the batch up to the first one not acknowledged: a relay killed mid-batch leaves
the rows unpublished and publishes them again when it restarts; JetStream drops
the repeats by message id (the event id) and the consumers' inboxes drop
anything older than the deduplication window.

The relay wakes on each commit that recorded events in its process and
otherwise polls rarely (`relay_poll_seconds`), with one cheap read, for rows
written elsewhere (another replica, a tool). The backlog gauges are computed
when Prometheus scrapes, not on a timer.

Several replicas of a service may each run a relay: on PostgreSQL one holds a
transaction-scoped advisory lock per outbox and the others skip their turn,
which keeps the order (SKIP LOCKED would let two relays interleave a subject).
A SQLite file belongs to one process, where the relay's own lock does the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any

import sqlalchemy as sa
import structlog
from opentelemetry import trace
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel import dependencies, tracing
from panthera.kernel.bus import EventBus
from panthera.kernel.database import Database, utcnow
from panthera.kernel.events import Event
from panthera.kernel.outbox import Outbox
from panthera.kernel.wakeup import stop_loop, woken_or_timed_out

OUTBOX_BACKLOG = Gauge("panthera_outbox_backlog", "Outbox rows not yet published", ["service"])
PUBLISHED = Counter("panthera_events_published_total", "Events published by the relay", ["service"])
RELAY_LAG = Gauge(
    "panthera_outbox_oldest_unpublished_seconds",
    "Age of the oldest outbox row not yet published (0 when none)",
    ["service"],
)

# How soon a relay woken by a commit tries again while another replica's relay publishes.
ELSEWHERE_RETRY_SECONDS = 0.1

log = structlog.get_logger("panthera.relay")
Row = sa.Row[Any]


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        db: Database,
        outbox: Outbox,
        bus: EventBus,
        batch_size: int | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self.service = service
        self.db = db
        self.outbox = outbox
        self.table = outbox.table
        self.bus = bus
        self.batch_size = batch_size or bus.settings.relay_batch_size
        self.poll_seconds = poll_seconds or bus.settings.relay_poll_seconds
        self._wake = asyncio.Event()
        self._published: list[int] = []
        self._backlog_checked = 0.0
        self._turn = asyncio.Lock()
        self._elsewhere = False
        """The last batch was not ours to publish: another replica's relay held the turn."""
        OUTBOX_BACKLOG.labels(service)
        PUBLISHED.labels(service)
        RELAY_LAG.labels(service)

    def _select_batch(self) -> sa.Select[Any]:
        t = self.table
        return (
            sa.select(t.c.position, t.c.envelope)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.position)
            .limit(self.batch_size)
        )

    async def _mark(self, session: AsyncSession) -> None:
        # Exactly the rows published, never a range: a transaction that took a
        # lower position may commit after our read, and must stay unpublished.
        # One statement for the batch (a batch is at most `relay_batch_size` rows).
        t = self.table
        positions: Any = (
            t.c.position.in_(self._published)
            if self.db.is_sqlite
            else t.c.position == sa.any_(sa.literal(self._published, sa.ARRAY(sa.BigInteger())))
        )
        await session.execute(t.update().where(positions).values(published_at=utcnow()))

    def _carried(self, row: Row) -> Event:
        event = Event.model_validate(row.envelope)
        with tracing.continued(
            event.traceContext, f"publish {event.type}", kind=trace.SpanKind.PRODUCER
        ):
            # Consumers continue the publication, which continues the recording.
            return event.model_copy(update={"traceContext": tracing.current_context()})

    async def _publish(self, rows: Sequence[Row]) -> Exception | None:
        """Publish rows in order up to the first failure, which is returned, not raised,
        so that what the bus did accept is still marked."""
        if not rows:
            return None
        events = [self._carried(row) for row in rows]
        publish_batch = getattr(self.bus, "publish_batch", None)
        if publish_batch is not None:
            accepted, failure = await publish_batch(events)
            self._published.extend(int(row.position) for row in rows[:accepted])
            return failure  # type: ignore[no-any-return]
        for row, event in zip(rows, events, strict=True):
            try:
                await self.bus.publish(event)
            except Exception as exc:
                return exc
            self._published.append(int(row.position))
        return None

    async def publish_pending(self) -> int:
        """Publish one batch; the number of rows published (0: nothing to do or not our turn)."""
        self._published = []
        self._elsewhere = False
        if self.db.schema is None:
            failure = await self._publish_sqlite()
        else:
            failure = await self._publish_postgresql()
        count = len(self._published)
        PUBLISHED.labels(self.service).inc(count)
        if failure is not None:
            raise failure
        return count

    async def _publish_sqlite(self) -> Exception | None:
        # Not one transaction: SQLite's write lock would block every writer of the
        # service, including in-process consumers of its own events, while we publish.
        async with self._turn:
            async with self.db.read() as session:
                rows = (await session.execute(self._select_batch())).all()
            failure = await self._publish(rows)
            if self._published:
                async with self.db.transaction() as session:
                    await self._mark(session)
        return failure

    async def _publish_postgresql(self) -> Exception | None:
        async with self.db.transaction() as session:
            key = f"{self.db.schema}.{self.table.name}"
            ours = await session.scalar(
                sa.select(sa.func.pg_try_advisory_xact_lock(sa.func.hashtext(sa.literal(key))))
            )
            if not ours:
                self._elsewhere = True
                return None
            rows = (await session.execute(self._select_batch())).all()
            failure = await self._publish(rows)
            # Keep what was published even if the batch stopped half way.
            if self._published:
                await self._mark(session)
        return failure

    async def backlog(self) -> int:
        return (await self._unpublished())[0]

    async def _unpublished(self) -> tuple[int, float]:
        """How many rows wait, and the age in seconds of the oldest (0 when none)."""
        async with self.db.read() as session:
            count, oldest = (
                await session.execute(
                    sa.select(sa.func.count(), sa.func.min(self.table.c.occurred_at))
                    .select_from(self.table)
                    .where(self.table.c.published_at.is_(None))
                )
            ).one()
        if oldest is None:
            return int(count or 0), 0.0
        if oldest.tzinfo is None:  # SQLite returns naive datetimes, written in UTC
            oldest = oldest.replace(tzinfo=UTC)
        return int(count or 0), max((utcnow() - oldest).total_seconds(), 0.0)

    async def _report_backlog(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._backlog_checked < 1.0:
            return
        self._backlog_checked = now
        backlog, age = await self._unpublished()
        OUTBOX_BACKLOG.labels(self.service).set(backlog)
        RELAY_LAG.labels(self.service).set(age)
        self.bus.report_backlog(self.service, backlog)

    async def _anything_due(self) -> bool:
        """One indexed read in autocommit: is any row unpublished? (the safety poll)"""
        t = self.table
        async with self.db.read() as session:
            found = await session.scalar(
                sa.select(t.c.position).where(t.c.published_at.is_(None)).limit(1)
            )
        return found is not None

    async def run(self) -> None:
        """Publish until cancelled; wakes on each outbox commit in this process, else polls."""
        failures = 0
        woken = True  # rows may be waiting from before the start
        while True:
            try:
                count = await self.publish_pending() if woken or await self._anything_due() else 0
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("relay_failed", service=self.service, error=repr(exc))
                await asyncio.sleep(min(0.2 * 2**failures, 10.0))
                continue
            if count >= self.batch_size:
                continue
            if self._elsewhere and woken:
                # Another replica's relay is publishing and may have read its batch
                # before our commit: come back soon instead of at the next poll.
                await asyncio.sleep(ELSEWHERE_RETRY_SECONDS)
                continue
            woken = await woken_or_timed_out(self._wake, self.poll_seconds)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        remove = self.outbox.listen(self._wake.set)
        stop_scraping = dependencies.at_scrape(
            f"relay-{self.service}-{id(self)}", lambda: self._report_backlog(force=True)
        )
        task = asyncio.create_task(self.run(), name=f"relay-{self.service}")
        try:
            yield
        finally:
            stop_scraping()
            remove()
            await stop_loop(task)
