"""The route table and its Envoy rendering, checked by Envoy itself (`--mode validate`)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from typer.testing import CliRunner

from panthera.app import SERVICES
from panthera.cli import cli
from panthera.gateway import envoy
from panthera.gateway.process import envoy_binary
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import EdgeRoute, RouteTable, platform_table, service_routes
from panthera.kernel.auth.dependencies import AdminPrincipal, CurrentPrincipal
from panthera.kernel.routes import MIB, RouteRule, edge, rules_of
from panthera.kernel.settings import Settings

UPSTREAMS = {
    "users": ["http://127.0.0.1:8081"],
    "catalog": ["http://127.0.0.1:8082", "http://127.0.0.1:8085"],
    "orders": ["http://127.0.0.1:8083"],
    "notifications": ["http://127.0.0.1:8084"],
}


def concrete(path: str) -> str:
    """A request path for a route template."""
    parts = [str(uuid.uuid4()) if p.startswith("{") else p for p in path.split("/")]
    return "/".join(parts)


def validate(config: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "edge.json"
    path.write_text(json.dumps(config))
    binary = envoy_binary(GatewaySettings())
    checked = subprocess.run(
        [binary, "--mode", "validate", "-c", str(path), "--disable-hot-restart", "-l", "error"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def routes_by_name(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    host = manager["typed_config"]["route_config"]["virtual_hosts"][0]
    return {route["name"]: route for route in host["routes"]}


def test_every_route_belongs_to_the_service_that_declares_it() -> None:
    table = platform_table(list(SERVICES.values()))
    for spec in SERVICES.values():
        for route in service_routes(spec):
            method = min(route.rule.methods) if route.rule.methods else "PATCH"
            found = table.match(method, concrete(route.rule.path))
            assert found is not None and found.owner == spec.name, route
    assert table.match("GET", "/openapi.json").upstream_path == "/platform/openapi.json"  # type: ignore[union-attr]
    css = table.match("GET", "/docs/swagger-ui.css")
    assert css is not None and css.upstream_path == "/platform/docs/swagger-ui.css"
    assert table.match("GET", "/v1/usersX") is None
    policies = {
        (method, route.rule.path): route.rule.policy
        for route in table.routes
        for method in route.rule.methods
    }
    assert policies["GET", "/v1/users"] == "admin"
    assert policies["POST", "/v1/users"] == "anonymous"
    assert policies["GET", "/v1/users/me"] == "signed-in"
    assert policies["POST", "/v1/orders/{orderId}/ship"] == "admin"
    assert policies["GET", "/v1/products/{productId}"] == "anonymous"
    assert policies["GET", "/.well-known/jwks.json"] == "anonymous"


def test_a_route_under_another_services_prefix_or_claimed_twice_is_refused() -> None:
    stray = RouteRule(frozenset({"GET"}), "/v1/products/{productId}/reviews")
    users_catch_all = [r for r in service_routes(SERVICES["users"]) if r.rule.prefix]
    catalog_catch_all = [r for r in service_routes(SERVICES["catalog"]) if r.rule.prefix]
    with pytest.raises(ValueError, match="lies under catalog"):
        RouteTable([*users_catch_all, *catalog_catch_all, EdgeRoute("users", stray)])
    with pytest.raises(ValueError, match="claimed by"):
        RouteTable([EdgeRoute("users", stray), EdgeRoute("catalog", stray)])


def later_routes() -> RouteTable:
    """Routes later issues add: the table must express each of them."""
    catalog, media, orders = APIRouter(), APIRouter(), APIRouter()

    @catalog.post("/products/{productId}/images", max_body_size=10 * MIB)
    async def upload_image(_admin: AdminPrincipal) -> None: ...

    @media.get("/media/{key:path}", openapi_extra=edge(cache_control="public, immutable"))
    async def media_file() -> None: ...

    @orders.get("/orders/{orderId}", openapi_extra=edge(timeout=35))
    async def get_order(_who: CurrentPrincipal) -> None: ...

    @orders.post("/payments/stripe/webhook", openapi_extra=edge(rate_limited=False))
    async def stripe_webhook() -> None: ...

    def catch_all(owner: str, *prefixes: str) -> list[EdgeRoute]:
        return [EdgeRoute(owner, RouteRule(frozenset(), p, prefix=True)) for p in prefixes]

    routes = [
        *(EdgeRoute("catalog", r) for r in rules_of([(catalog, "/v1"), (media, "")])),
        *(EdgeRoute("orders", r) for r in rules_of([(orders, "/v1")])),
        *catch_all("catalog", "/v1/products", "/media"),
        *catch_all("orders", "/v1/orders", "/v1/payments"),
        *catch_all("web", "/", "/admin"),
    ]
    return RouteTable(routes)


def test_later_routes_render_with_their_limits_and_envoy_accepts_them(tmp_path: Path) -> None:
    table = later_routes()
    upstreams = {**UPSTREAMS, "web": ["http://web:8000"]}
    config = envoy.render(
        table,
        upstreams=upstreams,
        gateway=GatewaySettings(),
        platform=Settings(otlp_endpoint="http://collector:4318"),
        host="0.0.0.0",  # noqa: S104
        port=8080,
    )
    routes = routes_by_name(config)
    upload = routes["catalog POST /v1/products/{productId}/images"]["typed_per_filter_config"]
    assert upload[envoy.BUFFER_FILTER]["buffer"]["max_request_bytes"] == 10 * MIB
    assert envoy.RBAC_FILTER in upload and upload[envoy.CACHE_FILTER]["disabled"]
    media = routes["catalog GET /media/{key:path}"]
    assert envoy.CACHE_FILTER not in media["typed_per_filter_config"]  # cached by Envoy
    long_poll = routes["orders GET /v1/orders/{orderId}"]
    assert long_poll["route"]["timeout"] == "35.000s"
    assert "reset" in long_poll["route"]["retry_policy"]["retry_on"].split(",")
    webhook = routes["orders POST /v1/payments/stripe/webhook"]
    assert webhook["typed_per_filter_config"][envoy.PER_CLIENT]["disabled"]
    assert webhook["typed_per_filter_config"][envoy.PER_SERVICE]["disabled"]
    assert webhook["route"]["retry_policy"]["retry_on"].endswith("reset-before-request")
    names = list(routes)
    # Longest prefix first; an unknown API path stays the API's 404, never a web page.
    assert names[-4:] == ["web * /admin/*", "no route /v1", "web * //*", "no route /"]
    validate(config, tmp_path)


def test_gateway_config_command_prints_a_configuration_envoy_accepts(tmp_path: Path) -> None:
    upstreams = ",".join(f"{name}={url}" for name, urls in UPSTREAMS.items() for url in urls)
    upstreams = upstreams.replace("127.0.0.1:8085", "catalog-2.internal:8000")
    printed = CliRunner().invoke(
        cli, ["gateway", "config", "--upstreams", upstreams, "--port", "9000"]
    )
    assert printed.exit_code == 0, printed.output
    config = json.loads(printed.stdout)
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert clusters["users"]["type"] == "STATIC"
    catalog = clusters["catalog"]
    assert catalog["type"] == "STRICT_DNS"  # a name: resolved again and again
    assert len(catalog["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 2
    assert catalog["health_checks"][0]["http_health_check"]["path"] == "/readyz?exclude=redis"
    assert catalog["common_lb_config"]["healthy_panic_threshold"] == {"value": 50.0}
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    validate(config, tmp_path)
    missing = CliRunner().invoke(cli, ["gateway", "config", "--upstreams", "users=http://u:80"])
    assert missing.exit_code == 2 and "no upstream URL configured for: catalog" in missing.stderr


def test_rates_become_token_buckets_envoy_can_refill() -> None:
    assert envoy.token_bucket("600/minute") == (
        {"max_tokens": 600, "tokens_per_fill": 1, "fill_interval": "0.100s"},
        1,
    )
    assert envoy.token_bucket("3/minute") == (
        {"max_tokens": 3, "tokens_per_fill": 1, "fill_interval": "20.000s"},
        20,
    )
    bucket, retry_after = envoy.token_bucket("100000/minute")  # faster than Envoy refills
    assert bucket["tokens_per_fill"] == 84 and bucket["fill_interval"] == "0.050s"
    assert retry_after == 1
    with pytest.raises(ValueError):
        GatewaySettings(rate_limit_per_client="lots")


def test_trusted_proxy_cidrs_render_envoys_xff_detection_and_exclude_trusted_hops(
    tmp_path: Path,
) -> None:
    gateway = GatewaySettings(trusted_proxy_cidrs=["10.42.0.0/16", "192.0.2.7"])
    config = envoy.render(
        platform_table(list(SERVICES.values())),
        upstreams=UPSTREAMS,
        gateway=gateway,
        platform=Settings(),
        host="127.0.0.1",
        port=8080,
    )
    [listener] = [x for x in config["static_resources"]["listeners"] if x["name"] == "edge"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    # Envoy refuses the extension beside use_remote_address: the extension decides alone.
    assert "use_remote_address" not in manager and "xff_num_trusted_hops" not in manager
    [detection] = manager["original_ip_detection_extensions"]
    assert detection["typed_config"]["xff_trusted_cidrs"]["cidrs"] == [
        {"address_prefix": "10.42.0.0", "prefix_len": 16},
        {"address_prefix": "192.0.2.7", "prefix_len": 32},
    ]
    validate(config, tmp_path)
    with pytest.raises(ValueError, match="either TRUSTED_HOPS or TRUSTED_PROXY_CIDRS"):
        GatewaySettings(trusted_proxy_cidrs=["10.0.0.0/8"], trusted_hops=1)
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        GatewaySettings(trusted_proxy_cidrs=["web"])
