"""The gateway's ASGI app: routes `/v1/...` by prefix, checks tokens at the edge,
serves the merged OpenAPI, the docs and the operational routes.

In the embedded topology each upstream is a service's ASGI app in this very
process; services never know whether a gateway is in front of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from panthera import __version__
from panthera.gateway.openapi import merge_openapi
from panthera.gateway.upstreams import Route
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.errors import AppError, install_error_handlers, problem
from panthera.kernel.ops import ReadinessCheck, ops_router
from panthera.kernel.service import ServiceHost

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class Gateway:
    """Dispatches requests to upstreams by path prefix; everything else is its own."""

    def __init__(self, hosts: Sequence[ServiceHost], verifier: TokenVerifier) -> None:
        self.hosts = list(hosts)
        self.verifier = verifier
        self.routes = [
            Route(prefix, host.spec.name, host.app)
            for host in self.hosts
            for prefix in host.spec.route_prefixes
        ]
        self.own = self._build_own_app()

    def _readiness_checks(self) -> list[ReadinessCheck]:
        return [(host.spec.name, host.ready) for host in self.hosts]

    def _build_own_app(self) -> FastAPI:
        app = FastAPI(
            title="PantheraConnect",
            version=__version__,
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
            lifespan=lambda _app: self.running(),
        )
        install_error_handlers(app)
        app.include_router(ops_router(self._readiness_checks))
        merged: dict[str, Any] = {}

        @app.get("/openapi.json", include_in_schema=False)
        async def openapi() -> dict[str, Any]:
            if not merged:
                merged.update(
                    merge_openapi(
                        (h.app.openapi() for h in self.hosts),
                        title="PantheraConnect API",
                        version=__version__,
                    )
                )
            return merged

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="PantheraConnect API")

        return app

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Start every service in this process, and stop them in reverse order."""
        async with AsyncExitStack() as stack:
            for host in self.hosts:
                await stack.enter_async_context(host.running())
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for route in self.routes:
                if route.matches(path):
                    await self._forward(route, scope, receive, send)
                    return
        await self.own(scope, receive, send)

    async def _forward(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        rejection = self._edge_auth(scope)
        if rejection is not None:
            await problem(Request(scope), 401, rejection.detail, headers=rejection.headers)(
                scope, receive, send
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await route.upstream(scope, receive, send_with_headers)

    def _edge_auth(self, scope: Scope) -> AppError | None:
        """Refuse a bad bearer token before any service sees it (services check again)."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    return None  # the service explains what it expects
                try:
                    self.verifier.verify(token.strip())
                except AppError as exc:
                    return exc
                return None
        return None
