"""Logs, metrics and traces for every process.

One pure-ASGI middleware at the edge of a process gives each request an id
(taken from `X-Request-ID` when it is sane), a trace span continued from
`traceparent`, a JSON log line, and Prometheus counters and latency histograms.
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
    provider = TracerProvider(resource=Resource.create({"service.name": f"panthera-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces"))
        )
    trace.set_tracer_provider(provider)


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


class ObservabilityMiddleware:
    """Request id, trace span, access log and metrics for each HTTP request."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.log = structlog.get_logger("panthera.access")
        self.tracer = trace.get_tracer("panthera.http")
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        offered = headers.get("x-request-id", "")
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

        ctx = _propagator.extract(headers)
        with self.tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}", context=ctx, kind=trace.SpanKind.SERVER
        ) as span:
            structlog.contextvars.bind_contextvars(request_id=request_id)
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                span.set_attribute("http.status_code", status)
                span.set_attribute("http.route", template)
                span.update_name(f"{scope['method']} {template}")  # no ids in span names
                REQUESTS.labels(scope["method"], template, str(status)).inc()
                LATENCY.labels(scope["method"], template).observe(elapsed)
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
