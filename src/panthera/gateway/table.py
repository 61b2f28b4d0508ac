"""The platform's route table: every public route, the service that owns it, its rule.

Built from the services' own routers (`kernel.routes`), so it is declared
once; the Envoy configuration and the embedded dispatcher are two renderings
of it. Besides each specific route, a service's path prefixes are catch-alls
to it, so that its own 404 and 405 answers reach clients unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from panthera.kernel.routes import MIB, RouteRule, RouteRules, rules_of
from panthera.kernel.service import API_PREFIX, ServiceSpec

SITE_OWNER = "web"
"""The web storefront and admin console: every path that no service and no operational
route claims (`/`, `/admin`, `/static/...`), below everything else."""
SITE_BODY_LIMIT = 12 * MIB
"""The console's forms carry product images; the web bounds each form itself."""
SITE_TIMEOUT = 35.0
"""The order page holds a request while the order waits for its decision."""
DOCS_OWNER = "users"
PLATFORM_DOCS_PREFIX = "/platform"
"""Where a service process serves the merged OpenAPI document and the docs page."""
DOCS_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
"""Swagger UI's files, vendored in the package and served under `/docs/`: the page works
offline."""


@dataclass(frozen=True)
class EdgeRoute:
    owner: str
    rule: RouteRule
    upstream_path: str | None = None
    """The path the owner serves the route at, when it differs from the public one."""


class RouteTable:
    def __init__(self, routes: Iterable[EdgeRoute]) -> None:
        self.routes = sorted(
            routes, key=lambda r: (r.rule.prefix, -len(r.rule.path) if r.rule.prefix else 0)
        )
        by_rule: dict[RouteRule, EdgeRoute] = {}
        for route in self.routes:
            if route.rule in by_rule:
                raise ValueError(
                    f"{route.rule.path} is claimed by {by_rule[route.rule].owner} and {route.owner}"
                )
            by_rule[route.rule] = route
        self._by_rule = by_rule
        self.rules = RouteRules(route.rule for route in self.routes)
        _check_owners(self.routes)

    def match(self, method: str, path: str) -> EdgeRoute | None:
        rule = self.rules.match(method, path)
        return None if rule is None else self._by_rule[rule]

    @property
    def owners(self) -> list[str]:
        return list(dict.fromkeys(route.owner for route in self.routes))


def service_routes(spec: ServiceSpec[Any]) -> list[EdgeRoute]:
    """A service's routes as its router declares them, then its catch-all prefixes."""
    routers = [(spec.router, API_PREFIX)]
    if spec.root_router is not None:
        routers.append((spec.root_router, ""))
    specific = [EdgeRoute(spec.name, rule) for rule in rules_of(routers)]
    catch_all = [
        EdgeRoute(spec.name, RouteRule(methods=frozenset(), path=prefix, prefix=True))
        for prefix in spec.route_prefixes
    ]
    return specific + catch_all


def docs_routes(owner: str = DOCS_OWNER) -> list[EdgeRoute]:
    """`/openapi.json` (every service merged), `/docs` and its assets, served by any
    service process."""
    paths = ("/openapi.json", "/docs", *(f"/docs/{name}" for name in DOCS_ASSETS))
    return [
        EdgeRoute(
            owner,
            RouteRule(methods=frozenset({"GET"}), path=path),
            upstream_path=PLATFORM_DOCS_PREFIX + path,
        )
        for path in paths
    ]


def site_route(owner: str = SITE_OWNER) -> EdgeRoute:
    return EdgeRoute(
        owner,
        RouteRule(
            methods=frozenset(),
            path="/",
            prefix=True,
            body_limit=SITE_BODY_LIMIT,
            timeout=SITE_TIMEOUT,
        ),
    )


def is_site(route: EdgeRoute) -> bool:
    return route.rule.prefix and route.rule.path == "/"


def platform_table(
    specs: Sequence[ServiceSpec[Any]], *, docs_owner: str = DOCS_OWNER, site: bool = False
) -> RouteTable:
    """Every service's routes, the API documents, and with `site` the web at `/`."""
    routes = [route for spec in specs for route in service_routes(spec)]
    if any(spec.name == docs_owner for spec in specs):
        routes += docs_routes(docs_owner)
    if site:
        routes.append(site_route())
    return RouteTable(routes)


def _check_owners(routes: Sequence[EdgeRoute]) -> None:
    """A specific route under another service's prefix would reach the wrong service when
    the specific route is missing somewhere (an older edge): refuse such a table."""
    prefixes = [  # a catch-all of the whole site (a web front) claims nothing in particular
        (route.rule.path, route.owner)
        for route in routes
        if route.rule.prefix and route.rule.path.strip("/")
    ]
    for route in routes:
        if route.rule.prefix:
            continue
        path = route.rule.path
        claims = [
            (len(prefix), owner)
            for prefix, owner in prefixes
            if path == prefix or path.startswith(prefix.rstrip("/") + "/")
        ]
        if claims and max(claims)[1] != route.owner:
            raise ValueError(f"{path} of {route.owner} lies under {max(claims)[1]}'s prefix")
