"""What the edge must know about each route, declared where the route is defined.

A route's access policy is read from its own FastAPI dependencies (a route that
depends on `AdminPrincipal` is an admin route), so the edge and the service
cannot disagree about it. What cannot be derived (a larger body limit, a longer
timeout, an exemption from per-client rate limits, how long anonymous reads may
be cached) is declared next to the route: a body limit with FastAPI's own
`max_body_size`, the rest with `edge(...)`:

    @router.get("/{orderId}", openapi_extra=edge(timeout=35))
    @router.post("/{productId}/images", max_body_size=10 * MIB)

`edge` travels in the route's OpenAPI operation (`x-panthera-edge`), so
clients see it too. The edge (Envoy's configuration, the embedded dispatcher)
and each service's own guards read the same `RouteRule`s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response

from panthera.kernel.auth.dependencies import admin_principal, current_principal
from panthera.kernel.errors import problem

Policy = Literal["anonymous", "signed-in", "admin"]
POLICIES: tuple[Policy, ...] = get_args(Policy)
EDGE_EXTENSION = "x-panthera-edge"
MIB = 1024 * 1024
DEFAULT_BODY_LIMIT = MIB
"""Bytes a request body may have on a route that declares no limit of its own."""
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def edge(
    *,
    timeout: float | None = None,
    rate_limited: bool = True,
    cache_control: str | None = None,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """Per-route edge attributes, passed as the route's `openapi_extra`.

    `timeout`: seconds the edge waits for an answer (long polls).
    `rate_limited=False`: exempt from per-client limits (webhooks from one
    provider's few addresses). `cache_control`: what an anonymous `GET` answer
    may be cached as, e.g. `"public, max-age=5"`. `policy`: only for routes whose
    policy is not visible in their dependencies.
    """
    if timeout is not None and not 0 < timeout <= 300:
        raise ValueError("timeout must be within (0, 300] seconds")
    if policy is not None and policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}")
    declared: dict[str, Any] = {}
    if timeout is not None:
        declared["timeoutSeconds"] = timeout
    if not rate_limited:
        declared["rateLimited"] = False
    if cache_control is not None:
        declared["cacheControl"] = cache_control
    if policy is not None:
        declared["policy"] = policy
    return {EDGE_EXTENSION: declared}


@dataclass(frozen=True)
class RouteRule:
    """One public route as the edge sees it.

    `prefix=True` makes `path` match itself and everything below it (a
    service's catch-all, so that its own 404 and 405 answers reach the client).
    """

    methods: frozenset[str]
    path: str
    policy: Policy = "anonymous"
    body_limit: int | None = None
    timeout: float | None = None
    rate_limited: bool = True
    cache_control: str | None = None
    prefix: bool = False

    @property
    def regex(self) -> str:
        """A full-match regular expression for the path (RE2 and Python compatible)."""
        if self.prefix:
            return "^" + re.escape(self.path.rstrip("/")) + "(/.*)?$"
        parts = re.split(r"(\{[^}]+\})", self.path)
        pattern = "".join(
            _CONVERTER_PATTERNS.get(part.partition(":")[2].rstrip("}"), "[^/]+")
            if part.startswith("{")
            else re.escape(part)
            for part in parts
        )
        return f"^{pattern}$"

    @property
    def idempotent(self) -> bool:
        return bool(self.methods) and self.methods <= IDEMPOTENT_METHODS


# Starlette's path convertors, as the edge must match them (RE2 and Python compatible).
_CONVERTER_PATTERNS = {
    "path": ".+",
    "uuid": "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "int": "[0-9]+",
}


class RouteRules:
    """Rules matched in order: specific routes first, then catch-alls, longest first."""

    def __init__(self, rules: Iterable[RouteRule]) -> None:
        self.rules = sorted(rules, key=lambda r: (r.prefix, -len(r.path) if r.prefix else 0))
        self._compiled = [(re.compile(rule.regex), rule) for rule in self.rules]

    def match(self, method: str, path: str) -> RouteRule | None:
        for pattern, rule in self._compiled:
            if (not rule.methods or method in rule.methods) and pattern.match(path):
                return rule
        return None

    def __iter__(self) -> Iterator[RouteRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


def policy_of(dependant: Dependant) -> Policy:
    """The strictest principal a route's dependencies ask for."""
    calls = set(_dependency_calls(dependant))
    if admin_principal in calls:
        return "admin"
    if current_principal in calls:
        return "signed-in"
    return "anonymous"


def _dependency_calls(dependant: Dependant) -> Iterable[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _dependency_calls(dependency)


def rule_of(route: RouteContext, *, mounted: str = "") -> RouteRule:
    """The rule of one API route (as included in its router) mounted under `mounted`."""
    extra: dict[str, Any] = route.openapi_extra or {}
    declared: dict[str, Any] = dict(extra.get(EDGE_EXTENSION, {}))
    path = mounted + str(route.path)
    derived = policy_of(route.dependant)
    policy = declared.get("policy", derived)
    if derived != "anonymous" and policy != derived:
        raise ValueError(
            f"{path}: declared policy {policy!r} contradicts its dependencies ({derived!r})"
        )
    return RouteRule(
        methods=frozenset(route.methods or ()),
        path=path,
        policy=policy,
        body_limit=route.max_body_size,
        timeout=declared.get("timeoutSeconds"),
        rate_limited=declared.get("rateLimited", True),
        cache_control=declared.get("cacheControl"),
    )


def rules_of(routers: Sequence[tuple[APIRouter, str]]) -> list[RouteRule]:
    """The rules of every API route of `(router, mounted_under)` pairs."""
    return [
        rule_of(route, mounted=mounted)
        for router, mounted in routers
        for route in iter_route_contexts(router.routes)
        if isinstance(route.original_route, APIRoute)
    ]


def allowed_methods(router: APIRouter, path: str) -> list[str]:
    """The methods the published routes answer at `path`, for a 405's `Allow`.

    A path spelled out by a route (`/v1/users/me`) is that route's alone, even where
    a templated sibling (`/v1/users/{userId}`) would match it too.
    """
    routes = [
        route
        for route in iter_route_contexts(router.routes)
        if isinstance(route.original_route, APIRoute) and route.original_route.include_in_schema
    ]
    literal = [route for route in routes if route.path == path]
    matching = literal or [
        route
        for route in routes
        if re.fullmatch(RouteRule(frozenset(), str(route.path)).regex, path)
    ]
    # Likewise among templates: `/images/order` is its own path, not an `{imageId}`.
    most = max((_literal_segments(str(route.path)) for route in matching), default=0)
    matching = [route for route in matching if _literal_segments(str(route.path)) == most]
    return sorted({method for route in matching for method in route.methods or ()})


def _literal_segments(template: str) -> int:
    return sum(1 for part in template.split("/") if part and not part.startswith("{"))


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 with an `Allow` that names every method of the path, not only those of the
    first route that matched it (a path may be served by several routes)."""
    allow = allowed_methods(request.app.router, request.url.path)
    return problem(request, 405, "Method Not Allowed", headers={"Allow": ", ".join(allow)})
