"""Trace context stored with work and continued by the loop that picks the work up."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from panthera.kernel import tracing
from panthera.kernel.observability import _add_trace_ids

_tracer = TracerProvider().get_tracer("tests")


def _trace_id() -> str:
    return format(trace.get_current_span().get_span_context().trace_id, "032x")


def test_outside_any_span_there_is_nothing_to_store() -> None:
    assert tracing.current_context() == {}


def test_each_item_is_worked_on_in_the_trace_stored_with_it() -> None:
    stored = []
    for _ in range(2):
        with _tracer.start_as_current_span("request") as request:
            stored.append(
                (tracing.current_context(), format(request.get_span_context().trace_id, "032x"))
            )
    seen = [_trace_id() for _ in tracing.each(stored, "work", lambda item: item[0])]
    assert seen == [expected for _, expected in stored]
    assert not trace.get_current_span().get_span_context().is_valid  # nothing left attached


def test_work_stored_without_a_trace_is_not_attached_to_another() -> None:
    with _tracer.start_as_current_span("unrelated"):
        unrelated = _trace_id()
        for _ in tracing.each([None], "work", lambda item: item):
            assert _trace_id() != unrelated


def test_log_lines_inside_a_span_carry_its_trace_and_span_ids() -> None:
    assert "trace_id" not in _add_trace_ids(None, "info", {"event": "outside"})
    with _tracer.start_as_current_span("request") as span:
        line = _add_trace_ids(None, "info", {"event": "inside"})
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
