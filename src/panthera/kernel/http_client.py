"""Calls from one service to another over its HTTP API.

Timeouts on every call, bounded retries for idempotent reads, and a circuit
breaker per upstream, so a dead dependency costs callers a fast 503 instead of
a pile of hung requests. The transport is the composition root's choice: real
HTTP between processes, or the upstream's ASGI app in the embedded topology.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import structlog
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from panthera.kernel.errors import ServiceUnavailable

log = structlog.get_logger("panthera.http_client")
_tracer = trace.get_tracer("panthera.http_client")
_propagator = TraceContextTextMapPropagator()


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one trial through after `reset_after`."""

    def __init__(
        self,
        *,
        threshold: int = 5,
        reset_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,  # a test steps it past the cool-down
    ) -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if self.clock() - self.opened_at >= self.reset_after:
            self.opened_at = self.clock()  # half-open: one trial per period
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def record_failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()


class ServiceClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 3.0,
        retries: int = 2,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.name = name
        self.retries = retries
        self.breaker = breaker or CircuitBreaker()
        self.http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """An idempotent read: retried with backoff on transport errors and 5xx answers."""
        with _tracer.start_as_current_span(f"GET {self.name}", kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("peer.service", self.name)
            carried = dict(headers or {})
            _propagator.inject(carried)  # the callee continues this trace
            response = await self._get(path, carried)
            span.set_attribute("http.status_code", response.status_code)
            return response

    async def _get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        if not self.breaker.allow():
            raise ServiceUnavailable(f"The {self.name} service is unavailable; try again shortly")
        last_error = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(0.05 * 2**attempt)
            try:
                response = await self.http.get(path, headers=headers)
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 500:
                self.breaker.record_success()
                return response
            last_error = f"HTTP {response.status_code}"
        self.breaker.record_failure()
        log.warning("upstream_failed", upstream=self.name, path=path, error=last_error)
        raise ServiceUnavailable(f"The {self.name} service is unavailable; try again shortly")

    async def get_json(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.get(path, **kwargs)
        return response.status_code, response.json()

    async def aclose(self) -> None:
        await self.http.aclose()


class Peers:
    """How this process reaches other services' HTTP APIs.

    The composition root fills it: services hosted in the same process are called
    through their ASGI apps, without a socket; the others at the URL the caller's
    settings give. A service asks for a client by name and never learns which.
    """

    def __init__(self, transports: Mapping[str, httpx.AsyncBaseTransport] | None = None) -> None:
        self._transports = dict(transports or {})

    def client(self, name: str, *, url: str, **options: Any) -> ServiceClient:
        transport = self._transports.get(name)
        if transport is None:
            return ServiceClient(name, url, **options)
        return ServiceClient(name, f"http://{name}.internal", transport=transport, **options)
