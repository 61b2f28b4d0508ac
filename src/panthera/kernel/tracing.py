"""Trace context carried with work that a loop picks up later.

A request or an event handler runs inside a span; work it leaves for a loop (a
payment due, a notification to send, an outbox row to publish) stores the
context of that moment beside it (`current_context()`, a W3C `traceparent` in a
small dict), and the loop continues it (`continued`, `each`), so that what the
loop does, and every event it records, stays in the same trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

T = TypeVar("T")

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("panthera.work")


def current_context() -> dict[str, str]:
    """The current span's context as a carrier to store (empty outside any span)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


@contextmanager
def continued(
    carrier: Mapping[str, str] | None,
    name: str,
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
) -> Iterator[trace.Span]:
    """A span, current while inside, continuing the stored context (a new trace without one)."""
    parent = _propagator.extract(dict(carrier or {}))
    with _tracer.start_as_current_span(name, context=parent, kind=kind) as span:
        yield span


def each(items: Iterable[T], name: str, carrier_of: Callable[[T], object]) -> Iterator[T]:
    """`for item in each(items, ...)`: the loop's body for each item runs in a span that
    continues the context stored with that item."""
    for item in items:
        stored = carrier_of(item)
        with continued(stored if isinstance(stored, Mapping) else None, name):
            yield item
