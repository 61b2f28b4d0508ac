"""The embedded gateway: routing, edge checks, docs, operations routes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from panthera.app import Platform
from panthera.gateway.edge import client_address
from tests.conftest import Account, assert_problem


async def test_users_without_token_is_401_with_the_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users")
    body = assert_problem(response, 401)
    assert body["instance"] == "/v1/users"
    assert body["requestId"] == response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_request_id_is_echoed_when_sane_and_replaced_otherwise(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_bad_token_is_refused_at_the_edge(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/me", headers={"Authorization": "Bearer x.y.z"})
    assert_problem(response, 401)


async def test_an_oversized_body_is_413_before_any_service_reads_it(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"username": "' + b"x" * 2_000_000 + b'"}'
    response = await client.post(
        "/v1/users", content=body, headers={"content-type": "application/json"}
    )
    assert "bytes" in assert_problem(response, 413)["detail"]


async def test_unknown_routes_get_the_error_body(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404)
    assert_problem(await client.get("/v1"), 404)
    assert_problem(await client.get("/v1/usersX"), 404)
    assert_problem(await client.patch("/v1/users"), 405)


async def test_merged_openapi_and_docs(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "/v1/users" in document["paths"]
    assert "/v1/auth/login" in document["paths"]
    assert "ErrorResponse" in document["components"]["schemas"]
    assert "BearerAuth" in document["components"]["securitySchemes"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text and "/openapi.json" in docs.text
    assert "http" not in docs.text  # nothing from another site: it works offline
    for asset, media in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ]:
        answer = await client.get(f"/docs/{asset}")
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].startswith(media)
        assert answer.content
    assert (await client.get("/docs/index.html")).status_code == 404  # only those files


async def test_health_readiness_and_metrics(client: httpx.AsyncClient, alice: Account) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.headers["content-type"].startswith("application/json")
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] and set(body["checks"].values()) == {"ok"}, body
    assert {"users", "users.database"} <= set(body["checks"]), body
    await client.get("/v1/users/me", headers=alice.headers)
    metrics = (await client.get("/metrics")).text
    assert 'panthera_http_requests_total{method="GET",route="/v1/users/me",status="200"}' in metrics
    assert "panthera_http_request_duration_seconds_bucket" in metrics


def request_for(method: str, path: str) -> tuple[str, str, dict[str, Any] | None]:
    """A request to a route template: random ids, an empty JSON object for writes."""
    concrete = "/".join(str(uuid.uuid4()) if p.startswith("{") else p for p in path.split("/"))
    return method, concrete, ({} if method in ("POST", "PUT") else None)


async def test_the_edge_and_each_service_agree_on_every_routes_policy(
    platform: Platform, client: httpx.AsyncClient, alice: Account
) -> None:
    """Through the edge or straight to the service, every route answers alike: the edge
    refuses exactly what the service would refuse."""
    table = platform.gateway.table
    checked = 0
    for route in table.routes:
        if route.rule.prefix or route.upstream_path is not None:
            continue
        service = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=platform.hosts[route.owner].app),
            base_url="http://service",
        )
        async with service:
            for method in sorted(route.rule.methods):
                method, path, body = request_for(method, route.rule.path)
                for headers in ({}, alice.headers):
                    at_edge = await client.request(method, path, json=body, headers=headers)
                    direct = await service.request(method, path, json=body, headers=headers)
                    assert at_edge.status_code == direct.status_code, (method, path, headers)
                    if route.rule.policy != "anonymous" and not headers:
                        assert at_edge.status_code == 401, (method, path)
                    if route.rule.policy == "admin" and headers:
                        assert at_edge.status_code == 403, (method, path)
                    if route.rule.policy == "anonymous" and not headers:
                        assert at_edge.status_code not in (401, 403), (method, path)
                    checked += 1
    assert checked >= 2 * 25


async def test_a_200_mb_chunked_login_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    """Issue 10, finding 1: a chunked body was read whole before anything refused it."""
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 200 * 1024 * 1024:
            sent += 64 * 1024
            yield b" " * (64 * 1024)

    answer = await client.post(
        "/v1/auth/login", content=endless(), headers={"content-type": "application/json"}
    )
    assert_problem(answer, 413)
    assert sent <= 2 * 1024 * 1024


def test_the_client_address_is_the_peer_unless_proxies_in_front_are_trusted() -> None:
    scope: dict[str, Any] = {
        "client": ("10.0.0.9", 5000),
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.1")],
    }
    assert client_address(scope, trusted_hops=0) == "10.0.0.9"
    assert client_address(scope, trusted_hops=1) == "198.51.100.1"
    assert client_address(scope, trusted_hops=2) == "6.6.6.6"
    assert client_address(scope, trusted_hops=3) == "10.0.0.9"


async def test_the_web_serves_every_other_path(client: httpx.AsyncClient) -> None:
    home = await client.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"].startswith("text/html")
    assert (await client.get("/no-such-page")).status_code == 404
