"""The gateway's ASGI app: routes `/v1/...` by prefix, checks tokens and rate
limits at the edge, caches public reads, serves the merged OpenAPI, the docs
and the operational routes.

Embedded, each upstream is a service's ASGI app in this very process;
distributed, it is an `HttpUpstream` to the service's replicas. Services never
know whether a gateway is in front of them, nor which kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from panthera import __version__
from panthera.gateway.edge import EdgeCache, RateLimits, client_address
from panthera.gateway.openapi import merge_openapi
from panthera.gateway.proxy import HttpUpstream
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.upstreams import Route
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.errors import AppError, PayloadTooLarge, install_error_handlers, problem
from panthera.kernel.ops import ReadinessCheck, ops_router
from panthera.kernel.service import ServiceHost

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_NO_STORE = SECURITY_HEADERS[-1]

Lifespan = Callable[[], AbstractAsyncContextManager[None]]
OpenApiSource = Callable[[], Awaitable[list[dict[str, Any]]]]


class Gateway:
    """Dispatches requests to upstreams by path prefix; everything else is its own."""

    def __init__(
        self,
        *,
        routes: Sequence[Route],
        verifier: TokenVerifier,
        settings: GatewaySettings,
        lifespan: Lifespan,
        readiness: Callable[[], list[ReadinessCheck]],
        openapi_documents: OpenApiSource,
        limits: RateLimits | None = None,
        cache: EdgeCache | None = None,
        hosts: Sequence[ServiceHost[Any]] = (),
        site: ASGIApp | None = None,
    ) -> None:
        self.routes = list(routes)
        self.site = site
        """The web storefront and admin console: every path not under `/v1` nor the
        gateway's own (`/`, `/admin`, `/static/...`)."""
        self.verifier = verifier
        self.settings = settings
        self.hosts = list(hosts)
        self.limits = limits
        self.cache = cache
        self._lifespan = lifespan
        self._readiness = readiness
        self._openapi_documents = openapi_documents
        own = self._build_own_app()
        self._own_routes = list(own.router.routes)
        self.own: ASGIApp = (
            CORSMiddleware(
                own,
                allow_origins=settings.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID", "ETag"],
            )
            if settings.cors_origins
            else own
        )

    def running(self) -> AbstractAsyncContextManager[None]:
        """Start what the gateway fronts (the services themselves, when embedded)."""
        return self._lifespan()

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
        app.include_router(ops_router(self._readiness))
        merged: dict[str, Any] = {}

        @app.get("/openapi.json", include_in_schema=False)
        async def openapi() -> dict[str, Any]:
            if merged:
                return merged
            documents = await self._openapi_documents()
            document = merge_openapi(documents, title="PantheraConnect API", version=__version__)
            if all(documents):  # keep it only once every service has answered
                merged.update(document)
            return document

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="PantheraConnect API")

        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for route in self.routes:
                if route.matches(path):
                    await self._forward(route, scope, receive, send)
                    return
            if self.site is not None and self._is_site(scope):
                await self.site(scope, receive, send)
                return
        await self.own(scope, receive, send)

    def _is_site(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if path == "/v1" or path.startswith("/v1/"):
            return False  # an unknown API path gets the API's error body, not a page
        return all(route.matches(scope)[0] == Match.NONE for route in self._own_routes)

    async def _forward(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        if self.settings.cors_origins and scope["method"] == "OPTIONS":
            await self.own(scope, receive, send)  # a CORS preflight
            return
        try:
            await self._edge_checks(route, scope)
        except AppError as exc:
            await problem(Request(scope), exc.status, exc.detail, headers=exc.headers)(
                scope, receive, send
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    h for h in SECURITY_HEADERS if h != _NO_STORE or b"cache-control" not in present
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        key = self.cache.key_for(scope) if self.cache else None
        if key is None or self.cache is None:
            await route.upstream(scope, receive, send_with_headers)
            return
        if await self.cache.replay(key, send_with_headers):
            return
        recording_send, recording = self.cache.recorder(key, send_with_headers)
        await route.upstream(scope, receive, recording_send)
        await self.cache.store(key, recording)

    async def _edge_checks(self, route: Route, scope: Scope) -> None:
        """Refuse an oversized body, an abusive client or a bad bearer token before any
        service sees it."""
        for name, value in scope["headers"]:
            if (
                name == b"content-length"
                and value.isdigit()
                and (int(value) > self.settings.max_body_bytes)
            ):
                raise PayloadTooLarge(f"Request body over {self.settings.max_body_bytes} bytes")
        if self.limits is not None:
            client = client_address(scope, trust_forwarded_for=self.settings.trust_forwarded_for)
            await self.limits.check(client, route.service)
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token:
                    await self.verifier.verify_async(token.strip())
                return  # other schemes: the service explains what it expects


def embedded(
    hosts: Sequence[ServiceHost[Any]],
    verifier: TokenVerifier,
    settings: GatewaySettings,
    *,
    limits: RateLimits | None = None,
    cache: EdgeCache | None = None,
    site: ASGIApp | None = None,
) -> Gateway:
    """Every service in this process, behind one gateway."""

    @asynccontextmanager
    async def run_hosts() -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for host in hosts:
                await stack.enter_async_context(host.running())
            # Relays start once every consumer is subscribed, so none misses an event.
            for host in hosts:
                await stack.enter_async_context(host.relaying())
            yield

    async def documents() -> list[dict[str, Any]]:
        return [host.app.openapi() for host in hosts]

    return Gateway(
        routes=[
            Route(prefix, host.spec.name, host.app)
            for host in hosts
            for prefix in host.spec.route_prefixes
        ],
        verifier=verifier,
        settings=settings,
        lifespan=run_hosts,
        readiness=lambda: [(host.spec.name, host.ready) for host in hosts],
        openapi_documents=documents,
        limits=limits,
        cache=cache,
        hosts=hosts,
        site=site,
    )


def distributed(
    prefixes: dict[str, tuple[str, ...]],
    verifier: TokenVerifier,
    settings: GatewaySettings,
    *,
    limits: RateLimits | None = None,
    cache: EdgeCache | None = None,
) -> Gateway:
    """Services in their own processes, reached over pooled HTTP connections; the web
    (upstream `web`, when configured) serves every other path."""
    missing = sorted(set(prefixes) - set(settings.upstreams))
    if missing:
        raise ValueError(f"no upstream URL configured for: {', '.join(missing)}")
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.upstream_timeout_seconds, connect=1.0),
        limits=httpx.Limits(max_connections=500, max_keepalive_connections=100),
        follow_redirects=False,
    )
    # A proxy must never keep cookies: one client's Set-Cookie would ride along with
    # every other client's requests (their session, for instance).
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    upstreams = {
        name: HttpUpstream(
            name, settings.upstreams[name], client, max_body_bytes=settings.max_body_bytes
        )
        for name in prefixes
    }
    site = (
        HttpUpstream(
            "web", settings.upstreams["web"], client, max_body_bytes=settings.max_body_bytes
        )
        if settings.upstreams.get("web")
        else None
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await verifier.refresh(force=True)
        try:
            yield
        finally:
            await client.aclose()
            if cache is not None:
                await cache.cache.close()

    def readiness() -> list[ReadinessCheck]:
        def check(upstream: HttpUpstream) -> Callable[[], Awaitable[None]]:
            async def any_replica_ready() -> None:
                for replica in upstream.replicas:
                    try:
                        if (await client.get(f"{replica.url}/readyz", timeout=1.5)).is_success:
                            return
                    except httpx.HTTPError:
                        continue
                raise RuntimeError("no replica is ready")

            return any_replica_ready

        return [(name, check(upstream)) for name, upstream in upstreams.items()]

    async def documents() -> list[dict[str, Any]]:
        async def fetch(upstream: HttpUpstream) -> dict[str, Any]:
            for replica in upstream.replicas:
                try:
                    document: dict[str, Any] = (
                        await client.get(f"{replica.url}/openapi.json")
                    ).json()
                    return document
                except (httpx.HTTPError, ValueError):
                    continue
            return {}

        return list(await asyncio.gather(*(fetch(u) for u in upstreams.values())))

    return Gateway(
        routes=[
            Route(prefix, name, upstreams[name])
            for name, service_prefixes in prefixes.items()
            for prefix in service_prefixes
        ],
        verifier=verifier,
        settings=settings,
        lifespan=lifespan,
        readiness=readiness,
        openapi_documents=documents,
        limits=limits,
        cache=cache,
        site=site,
    )
