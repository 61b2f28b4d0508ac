"""Event handling with an inbox: at-least-once delivery, exactly-once effect.

A handler runs in a transaction that first records `(consumer, event id)` in
the consumer's inbox; if the row is already there the event was handled and
is skipped. The handler gets that open session, so its effect (and any event
it records in its own outbox) commits together with the inbox row, or not at
all, and the bus sees the failure and delivers again.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Histogram
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.database import Database, utcnow
from panthera.kernel.events import Event

Handler = Callable[[Event, AsyncSession, Any], Awaitable[None]]
"""`handler(event, session, runtime)`: the runtime is what the service's lifespan built."""

HANDLED = Counter(
    "panthera_events_handled_total",
    "Events handled by a consumer, by outcome",
    ["consumer", "type", "outcome"],
)
END_TO_END = Histogram(
    "panthera_event_end_to_end_seconds",
    "From the event's occurrence to the commit of its effect",
    ["consumer", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

log = structlog.get_logger("panthera.consumer")
_tracer = trace.get_tracer("panthera.events")
_propagator = TraceContextTextMapPropagator()


class Consumer:
    """One service's event handlers behind its inbox."""

    def __init__(
        self,
        *,
        name: str,
        db: Database,
        inbox: sa.Table,
        handlers: Mapping[str, Handler],
        runtime: Callable[[], Any],
    ) -> None:
        self.name = name
        self.db = db
        self.inbox = inbox
        self.handlers = dict(handlers)
        self.runtime = runtime

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self.handlers)

    async def handle(self, event: Event, *, reprocess: bool = False) -> bool:
        """Apply the event once; False when there is nothing to do (unknown or seen before).

        `reprocess` runs the handler even if the inbox has the event (replay after a fix).
        """
        handler = self.handlers.get(event.type)
        if handler is None:
            return False
        context = _propagator.extract(event.traceContext)
        with _tracer.start_as_current_span(
            f"consume {event.type}", context=context, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.consumer", self.name)
            span.set_attribute("messaging.message.id", str(event.id))
            try:
                async with self.db.transaction() as session:
                    if not await self._remember(session, event, reprocess=reprocess):
                        HANDLED.labels(self.name, event.type, "duplicate").inc()
                        return False
                    await handler(event, session, self.runtime())
            except Exception:
                HANDLED.labels(self.name, event.type, "failed").inc()
                raise
        HANDLED.labels(self.name, event.type, "handled").inc()
        END_TO_END.labels(self.name, event.type).observe(
            (utcnow() - event.occurredAt).total_seconds()
        )
        return True

    async def _remember(self, session: AsyncSession, event: Event, *, reprocess: bool) -> bool:
        values = {
            "consumer": self.name,
            "event_id": event.id,
            "type": event.type,
            "handled_at": utcnow(),
        }
        dialect = session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(self.inbox)
        statement = insert.values(**values)
        if reprocess:
            statement = statement.on_conflict_do_update(
                index_elements=["consumer", "event_id"], set_={"handled_at": values["handled_at"]}
            )
        else:
            # A concurrent replica inserting the same row waits for our commit,
            # then inserts nothing: exactly one of them runs the handler.
            statement = statement.on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        result = await session.execute(statement)
        return bool(getattr(result, "rowcount", 0))


async def replay(
    *, consumer: Consumer, events: AsyncIterable[Event], reprocess: bool = False
) -> tuple[int, int]:
    """Feed stored events to a consumer again; (events seen, events applied).

    Without `reprocess` the inbox still applies: only events the consumer never
    completed (e.g. dead-lettered before a fix) take effect. With it, every event
    runs again, so use it only for handlers whose effect may be repeated.
    """
    seen = applied = 0
    async for event in events:
        seen += 1
        if await consumer.handle(event, reprocess=reprocess):
            applied += 1
        log.info("event_replayed", consumer=consumer.name, event_id=str(event.id), type=event.type)
    return seen, applied


def parse_since(value: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC."""
    from datetime import UTC

    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
