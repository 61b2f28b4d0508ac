"""The composition root: the one place that knows every service.

`create_app` builds the platform for all services or a chosen few; nothing is
built at import time, so tests and processes each get their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp

from panthera.gateway import envoy
from panthera.gateway.app import Gateway, embedded
from panthera.gateway.edge import RateLimits
from panthera.gateway.openapi import docs_router
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import SITE_OWNER, platform_table, service_routes
from panthera.kernel import dependencies, observability
from panthera.kernel.auth.keys import load_or_create_signing_key
from panthera.kernel.auth.revocations import Revocations
from panthera.kernel.auth.tokens import TOKEN_LEEWAY_SECONDS, TokenVerifier
from panthera.kernel.body_limit import BodyLimit
from panthera.kernel.bus import create_bus
from panthera.kernel.flat_routes import include_flat
from panthera.kernel.http_cache import PublicReads
from panthera.kernel.http_client import Peers
from panthera.kernel.ops import ops_router
from panthera.kernel.plain_text import PlainText
from panthera.kernel.ratelimit import RateLimiter
from panthera.kernel.routes import RouteRules
from panthera.kernel.service import ServiceHost, ServiceSettings, ServiceSpec
from panthera.kernel.settings import Settings
from panthera.services import catalog, notifications, orders, users
from panthera.services.catalog.media_worker import MediaWorker, consuming
from panthera.web import Site, create_site

SERVICES: dict[str, ServiceSpec[Any]] = {
    spec.name: spec for spec in (users.spec, catalog.spec, orders.spec, notifications.spec)
}


def revocations(settings: Settings) -> Revocations:
    """Revoked token versions, kept a token's lifetime: in Redis too when there is one."""
    return Revocations(
        ttl_seconds=settings.access_token_ttl_seconds + TOKEN_LEEWAY_SECONDS,
        redis_url=settings.redis_url,
        prefix=settings.redis_prefix,
    )


def local_verifier(settings: Settings) -> TokenVerifier:
    """A verifier trusting this installation's own signing key."""
    key = load_or_create_signing_key(settings.signing_key_path)
    verifier = TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=TOKEN_LEEWAY_SECONDS,
        revocations=revocations(settings),
    )
    verifier.add_key(key.kid, key.public_key)
    return verifier


def remote_verifier(settings: Settings, users_url: str) -> TokenVerifier:
    """A verifier that learns the users service's public keys from its JWKS."""
    jwks_url = users_url.rstrip("/") + "/.well-known/jwks.json"

    async def fetch() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=3.0) as http:
            response = await http.get(jwks_url)
            response.raise_for_status()
            keys: list[dict[str, Any]] = response.json()["keys"]
            return keys

    return TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=TOKEN_LEEWAY_SECONDS,
        refresher=fetch,
        revocations=revocations(settings),
    )


def verifier_for(settings: Settings, service: str) -> TokenVerifier:
    """The users service signs with its own key; every other process asks it, when it can."""
    if settings.users_url and service != "users":
        return remote_verifier(settings, settings.users_url)
    return local_verifier(settings)


def wire_in_process_calls(hosts: Sequence[ServiceHost[Any]]) -> None:
    """Services hosted in one process call each other's HTTP API without a socket."""
    apps = {host.spec.name: host.app for host in hosts}
    for host in hosts:
        others = {name: app for name, app in apps.items() if app is not host.app}
        host.peers = Peers({name: httpx.ASGITransport(app=app) for name, app in others.items()})


def guarded(host: ServiceHost[Any], gateway: GatewaySettings) -> ASGIApp:
    """A service app as it faces the edge, in either topology: paths and queries without
    control characters, its bodies bounded by its routes' limits while they stream, its
    public reads answered with cache headers."""
    rules = RouteRules(route.rule for route in service_routes(host.spec))
    return PlainText(
        BodyLimit(PublicReads(host.app, rules=rules), rules=rules, default=gateway.max_body_bytes)
    )


def edge_limits(settings: Settings, gateway: GatewaySettings) -> RateLimits:
    return RateLimits(
        RateLimiter(settings.redis_url, exact=False, prefix=settings.redis_prefix),
        per_client=gateway.rate_limit_per_client,
        per_route=gateway.rate_limit_per_route,
    )


def watch_dependencies(hosts: Sequence[ServiceHost[Any]], settings: Settings) -> None:
    """Each process reports whether it reaches what its services need, and its pools."""
    redis = dependencies.redis_check(settings.redis_url) if settings.redis_url else None
    for host in hosts:
        name = host.spec.name
        dependencies.watch(name, "database", host.db.ping)
        dependencies.watch_pool(name, host.db.engine)
        # A dependency this process does not have is forgotten, not left as an earlier
        # platform of the same process declared it (`/readyz` checks what is declared).
        if settings.nats_url:
            dependencies.watch(name, "nats", host.bus.ping)
        else:
            dependencies.unwatch(name, "nats")
        if redis is not None:
            dependencies.watch(name, "redis", redis)
        else:
            dependencies.unwatch(name, "redis")


class Platform:
    """The gateway with its hosted services, as one ASGI app."""

    def __init__(self, gateway: Gateway, app: ASGIApp) -> None:
        self.gateway = gateway
        self.app = app
        self.site: Site | None = None

    @property
    def hosts(self) -> dict[str, ServiceHost[Any]]:
        return {host.spec.name: host for host in self.gateway.hosts}

    def running(self) -> AbstractAsyncContextManager[None]:
        return self.gateway.running()


