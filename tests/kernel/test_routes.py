"""Route rules: policies read from a route's own dependencies, limits declared beside it."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends

from panthera.kernel.auth.dependencies import AdminPrincipal, CurrentPrincipal, OptionalPrincipal
from panthera.kernel.routes import MIB, RouteRule, RouteRules, edge, rules_of


async def needs_admin_deep(_admin: AdminPrincipal) -> None:
    """A dependency that itself depends on the admin principal."""


def sample_router() -> APIRouter:
    inner = APIRouter(prefix="/things")

    @inner.get("", openapi_extra=edge(cache_control="public, max-age=5"))
    async def list_things(_who: OptionalPrincipal) -> None: ...

    @inner.post("", max_body_size=10 * MIB)
    async def add_thing(_admin: AdminPrincipal) -> None: ...

    @inner.get("/{thingId}", openapi_extra=edge(timeout=35))
    async def get_thing(_who: CurrentPrincipal) -> None: ...

    @inner.delete("/{thingId}")
    async def delete_thing(_check: Annotated[None, Depends(needs_admin_deep)]) -> None: ...

    @inner.post("/hooks/{provider:path}", openapi_extra=edge(rate_limited=False))
    async def hook() -> None: ...

    outer = APIRouter()
    outer.include_router(inner)
    return outer


def by_key(rules: list[RouteRule]) -> dict[tuple[str, str], RouteRule]:
    return {(method, rule.path): rule for rule in rules for method in rule.methods}


def test_policies_come_from_the_routes_dependencies_through_included_routers() -> None:
    rules = by_key(rules_of([(sample_router(), "/v1")]))
    assert rules["GET", "/v1/things"].policy == "anonymous"
    assert rules["POST", "/v1/things"].policy == "admin"
    assert rules["GET", "/v1/things/{thingId}"].policy == "signed-in"
    assert rules["DELETE", "/v1/things/{thingId}"].policy == "admin"  # a dependency's dependency
    assert rules["POST", "/v1/things/hooks/{provider:path}"].policy == "anonymous"


def test_declared_attributes_are_read_beside_the_route() -> None:
    rules = by_key(rules_of([(sample_router(), "/v1")]))
    assert rules["GET", "/v1/things"].cache_control == "public, max-age=5"
    assert rules["POST", "/v1/things"].body_limit == 10 * MIB
    assert rules["GET", "/v1/things/{thingId}"].timeout == 35
    assert rules["POST", "/v1/things/hooks/{provider:path}"].rate_limited is False
    untouched = rules["DELETE", "/v1/things/{thingId}"]
    assert (untouched.body_limit, untouched.timeout, untouched.cache_control) == (None, None, None)
    assert untouched.rate_limited


def test_a_declared_policy_may_not_contradict_the_dependencies() -> None:
    router = APIRouter()

    @router.get("/x", openapi_extra=edge(policy="anonymous"))
    async def x(_admin: AdminPrincipal) -> None: ...

    with pytest.raises(ValueError, match="contradicts"):
        rules_of([(router, "")])
    with pytest.raises(ValueError):
        edge(timeout=0)
    with pytest.raises(ValueError):
        edge(policy="root")  # type: ignore[arg-type]


def test_rules_match_specific_routes_first_then_the_longest_prefix() -> None:
    rules = RouteRules(
        [
            RouteRule(frozenset(), "/", prefix=True),
            RouteRule(frozenset(), "/v1/things", prefix=True),
            RouteRule(frozenset({"GET"}), "/v1/things/{id}"),
            RouteRule(frozenset({"GET"}), "/files/{rest:path}"),
        ]
    )
    assert rules.match("GET", "/v1/things/1") == RouteRule(frozenset({"GET"}), "/v1/things/{id}")
    assert rules.match("PUT", "/v1/things/1") == RouteRule(frozenset(), "/v1/things", prefix=True)
    assert rules.match("GET", "/v1/things/1/more").path == "/v1/things"  # type: ignore[union-attr]
    assert rules.match("GET", "/v1/thingsX").path == "/"  # type: ignore[union-attr]
    assert rules.match("GET", "/files/a/b.png").path == "/files/{rest:path}"  # type: ignore[union-attr]
    assert RouteRules([RouteRule(frozenset({"GET"}), "/a")]).match("GET", "/b") is None
