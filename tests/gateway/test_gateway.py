"""The embedded gateway: routing, edge checks, docs, operations routes."""

from __future__ import annotations

import httpx

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


async def test_health_readiness_and_metrics(client: httpx.AsyncClient, alice: Account) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    await client.get("/v1/users/me", headers=alice.headers)
    metrics = (await client.get("/metrics")).text
    assert 'panthera_http_requests_total{method="GET",route="/v1/users/me",status="200"}' in metrics
    assert "panthera_http_request_duration_seconds_bucket" in metrics