def create_platform(
    settings: Settings | None = None,
    services: Sequence[str] | None = None,
    service_settings: Mapping[str, ServiceSettings] | None = None,
    gateway_settings: GatewaySettings | None = None,
) -> Platform:
    settings = settings or Settings()
    names = list(services or SERVICES)
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown services: {', '.join(unknown)}")
    observability.configure(
        service="gateway",
        level=settings.log_level,
        json_logs=settings.log_json,
        otlp_endpoint=settings.otlp_endpoint,
    )
    verifier = local_verifier(settings)
    overrides = service_settings or {}
    # One bus for every hosted service: in-process delivery needs them all on it.
    bus = create_bus(settings)
    hosts = [
        ServiceHost(SERVICES[name], settings, verifier, overrides.get(name), bus=bus)
        for name in names
    ]
    wire_in_process_calls(hosts)
    watch_dependencies(hosts, settings)
    gateway_settings = gateway_settings or GatewaySettings()
    specs = [host.spec for host in hosts]
    for host in hosts:
        include_flat(host.app, docs_router(specs))
    apps = {host.spec.name: guarded(host, gateway_settings) for host in hosts}
    # The whole platform serves the web storefront and admin console too; they call it
    # back in-process, through the gateway, like any client of the API.
    site = create_site(settings, platform=lambda: platform.app) if services is None else None
    if site is not None:
        apps[SITE_OWNER] = site.app
    gateway = embedded(
        hosts,
        apps,
        platform_table(specs, site=site is not None),
        verifier,
        gateway_settings,
        limits=edge_limits(settings, gateway_settings),
    )
    platform = Platform(gateway, observability.ObservabilityMiddleware(gateway, service="gateway"))
    platform.site = site
    return platform


def create_app(
    settings: Settings | None = None,
    services: Sequence[str] | None = None,
    service_settings: Mapping[str, ServiceSettings] | None = None,
) -> ASGIApp:
    """The embedded platform as an ASGI app (lifespan included)."""
    return create_platform(settings, services, service_settings).app


def create_service_app(
    name: str,
    settings: Settings | None = None,
    service_settings: ServiceSettings | None = None,
    gateway_settings: GatewaySettings | None = None,
) -> tuple[ServiceHost[Any], ASGIApp]:
    """One service alone in its process (`panthera serve`), with its operational routes
    and the platform's merged API document (`/platform/openapi.json`, for the edge).

    Its tokens are verified with this installation's key (a shared
    `PANTHERA_JWT_PRIVATE_KEY_FILE`), or the users service's JWKS (`PANTHERA_USERS_URL`).
    """
    settings = settings or Settings()
    if name not in SERVICES:
        raise ValueError(f"unknown service: {name}")
    observability.configure(
        service=name,
        level=settings.log_level,
        json_logs=settings.log_json,
        otlp_endpoint=settings.otlp_endpoint,
    )
    host = ServiceHost(
        SERVICES[name], settings, verifier_for(settings, name), service_settings, standalone=True
    )
    include_flat(host.app, docs_router(list(SERVICES.values())))
    watch_dependencies([host], settings)
    app = guarded(host, gateway_settings or GatewaySettings())
    return host, observability.ObservabilityMiddleware(app, service=name)


MEDIA_WORKER = "media-worker"


def create_media_worker_app(
    settings: Settings | None = None,
) -> tuple[ServiceHost[Any], ASGIApp]:
    """The media worker alone in its process (`panthera serve media-worker`): the catalog's
    database and media store, jobs from the queue, and only the operational routes.

    Embedded, the catalog runs the same worker in the background instead; a process of
    its own needs the queue (JetStream) to share the jobs with its replicas.
    """
    settings = settings or Settings()
    if not settings.nats_url:
        raise ValueError(
            "the media worker process takes its jobs from NATS JetStream: set "
            "PANTHERA_NATS_URL (the embedded platform runs the worker itself)"
        )
    observability.configure(
        service=MEDIA_WORKER,
        level=settings.log_level,
        json_logs=settings.log_json,
        otlp_endpoint=settings.otlp_endpoint,
    )
    host: ServiceHost[Any] = ServiceHost(
        catalog.spec, settings, verifier_for(settings, catalog.spec.name), standalone=True
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # No relay and no catalog consumers: the catalog's own processes do those.
        async with host.running(consume=False), consuming(MediaWorker(host.runtime), host.bus):
            yield

    async def media_reachable() -> None:
        await host.runtime.media.ping()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(
        ops_router(lambda: [(MEDIA_WORKER, host.ready), ("media store", media_reachable)])
    )
    watch_dependencies([host], settings)
    return host, observability.ObservabilityMiddleware(app, service=MEDIA_WORKER)


def gateway_config(
    settings: Settings,
    gateway_settings: GatewaySettings,
    *,
    host: str,
    port: int,
    upstreams: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The distributed edge's Envoy configuration, from the platform's route table."""
    upstreams = gateway_settings.upstreams if upstreams is None else upstreams
    return envoy.render(
        platform_table(list(SERVICES.values()), site=bool(upstreams.get(SITE_OWNER))),
        upstreams=upstreams,
        gateway=gateway_settings,
        platform=settings,
        host=host,
        port=port,
    )
