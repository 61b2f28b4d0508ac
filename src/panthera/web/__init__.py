"""The web storefront and admin console: a client of the public `/v1` API, like any other.

Shaped like a service (own settings `PANTHERA_WEB__*`, templates, static assets)
but with no tables and no events: it imports no service, only the kernel.
Embedded, the platform serves it at `/` and `/admin`; distributed, it runs as
`panthera serve web` behind the edge.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from panthera.kernel import observability
from panthera.kernel.ops import ops_router
from panthera.kernel.settings import Settings
from panthera.web.sessions import RedisSessions
from panthera.web.settings import WebSettings
from panthera.web.site import Site, create_site

__all__ = ["Site", "WebSettings", "create_site", "create_web_app"]


def create_web_app(settings: Settings, web: WebSettings | None = None) -> tuple[Site, ASGIApp]:
    """The web alone in its process: over HTTP to the edge, sessions in Redis, with
    `/healthz`, `/readyz` and `/metrics`."""
    observability.configure(
        service="web",
        level=settings.log_level,
        json_logs=settings.log_json,
        otlp_endpoint=settings.otlp_endpoint,
    )
    site = create_site(settings, web)
    # Its one dependency is the session store: named after Redis when sessions live there,
    # so that `/readyz?exclude=redis` (the traffic probes) treats it as every other process.
    check = "web.redis" if isinstance(site.sessions, RedisSessions) else "web"
    site.fastapi.include_router(ops_router(lambda: [(check, site.ready)]))
    return site, observability.ObservabilityMiddleware(site.app, service="web")
