"""The middleware every process runs: request ids, trace context, metrics."""

from __future__ import annotations

import httpx
from opentelemetry import trace
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from panthera.kernel.observability import ObservabilityMiddleware, tracer_provider

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def _echo_trace(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the trace id and sampled flag of the span it runs in."""
    context = trace.get_current_span().get_span_context()
    body = f"{context.trace_id:032x} {int(context.trace_flags.sampled)}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _client() -> httpx.AsyncClient:
    app = ObservabilityMiddleware(_echo_trace, service="tests")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_without_an_exporter_spans_record_nothing_yet_carry_ids() -> None:
    tracer = tracer_provider("tests", None).get_tracer("tests")
    with tracer.start_as_current_span("request") as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid
    sampled = trace.SpanContext(int(TRACE_ID, 16), 0xB7AD6B7169203331, True, trace.TraceFlags(1))
    parent = trace.set_span_in_context(trace.NonRecordingSpan(sampled))
    with tracer.start_as_current_span("asked for", context=parent) as span:
        assert span.is_recording()  # the caller's sampling decision is kept
        assert span.get_span_context().trace_id == sampled.trace_id


async def test_a_request_continues_its_callers_trace_and_keeps_its_id() -> None:
    async with _client() as client:
        answer = await client.get(
            "/things/1",
            headers={
                "traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01",
                "X-Request-ID": "abc-123",
            },
        )
    assert answer.text == f"{TRACE_ID} 1"
    assert answer.headers["x-request-id"] == "abc-123"


async def test_each_request_is_counted_in_its_series() -> None:
    labels = {"method": "GET", "route": "unmatched", "status": "200"}
    before = REGISTRY.get_sample_value("panthera_http_requests_total", labels) or 0
    async with _client() as client:
        for _ in range(3):
            assert (await client.get("/anything")).status_code == 200
    assert REGISTRY.get_sample_value("panthera_http_requests_total", labels) == before + 3
    latency = {"method": "GET", "route": "unmatched"}
    assert REGISTRY.get_sample_value("panthera_http_request_duration_seconds_count", latency)
