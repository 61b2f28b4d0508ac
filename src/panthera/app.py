"""The composition root: the one place that knows every service.

`create_app` builds the platform for all services or a chosen few; nothing is
built at import time, so tests and processes each get their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from starlette.types import ASGIApp

from panthera.gateway.app import Gateway, distributed, embedded
from panthera.gateway.edge import EdgeCache, RateLimits
from panthera.gateway.settings import GatewaySettings
from panthera.kernel import dependencies, observability
from panthera.kernel.auth.keys import load_or_create_signing_key
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.bus import create_bus
from panthera.kernel.cache import create_cache
from panthera.kernel.http_client import Peers
from panthera.kernel.ratelimit import RateLimiter
from panthera.kernel.service import ServiceHost, ServiceSettings, ServiceSpec
from panthera.kernel.settings import Settings
from panthera.services import catalog, notifications, orders, users
from panthera.web import Site, create_site

SERVICES: dict[str, ServiceSpec[Any]] = {
    spec.name: spec for spec in (users.spec, catalog.spec, orders.spec, notifications.spec)
}


def local_verifier(settings: Settings) -> TokenVerifier:
    """A verifier trusting this installation's own signing key."""
    key = load_or_create_signing_key(settings.signing_key_path)
    verifier = TokenVerifier(issuer=settings.jwt_issuer, audience=settings.jwt_audience)
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
        issuer=settings.jwt_issuer, audience=settings.jwt_audience, refresher=fetch
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
        host.peers = Peers(
            {
                name: httpx.ASGITransport(app=app)
                for name, app in apps.items()
                if host.app is not app
            }
        )


def edge_limits(settings: Settings, gateway: GatewaySettings) -> RateLimits:
    return RateLimits(
        RateLimiter(settings.redis_url, exact=False),
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
        if settings.nats_url:
            dependencies.watch(name, "nats", host.bus.ping)
        if redis is not None:
            dependencies.watch(name, "redis", redis)


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
    # The whole platform serves the web storefront and admin console too; they call it
    # back in-process, through the gateway, like any client of the API.
    site = create_site(settings, platform=lambda: platform.app) if services is None else None
    gateway = embedded(
        hosts,
        verifier,
        gateway_settings,
        limits=edge_limits(settings, gateway_settings),
        cache=None,  # services cache their own reads; one process needs no edge copy
        site=site.app if site else None,
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
) -> tuple[ServiceHost[Any], ASGIApp]:
    """One service alone in its process (`panthera serve`), with its operational routes.

    Its tokens are verified with this installation's key (a shared
    `PANTHERA_JWT_PRIVATE_KEY_FILE`) until services fetch the users service's JWKS.
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
    watch_dependencies([host], settings)
    return host, observability.ObservabilityMiddleware(host.app, service=name)


def create_gateway_app(
    settings: Settings | None = None, gateway_settings: GatewaySettings | None = None
) -> tuple[Gateway, ASGIApp]:
    """The gateway alone in its process, in front of services in theirs."""
    settings = settings or Settings()
    gateway_settings = gateway_settings or GatewaySettings()
    observability.configure(
        service="gateway",
        level=settings.log_level,
        json_logs=settings.log_json,
        otlp_endpoint=settings.otlp_endpoint,
    )
    users = gateway_settings.upstreams.get("users")
    if not users:
        raise ValueError("the gateway needs the users service's URL (PANTHERA_GATEWAY__UPSTREAMS)")
    gateway = distributed(
        {name: spec.route_prefixes for name, spec in SERVICES.items()},
        remote_verifier(settings, users[0]),
        gateway_settings,
        limits=edge_limits(settings, gateway_settings),
        cache=EdgeCache(
            create_cache(settings.redis_url, prefix="panthera:gateway:"),
            prefixes=("/v1/products", "/v1/categories"),
            ttl_seconds=gateway_settings.cache_ttl_seconds,
        ),
    )
    return gateway, observability.ObservabilityMiddleware(gateway, service="gateway")
