"""The embedded edge: one process, every service's ASGI app behind an in-process
dispatcher that reads the same route table Envoy is configured from.

It routes by the table, applies the edge's policies (per-client rate limits,
the route's access policy on the bearer token), and serves the operational
routes. Body limits and cache headers are the services' own guards, which the
composition root puts in front of every service app in both topologies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from panthera import __version__
from panthera.gateway.edge import RateLimits, client_address
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import EdgeRoute, RouteTable, is_site
from panthera.kernel.auth.principals import Principal
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.errors import AppError, Forbidden, Unauthorized, install_error_handlers
from panthera.kernel.errors import problem as problem_response
from panthera.kernel.ops import ReadinessCheck, ops_router
from panthera.kernel.service import API_PREFIX, ServiceHost

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
NO_STORE = (b"cache-control", b"no-store")  # only where the service said nothing itself

Lifespan = Callable[[], AbstractAsyncContextManager[None]]


class Gateway:
    """Dispatches requests to services by the route table; the rest is its own."""

    def __init__(
        self,
        *,
        table: RouteTable,
        apps: Mapping[str, ASGIApp],
        verifier: TokenVerifier,
        settings: GatewaySettings,
        lifespan: Lifespan,
        readiness: Callable[[], list[ReadinessCheck]],
        limits: RateLimits | None = None,
        hosts: Sequence[ServiceHost[Any]] = (),
    ) -> None:
        self.table = table
        self.apps = dict(apps)
        self.verifier = verifier
        self.settings = settings
        self.hosts = list(hosts)
        self.limits = limits
        self._lifespan = lifespan
        own = FastAPI(
            title="PantheraConnect",
            version=__version__,
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
            lifespan=lambda _app: self.running(),
        )
        install_error_handlers(own)
        operational = ops_router(readiness)
        own.include_router(operational)
        # From the router itself: FastAPI 0.165 keeps an included router as one entry of
        # `own.router.routes`, without the paths it holds.
        self._own_paths = frozenset(getattr(route, "path", "") for route in operational.routes)
        self.own: ASGIApp = own
        # CORS wraps the whole edge: preflights are answered here, and every answer to an
        # allowed origin, a service's included, says so (or the browser hides it).
        self._entry: ASGIApp = (
            CORSMiddleware(
                self._dispatch,
                allow_origins=settings.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID", "ETag", "Retry-After"],
            )
            if settings.cors_origins
            else self._dispatch
        )

    def running(self) -> AbstractAsyncContextManager[None]:
        """Start what the gateway fronts: the services themselves."""
        return self._lifespan()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.table.match(scope["method"], scope["path"])
            if route is not None and route.owner in self.apps and not self._own_first(route, scope):
                await self._forward(route, scope, receive, send)
                return
        await self.own(scope, receive, send)

    def _own_first(self, route: EdgeRoute, scope: Scope) -> bool:
        """The web's catch-all yields to the operational routes and to unknown API paths,
        which get the API's 404 problem, never a page."""
        if not is_site(route):
            return False
        path: str = scope["path"]
        return path in self._own_paths or path == API_PREFIX or path.startswith(API_PREFIX + "/")

    async def _forward(self, route: EdgeRoute, scope: Scope, receive: Receive, send: Send) -> None:
        send = _with_security_headers(send)
        client = client_address(scope, trusted_hops=self.settings.trusted_hops)
        try:
            await self._edge_checks(route, scope, client)
        except AppError as exc:
            answer = problem_response(Request(scope), exc.status, exc.detail, headers=exc.headers)
            await answer(scope, receive, send)
            return
        if self.settings.trusted_hops:
            scope = {**scope, "client": (client, 0)}  # the service sees who the edge saw
        if route.upstream_path is not None:
            scope = {**scope, "path": route.upstream_path, "raw_path": route.upstream_path.encode()}
        await self.apps[route.owner](scope, receive, send)

    async def _edge_checks(self, route: EdgeRoute, scope: Scope, client: str) -> None:
        """Refuse an abusive client, then a token the route's policy does not accept,
        before any service sees the request."""
        if self.limits is not None and route.rule.rate_limited:
            await self.limits.check(client, route.owner)
        principal = await self._principal(scope)
        policy = route.rule.policy
        if policy != "anonymous" and principal is None:
            raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'")
        if policy == "admin" and principal is not None and not principal.is_admin:
            raise Forbidden("This operation requires the admin role")

    async def _principal(self, scope: Scope) -> Principal | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    return await self.verifier.verify_async(token.strip())
                return None  # other schemes: the service explains what it expects
        return None


def _with_security_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            extra = [h for h in SECURITY_HEADERS if h[0] not in present]
            if b"cache-control" not in present:
                extra.append(NO_STORE)
            message["headers"] = headers + extra
        await send(message)

    return send_with_headers


def embedded(
    hosts: Sequence[ServiceHost[Any]],
    apps: Mapping[str, ASGIApp],
    table: RouteTable,
    verifier: TokenVerifier,
    settings: GatewaySettings,
    *,
    limits: RateLimits | None = None,
) -> Gateway:
    """Every service in this process, behind one gateway; `apps` are the hosts' apps
    as they face the edge (with their guards)."""

    @asynccontextmanager
    async def run_hosts() -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for host in hosts:
                await stack.enter_async_context(host.running())
            # Relays start once every consumer is subscribed, so none misses an event.
            for host in hosts:
                await stack.enter_async_context(host.relaying())
            yield

    return Gateway(
        table=table,
        apps=apps,
        verifier=verifier,
        settings=settings,
        lifespan=run_hosts,
        readiness=lambda: [(host.spec.name, host.ready) for host in hosts],
        limits=limits,
        hosts=hosts,
    )
