"""The web calls the API for its visitors through the edge: a real Envoy believes the
visitor's address in X-Forwarded-For from the web's address only, so each visitor gets a
rate-limit bucket of their own, and nobody else can choose a bucket by writing the header.

The web's address is 127.0.0.2 and a stranger's 127.0.0.3 (loopback answers the whole
127/8), so one machine plays all three parts.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from panthera.gateway import envoy
from panthera.gateway.process import envoy_binary, envoy_command, write_config
from panthera.gateway.settings import GatewaySettings
from panthera.gateway.table import EdgeRoute, RouteTable
from panthera.kernel.routes import RouteRule
from panthera.kernel.settings import Settings
from panthera.testing.ports import free_port
from tests.conftest import assert_problem

pytestmark = pytest.mark.e2e

WEB = "127.0.0.2"
STRANGER = "127.0.0.3"
ALLOWANCE = 3  # requests per client per minute: the bucket refills far slower than a test


def upstream_app() -> Starlette:
    async def ready(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready"})

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"forwardedFor": request.headers.get("x-forwarded-for")})

    async def jwks(_request: Request) -> JSONResponse:
        return JSONResponse({"keys": []})

    return Starlette(
        routes=[
            Route("/readyz", ready),
            Route("/echo", echo),
            Route("/.well-known/jwks.json", jwks),
        ]
    )


@dataclass
class Edge:
    base: str

    def get(self, source: str, forwarded_for: str | None = None) -> httpx.Response:
        """One request from the local address `source`, claiming `forwarded_for`."""
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=10) as http:
            return http.get(f"{self.base}/echo", headers=headers)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    tmp = tmp_path_factory.mktemp("forwarded-edge")
    upstream_port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            upstream_app(), host="127.0.0.1", port=upstream_port, log_config=None, lifespan="off"
        )
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    gateway = GatewaySettings(
        admin_port=free_port(),
        stats_port=0,
        concurrency=1,
        health_check_seconds=1,
        rate_limit_per_client=f"{ALLOWANCE}/minute",
        trusted_proxy_cidrs=[f"{WEB}/32"],
    )
    port = free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    config = envoy.render(
        RouteTable([EdgeRoute("shop", RouteRule(frozenset({"GET"}), "/echo"))]),
        upstreams={"shop": [upstream], "users": [upstream]},  # users: the JWKS
        gateway=gateway,
        platform=Settings(),
        host="127.0.0.1",
        port=port,
    )
    path = write_config(config, tmp / "edge.json")
    with (tmp / "envoy.log").open("wb") as log:
        process = subprocess.Popen(
            envoy_command(envoy_binary(gateway), path, gateway), stdout=log, stderr=log
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp / "envoy.log").read_text()
            assert time.monotonic() < deadline, "the edge did not become ready"
            time.sleep(0.2)
        yield Edge(base)
    finally:
        process.terminate()
        process.wait(timeout=20)
        server.should_exit = True
        serving.join(timeout=10)


def spend(edge: Edge, source: str, forwarded_for: str | None) -> list[int]:
    """The statuses of one more request than the allowance."""
    return [edge.get(source, forwarded_for).status_code for _ in range(ALLOWANCE + 1)]


def test_visitors_forwarded_by_the_web_have_buckets_of_their_own(edge: Edge) -> None:
    assert spend(edge, WEB, "198.51.100.1") == [200] * ALLOWANCE + [429]
    # Another visitor through the same web: untouched by the first one's spending.
    second = edge.get(WEB, "198.51.100.2")
    assert second.status_code == 200
    assert second.json() == {"forwardedFor": "198.51.100.2"}  # what the services see
    refused = edge.get(WEB, "198.51.100.1")
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    # The web's own calls (no visitor behind them) are its own client.
    own = edge.get(WEB)
    assert own.json() == {"forwardedFor": WEB}


def test_a_forwarded_address_from_anyone_else_changes_nothing(edge: Edge) -> None:
    first = edge.get(STRANGER, "198.51.100.3")
    assert first.status_code == 200
    assert first.json() == {"forwardedFor": STRANGER}  # the claim does not reach a service
    statuses = [first.status_code] + [
        edge.get(STRANGER, f"198.51.100.{10 + n}").status_code for n in range(ALLOWANCE)
    ]
    # A fresh claim on every request, and still one bucket: the stranger's own.
    assert statuses == [200] * ALLOWANCE + [429]
    # Nor can the stranger spend a forwarded visitor's bucket, or name the web.
    assert edge.get(STRANGER, "198.51.100.2").status_code == 429
    assert edge.get(STRANGER, WEB).status_code == 429
    assert edge.get(WEB, "198.51.100.4").status_code == 200
