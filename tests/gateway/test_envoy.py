"""The rendered edge in a real Envoy, in front of a small real upstream: TLS with HTTP/2,
timeouts answered as problems, trace context and OTLP export, client addresses."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import ipaddress
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
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


def upstream_app() -> Starlette:
    async def ready(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready"})

    async def jwks(_request: Request) -> JSONResponse:
        return JSONResponse({"keys": []})

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"headers": dict(request.headers)})

    async def slow(_request: Request) -> JSONResponse:
        await asyncio.sleep(3)
        return JSONResponse({"late": True})

    return Starlette(
        routes=[
            Route("/readyz", ready),
            Route("/.well-known/jwks.json", jwks),
            Route("/echo", echo),
            Route("/slow", slow),
        ]
    )


class Collector(http.server.ThreadingHTTPServer):
    """Receives what an OTLP/HTTP exporter posts (no collector is installable here)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.headers.get("transfer-encoding") == "chunked":
                    body = b""
                    while size := int(self.rfile.readline().strip(), 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("content-length") or 0))
                collector.posts.append((self.path, self.headers["content-type"], body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "edge.crt", directory / "edge.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class TlsEdge:
    base: str
    port: int
    certificate: Path
    collector: Collector

    @property
    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.certificate)


@pytest.fixture(scope="module")
def tls_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsEdge]:
    tmp = tmp_path_factory.mktemp("tls-edge")
    upstream_port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            upstream_app(), host="127.0.0.1", port=upstream_port, log_config=None, lifespan="off"
        )
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    collector = Collector()
    collecting = threading.Thread(target=collector.serve_forever, daemon=True)
    collecting.start()
    cert_file, key_file = self_signed(tmp)
    url = f"http://127.0.0.1:{upstream_port}"
    table = RouteTable(
        [
            EdgeRoute("users", RouteRule(frozenset({"GET"}), "/.well-known/jwks.json")),
            EdgeRoute("slowpoke", RouteRule(frozenset({"GET"}), "/echo")),
            EdgeRoute("slowpoke", RouteRule(frozenset({"GET"}), "/slow", timeout=1)),
            EdgeRoute("slowpoke", RouteRule(frozenset(), "/echo", prefix=True)),  # catch-all
        ]
    )
    gateway = GatewaySettings(
        admin_port=free_port(),
        stats_port=0,
        concurrency=1,
        health_check_seconds=1,
        tls_cert_file=cert_file,
        tls_key_file=key_file,
        cors_origins=["https://shop.example"],
    )
    port = free_port()
    config = envoy.render(
        table,
        upstreams={"users": [url], "slowpoke": [url]},
        gateway=gateway,
        platform=Settings(otlp_endpoint=f"http://127.0.0.1:{collector.server_address[1]}"),
        host="127.0.0.1",
        port=port,
    )
    path = write_config(config, tmp / "edge.json")
    binary = envoy_binary(gateway)
    with (tmp / "envoy.log").open("wb") as log:
        process = subprocess.Popen(envoy_command(binary, path, gateway), stdout=log, stderr=log)
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if (
                    httpx.get(
                        f"{base}/readyz", verify=ssl.create_default_context(cafile=cert_file)
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp / "envoy.log").read_text()
            assert time.monotonic() < deadline, "the edge did not become ready"
            time.sleep(0.2)
        yield TlsEdge(base, port, cert_file, collector)
    finally:
        process.terminate()
        process.wait(timeout=20)
        collector.shutdown()
        server.should_exit = True
        serving.join(timeout=10)


def test_clients_speak_tls_and_http2(tls_edge: TlsEdge) -> None:
    context = ssl.create_default_context(cafile=str(tls_edge.certificate))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", tls_edge.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
    answer = httpx.get(f"{tls_edge.base}/echo", verify=tls_edge.trust)
    assert answer.status_code == 200
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_a_route_slower_than_its_timeout_is_a_504_problem(tls_edge: TlsEdge) -> None:
    answer = httpx.get(f"{tls_edge.base}/slow", verify=tls_edge.trust, timeout=10)
    assert "slowpoke service did not answer in time" in assert_problem(answer, 504)["detail"]


def test_trace_context_goes_on_and_the_edges_spans_are_exported(tls_edge: TlsEdge) -> None:
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    answer = httpx.get(
        f"{tls_edge.base}/echo",
        verify=tls_edge.trust,
        headers={"traceparent": parent, "X-Forwarded-For": "6.6.6.6"},
    )
    seen = answer.json()["headers"]
    assert seen["traceparent"].split("-")[1] == trace_id
    assert seen["traceparent"] != parent  # the edge's own span is the parent now
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the client's claim does not pass
    assert seen["x-request-id"] == answer.headers["x-request-id"]
    deadline = time.monotonic() + 30
    while not any(p[0] == "/v1/traces" for p in tls_edge.collector.posts):
        assert time.monotonic() < deadline, "no spans exported within 30 s"
        time.sleep(0.2)
    _path, content_type, body = next(p for p in tls_edge.collector.posts if p[0] == "/v1/traces")
    assert content_type == "application/x-protobuf"
    assert b"panthera-gateway" in body and bytes.fromhex(trace_id) in body


def test_browsers_of_allowed_origins_may_call_and_read_ids(tls_edge: TlsEdge) -> None:
    preflight = httpx.options(
        f"{tls_edge.base}/echo",
        verify=tls_edge.trust,
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    call = httpx.get(
        f"{tls_edge.base}/echo", verify=tls_edge.trust, headers={"Origin": "https://shop.example"}
    )
    assert call.headers["access-control-allow-origin"] == "https://shop.example"
    assert "x-request-id" in call.headers["access-control-expose-headers"]
    stranger = httpx.get(
        f"{tls_edge.base}/echo", verify=tls_edge.trust, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in stranger.headers
