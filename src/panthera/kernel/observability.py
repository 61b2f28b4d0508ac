"""Logs, metrics and traces for every process.

One pure-ASGI middleware at the edge of a process gives each request an id
(taken from `X-Request-ID` when it is sane), a trace span continued from
`traceparent`, a JSON log line, and Prometheus counters and latency histograms.

Its cost is paid on every request, so it is kept small: spans are recorded where
they are exported (`PANTHERA_OTLP_ENDPOINT`; then sampled as the standard
`OTEL_TRACES_SAMPLER` says, by default every trace); elsewhere they still carry
trace ids into logs and onward calls (see `tracer_provider`). The metrics'
labelled series are looked up once per (method, route, status), not per request.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import DEFAULT_OFF
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import panthera

REQUESTS = Counter(
    "panthera_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "panthera_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

BUILD_INFO = Gauge("panthera_build_info", "The PantheraConnect version a process runs", ["version"])
BUILD_INFO.labels(panthera.__version__).set(1)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_propagator = TraceContextTextMapPropagator()
_configured = False


def _add_trace_ids(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Every line logged inside a span names its trace and span, whatever logged it."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def configure(
    *, service: str, level: str = "INFO", json_logs: bool = True, otlp_endpoint: str | None = None
) -> None:
    """Set up logging and tracing once per process."""
    global _configured
    if _configured:
        return
    _configured = True
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    trace.set_tracer_provider(tracer_provider(service, otlp_endpoint))


def tracer_provider(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """Spans recorded and exported to `otlp_endpoint`, sampled as `OTEL_TRACES_SAMPLER` says
    (by default every one). Without an endpoint nothing would leave the process, so a span
    is recorded only when its caller's `traceparent` asks for it (a sampled flag is kept
    for those downstream that do export); ids are made and passed on all the same (logs,
    `traceparent` to peers and events)."""
    resource = Resource.create({"service.name": f"panthera-{service}"})
    if not otlp_endpoint:
        return TracerProvider(resource=resource, sampler=DEFAULT_OFF)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces"))
    )
    return provider


def route_template(scope: Scope) -> str:
    """The matched route's full path template, a bounded metrics label."""
    template = getattr(scope.get("route"), "path_format", None)
    if not isinstance(template, str):
        return "unmatched"
    # FastAPI keeps routers included under a prefix (`/v1`) nested, so the route
    # knows only its own part; the prefix is what precedes that part in the path.
    head = template.split("{", 1)[0]
    at = scope["path"].find(head)
    return scope["path"][:at] + template if at > 0 else template


_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})


def _read_headers(scope: Scope) -> tuple[str, dict[str, str]]:
    """The offered request id, and the trace headers: the only ones this middleware reads."""
    offered = ""
    carrier: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        if name == "x-request-id":
            offered = raw_value.decode("latin-1")
        elif name in _TRACE_HEADERS:
            carrier[name] = raw_value.decode("latin-1")
    return offered, carrier


class _Series:
    """The labelled metric series of each (method, route, status), found once: a lookup by
    labels takes a lock and builds keys, a cost per request for the same few series."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        requests = self._requests.get((method, route, status))
        if requests is None:
            requests = self._requests[(method, route, status)] = REQUESTS.labels(
                method, route, str(status)
            )
        latency = self._latency.get((method, route))
        if latency is None:
            latency = self._latency[(method, route)] = LATENCY.labels(method, route)
        requests.inc()
        latency.observe(seconds)


class ObservabilityMiddleware:
    """Request id, trace span, access log and metrics for each HTTP request."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.log = structlog.get_logger("panthera.access")
        self.tracer = trace.get_tracer("panthera.http")
        self.service = service
        self.series = _Series()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered, carrier = _read_headers(scope)
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        template = "unmatched"
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, template
            if message["type"] == "http.response.start":
                status = message["status"]
                # Read now: the framework clears its routing context once the response ends.
                template = route_template(scope)
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        ctx = _propagator.extract(carrier) if carrier else None
        with self.tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}", context=ctx, kind=trace.SpanKind.SERVER
        ) as span:
            structlog.contextvars.bind_contextvars(request_id=request_id)
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                if span.is_recording():
                    span.set_attribute("http.status_code", status)
                    span.set_attribute("http.route", template)
                    span.update_name(f"{scope['method']} {template}")  # no ids in span names
                self.series.observe(scope["method"], template, status, elapsed)
                self.log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    service=self.service,
                )
                structlog.contextvars.clear_contextvars()
