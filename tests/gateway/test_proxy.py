"""The gateway's distributed form against real HTTP servers on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from panthera.gateway.app import distributed
from panthera.gateway.edge import EdgeCache, RateLimits
from panthera.gateway.settings import GatewaySettings
from panthera.kernel import observability
from panthera.kernel.auth.tokens import TokenVerifier
from panthera.kernel.cache import MemoryCache
from panthera.kernel.ratelimit import RateLimiter
from tests.conftest import assert_problem
from tests.e2e.processes import free_port


def echo_app(name: str, hits: list[str]) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        hits.append(name)
        return JSONResponse(
            {
                "replica": name,
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "body": (await request.body()).decode(),
                "headers": dict(request.headers),
            },
            headers={"etag": '"v1"'},
        )

    async def ready(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/readyz", ready),
            Route("/v1/{rest:path}", echo, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )


@contextlib.asynccontextmanager
async def serve(app: Starlette, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers only this flag)
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[list[str], list[int]]]:
    hits: list[str] = []
    ports = [free_port(), free_port()]
    async with serve(echo_app("a", hits), ports[0]), serve(echo_app("b", hits), ports[1]):
        yield hits, ports


def gateway_client(upstreams: dict[str, list[str]], **options: Any) -> httpx.AsyncClient:
    observability.configure(service="gateway", level="WARNING")
    settings = GatewaySettings(upstreams=upstreams, **options)
    verifier = TokenVerifier(issuer="panthera", audience="panthera")
    gateway = distributed(
        {"catalog": ("/v1/products",)},
        verifier,
        settings,
        limits=RateLimits(
            RateLimiter(),
            per_client=settings.rate_limit_per_client,
            per_route=settings.rate_limit_per_route,
        ),
        cache=EdgeCache(MemoryCache(), prefixes=("/v1/products",), ttl_seconds=60),
    )
    app = observability.ObservabilityMiddleware(gateway, service="gateway")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://gw")


async def test_forwards_requests_unchanged_with_tracing_headers(
    replicas: tuple[list[str], list[int]],
) -> None:
    _, ports = replicas
    async with gateway_client({"catalog": [f"http://127.0.0.1:{ports[0]}"]}) as client:
        answer = await client.post(
            "/v1/products/x?a=1&b=2",
            content=b"hello",
            headers={"X-Request-ID": "req-1", "Connection": "close", "Authorization": "Basic abc"},
        )
    body = answer.json()
    assert (body["method"], body["path"], body["query"], body["body"]) == (
        "POST",
        "/v1/products/x",
        "a=1&b=2",
        "hello",
    )
    assert body["headers"]["x-request-id"] == "req-1"
    assert body["headers"]["x-forwarded-for"] == "198.51.100.4"
    assert "traceparent" in body["headers"]
    assert answer.headers["x-request-id"] == "req-1"
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_replicas_take_turns_and_a_dead_one_is_skipped(
    replicas: tuple[list[str], list[int]],
) -> None:
    hits, ports = replicas
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    async with gateway_client({"catalog": urls}, cache_ttl_seconds=0) as client:
        for _ in range(6):
            assert (await client.post("/v1/products")).status_code == 200
        assert sorted(hits) == ["a"] * 3 + ["b"] * 3
    hits.clear()
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway_client({"catalog": [dead, urls[0]]}) as client:
        answers = [await client.post("/v1/products") for _ in range(6)]
    assert all(a.status_code == 200 for a in answers)
    assert hits == ["a"] * 6


async def test_a_dead_service_answers_503_and_the_breaker_opens() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway_client({"catalog": [dead]}) as client:
        answers = [await client.get("/v1/products") for _ in range(5)]
    for answer in answers:
        assert "catalog" in assert_problem(answer, 503)["detail"]
        assert answer.headers["retry-after"] == "1"


async def test_oversized_bodies_are_413(replicas: tuple[list[str], list[int]]) -> None:
    _, ports = replicas
    async with gateway_client(
        {"catalog": [f"http://127.0.0.1:{ports[0]}"]}, max_body_bytes=2048
    ) as client:
        assert_problem(await client.post("/v1/products", content=b"x" * 5000), 413)


async def test_anonymous_reads_are_cached_at_the_edge(
    replicas: tuple[list[str], list[int]],
) -> None:
    hits, ports = replicas
    async with gateway_client({"catalog": [f"http://127.0.0.1:{ports[0]}"]}) as client:
        first = await client.get("/v1/products?search=shoe")
        second = await client.get("/v1/products?search=shoe")
        signed = await client.get("/v1/products?search=shoe", headers={"Authorization": "Basic x"})
    assert first.json() == second.json()
    assert second.headers["x-cache"] == "hit" and second.headers["etag"] == '"v1"'
    assert "x-cache" not in signed.headers
    assert hits == ["a", "a"]


async def test_clients_are_rate_limited_with_retry_after(
    replicas: tuple[list[str], list[int]],
) -> None:
    _, ports = replicas
    async with gateway_client(
        {"catalog": [f"http://127.0.0.1:{ports[0]}"]}, rate_limit_per_client="3/minute"
    ) as client:
        statuses = [(await client.post("/v1/products")).status_code for _ in range(4)]
        limited = await client.post("/v1/products")
    assert statuses == [200, 200, 200, 429]
    assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
