"""Event handling with an inbox: at-least-once delivery, exactly-once effect.

A handler runs in one unit of work that first records `(consumer, event id)` in
the consumer's inbox; if the row is already there the event was handled and is
skipped. The handler gets that open transaction, so its effect (and any event it
records) commits together with the inbox row, or not at all, and the bus sees the
failure and delivers again.

Handlers are declared per contract class: the consumer parses `data` into that
class before the handler runs. An event whose version no handler knows, or whose
data does not parse, can never succeed: it is refused as `Undeliverable`, which
the buses dead-letter at once instead of retrying.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Histogram
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite

from panthera.contracts import EventContract
from panthera.kernel.bus import DEAD_LETTERS, REDELIVERIES, Undeliverable
from panthera.kernel.database import utcnow
from panthera.kernel.events import Event, Received
from panthera.kernel.uow import Transaction, UnitOfWork

Handler = Callable[[Received[Any], Any, Any], Awaitable[None]]
"""`handler(received, tx, runtime)`: the typed event, the open unit of work, the runtime."""

OUTCOMES = ("handled", "duplicate", "failed")
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
        uow: UnitOfWork[Any],
        inbox: sa.Table,
        handlers: Mapping[type[EventContract], Handler],
        runtime: Callable[[], Any],
    ) -> None:
        self.name = name
        self.uow = uow
        self.inbox = inbox
        self.runtime = runtime
        self._handlers: dict[str, dict[int, tuple[type[EventContract], Handler]]] = {}
        for contract, handler in handlers.items():
            self._handlers.setdefault(contract.TYPE, {})[contract.VERSION] = (contract, handler)
        for event_type in self._handlers:  # every series exists (at zero) before its first event
            for counter in (REDELIVERIES, DEAD_LETTERS, END_TO_END):
                counter.labels(name, event_type)
            for outcome in OUTCOMES:
                HANDLED.labels(name, event_type, outcome)

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def _parse(self, event: Event) -> tuple[Handler, Received[Any]]:
        versions = self._handlers[event.type]
        if event.version not in versions:
            known = ", ".join(str(v) for v in sorted(versions))
            raise Undeliverable(
                f"{self.name} reads {event.type} version {known}, not {event.version}"
            )
        contract, handler = versions[event.version]
        try:
            data = contract.model_validate(event.data)
        except ValidationError as exc:
            raise Undeliverable(f"{event.type} v{event.version} data is malformed: {exc}") from exc
        return handler, Received(event, data)

    async def handle(self, event: Event, *, reprocess: bool = False) -> bool:
        """Apply the event once; False when there is nothing to do (unknown or seen before).

        `reprocess` runs the handler even if the inbox has the event (replay after a fix).
        """
        if event.type not in self.types:
            return False
        context = _propagator.extract(event.traceContext)
        with _tracer.start_as_current_span(
            f"consume {event.type}", context=context, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.consumer", self.name)
            span.set_attribute("messaging.message.id", str(event.id))
            try:
                applied = await self._apply(event, reprocess=reprocess)
            except Exception:
                HANDLED.labels(self.name, event.type, "failed").inc()
                raise
        if not applied:
            HANDLED.labels(self.name, event.type, "duplicate").inc()
            return False
        HANDLED.labels(self.name, event.type, "handled").inc()
        END_TO_END.labels(self.name, event.type).observe(
            (utcnow() - event.occurredAt).total_seconds()
        )
        return True

    async def _apply(self, event: Event, *, reprocess: bool) -> bool:
        handler, received = self._parse(event)
        async with self.uow.write() as tx:
            if not await self._remember(tx, event, reprocess=reprocess):
                return False
            await handler(received, tx, self.runtime())
        return True

    async def _remember(self, tx: Transaction, event: Event, *, reprocess: bool) -> bool:
        values = {
            "consumer": self.name,
            "event_id": event.id,
            "type": event.type,
            "handled_at": utcnow(),
        }
        dialect = tx.session.get_bind().dialect.name
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
        result = await tx.session.execute(statement)
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
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
