"""The composition root: the one place that knows every service.

`create_app` builds the platform for all services or a chosen few; nothing is
built at import time, so tests and processes each get their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.types import ASGIApp

from panthera.gateway.app import Gateway
from panthera.kernel import observability
from panthera.kernel.auth.keys import load_or_create_signing_key
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.service import ServiceHost, ServiceSettings, ServiceSpec
from panthera.kernel.settings import Settings
from panthera.services import users

SERVICES: dict[str, ServiceSpec] = {spec.name: spec for spec in (users.spec,)}


def local_verifier(settings: Settings) -> TokenVerifier:
    """A verifier trusting this installation's own signing key."""
    key = load_or_create_signing_key(settings.signing_key_path)
    verifier = TokenVerifier(issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    verifier.add_key(key.kid, key.public_key)
    return verifier


class Platform:
    """The gateway with its hosted services, as one ASGI app."""

    def __init__(self, gateway: Gateway, app: ASGIApp) -> None:
        self.gateway = gateway
        self.app = app

    @property
    def hosts(self) -> dict[str, ServiceHost]:
        return {host.spec.name: host for host in self.gateway.hosts}

    def running(self):  # type: ignore[no-untyped-def]
        return self.gateway.running()


def create_platform(
    settings: Settings | None = None,
    services: Sequence[str] | None = None,
    service_settings: Mapping[str, ServiceSettings] | None = None,
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
    hosts = [ServiceHost(SERVICES[name], settings, verifier, overrides.get(name)) for name in names]
    gateway = Gateway(hosts, verifier)
    return Platform(gateway, observability.ObservabilityMiddleware(gateway, service="gateway"))


def create_app(
    settings: Settings | None = None,
    services: Sequence[str] | None = None,
    service_settings: Mapping[str, ServiceSettings] | None = None,
) -> ASGIApp:
    """The embedded platform as an ASGI app (lifespan included)."""
    return create_platform(settings, services, service_settings).app
