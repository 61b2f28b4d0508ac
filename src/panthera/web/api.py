"""The public `/v1` API, as the web application calls it: like any third-party client.

Embedded, requests go to the platform's ASGI app in this very process (no
socket), carrying the browser's address as the client address, so the edge's
per-client limits see each visitor. Distributed, they go over HTTP to the edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import httpx
from starlette.types import ASGIApp


@dataclass
class ApiError(Exception):
    """A 4xx answer of the API, with its problem body."""

    status: int
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"

    def field_errors(self) -> dict[str, str]:
        """Form field -> message, from `errors[].field` such as `body.shippingAddress.city`."""
        found: dict[str, str] = {}
        for error in self.errors:
            where = str(error.get("field", ""))
            name = where.rsplit(".", 1)[-1] if where.startswith("body.") else ""
            if name and name not in found:
                found[name] = _human(str(error.get("message", "is not valid")))
        return found


def _human(message: str) -> str:
    """Pydantic's messages start lower-case ("field required"); a form shows a sentence."""
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:]


class ApiUnavailable(Exception):
    """The API could not be reached or failed (5xx)."""


class InProcessTransport(httpx.AsyncBaseTransport):
    """Calls the platform's ASGI app directly, as the browser's address."""

    def __init__(self, app: Callable[[], ASGIApp]) -> None:
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = str(request.extensions.get("client_address") or "127.0.0.1")
        transport = httpx.ASGITransport(app=self._app(), client=(address, 0))
        return await transport.handle_async_request(request)


class Api:
    def __init__(self, http: httpx.AsyncClient, *, forwards_address: bool) -> None:
        self.http = http
        self.forwards_address = forwards_address
        # One client serves every visitor: it must never keep a cookie for the next one.
        http.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    @classmethod
    def in_process(cls, app: Callable[[], ASGIApp], *, timeout: float) -> Api:
        http = httpx.AsyncClient(
            transport=InProcessTransport(app),
            base_url="http://platform",
            timeout=timeout,
            trust_env=False,
        )
        return cls(http, forwards_address=False)

    @classmethod
    def over_http(cls, url: str, *, timeout: float) -> Api:
        http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=2.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            trust_env=False,
        )
        return cls(http, forwards_address=True)

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        client_address: str | None = None,
        request_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the HTTP call's own timeout)
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; `ApiUnavailable` when the API cannot answer usefully."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if request_id:
            sent["X-Request-ID"] = request_id
        if client_address and self.forwards_address:
            sent["X-Forwarded-For"] = client_address
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        try:
            response = await self.http.request(
                method,
                path,
                headers=sent,
                extensions={"client_address": client_address} if client_address else None,
                **kwargs,
                **extra,
            )
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise ApiUnavailable(f"HTTP {response.status_code} from {method} {path}")
        return response

    async def aclose(self) -> None:
        await self.http.aclose()


def error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    detail = str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    return ApiError(response.status_code, detail, errors or [], body)
