"""The distributed form of an upstream: a service reached over HTTP.

Replicas are taken in turn; each has a circuit breaker, so a dead replica is
skipped at once and a dead service answers 503 in microseconds instead of
tying up connections. A request that never reached a replica (connection
refused) is tried on the next one; one that may have reached it is retried
only if its method is idempotent.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import httpx
import structlog
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from panthera.kernel.errors import problem
from panthera.kernel.http_client import CircuitBreaker

log = structlog.get_logger("panthera.gateway")

# Hop-by-hop headers (RFC 9110 section 7.6.1) are never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_propagator = TraceContextTextMapPropagator()


class BodyTooLarge(Exception):
    pass


class Replica:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.breaker = CircuitBreaker(threshold=3, reset_after=5.0)


class HttpUpstream:
    """An ASGI app that forwards each request to one replica of a service."""

    def __init__(
        self, name: str, urls: Sequence[str], client: httpx.AsyncClient, *, max_body_bytes: int
    ) -> None:
        if not urls:
            raise ValueError(f"no replica URL for {name}")
        self.name = name
        self.replicas = [Replica(url) for url in urls]
        self._turn = itertools.cycle(range(len(self.replicas)))
        self.client = client
        self.max_body_bytes = max_body_bytes

    def _candidates(self) -> list[Replica]:
        start = next(self._turn)
        ordered = self.replicas[start:] + self.replicas[:start]
        return [replica for replica in ordered if replica.breaker.allow()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await _read_body(receive, self.max_body_bytes)
        except BodyTooLarge:
            await problem(request, 413, "Request body too large")(scope, receive, send)
            return
        headers = _forwarded_headers(scope)
        target = scope["path"] + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        for replica in self._candidates():
            upstream_request = self.client.build_request(
                scope["method"], replica.url + target, headers=headers, content=body
            )
            try:
                response = await self.client.send(upstream_request, stream=True)
            except httpx.ConnectError:  # never reached the replica: any method may go on
                replica.breaker.record_failure()
                continue
            except httpx.HTTPError as exc:
                replica.breaker.record_failure()
                log.warning(
                    "upstream_error",
                    upstream=self.name,
                    replica=replica.url,
                    error=type(exc).__name__,
                )
                if scope["method"] not in IDEMPOTENT:
                    break
                continue
            replica.breaker.record_success()
            await _relay(response, send)
            return
        await problem(
            request,
            503,
            f"The {self.name} service is unavailable; try again shortly",
            headers={"Retry-After": "1"},
        )(scope, receive, send)

    async def aclose(self) -> None:
        await self.client.aclose()


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _forwarded_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    headers = [
        (k, v)
        for k, v in scope["headers"]
        if k not in HOP_BY_HOP
        and k not in (b"x-request-id", b"traceparent", b"tracestate", b"x-forwarded-for")
    ]
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    headers += [(k.encode(), v.encode()) for k, v in carrier.items()]
    client = scope.get("client")
    if client:
        headers.append((b"x-forwarded-for", str(client[0]).encode()))
    return headers


async def _relay(response: httpx.Response, send: Send) -> None:
    # The raw body is relayed as is, so its length and encoding headers stay true.
    headers = [
        (k, v)
        for k, v in response.headers.raw
        if k.lower() == b"content-length" or k.lower() not in HOP_BY_HOP
    ]
    try:
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await response.aclose()
