"""The distributed edge: Envoy, as `panthera serve gateway` runs it, in front of real
service processes (users, two catalog replicas, orders, notifications on SQLite).

One edge for the module. The edge trusts one proxy hop here, so each test speaks
from addresses of its own (X-Forwarded-For) and rate limits stay per test.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from panthera.app import SERVICES
from panthera.gateway.table import platform_table
from panthera.kernel.auth.keys import load_or_create_signing_key
from panthera.testing.ports import free_port
from panthera.testing.shop import wait_for
from tests.conftest import STRONG_PASSWORD, assert_problem
from tests.e2e.edge import (
    Process,
    client_at,
    machine_address,
    post_chunked,
    requests_counted,
    resident_bytes,
)

pytestmark = pytest.mark.e2e

ADMIN = ("edge-admin@example.com", "Admin-Passw0rd")
PER_CLIENT = 40  # a minute, per client address, at the edge
MAX_AGE = 5  # the catalog's public reads: Cache-Control: public, max-age=5
EJECTION_WINDOW = 5.0  # seconds: two failed 1 s health checks, or outlier ejection


@dataclass
class Edge:
    base: str
    port: int
    admin_port: int
    stats_port: int
    data_dir: Path
    services: dict[str, list[Process]]
    gateway: Process

    def url(self, service: str, replica: int = 0) -> str:
        return self.services[service][replica].url

    def token(self, email: str, password: str) -> str:
        # From an address of its own: the users service limits logins per address.
        with client_at(self.base, address(f"login-{uuid.uuid4()}")) as http:
            answer = http.post("/v1/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["accessToken"])

    def bearer(self, email: str, password: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(email, password)}"}


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    tmp = tmp_path_factory.mktemp("edge")
    ports = {name: free_port() for name in ("users", "catalog", "orders", "notifications")}
    env = {
        "PANTHERA_DATA_DIR": str(tmp / "data"),
        "PANTHERA_LOG_LEVEL": "INFO",
        "PANTHERA_ADMIN_EMAIL": ADMIN[0],
        "PANTHERA_ADMIN_PASSWORD": ADMIN[1],
        "PANTHERA_USERS_URL": f"http://127.0.0.1:{ports['users']}",
        "PANTHERA_ORDERS__CATALOG_URL": f"http://127.0.0.1:{ports['catalog']}",
        "PANTHERA_GATEWAY_ADDRESSES": "127.0.0.0/8",  # services trust the edge by CIDR
        "PANTHERA_USERS__ARGON2_TIME_COST": "1",
        "PANTHERA_USERS__ARGON2_MEMORY_KIB": "1024",
        "PANTHERA_USERS__LOGIN_LIMIT_PER_ACCOUNT": "1000/minute",
        "PANTHERA_USERS__LOGIN_LIMIT_PER_ADDRESS": "4/minute",
        "PANTHERA_CATALOG__CACHE_TTL_SECONDS": "1",  # each replica caches in its own memory
    }
    processes = {
        name: [Process(name, env, tmp / f"{name}.log", port=port)] for name, port in ports.items()
    }
    processes["catalog"].append(Process("catalog", env, tmp / "catalog-2.log"))
    first = [group[0] for group in processes.values()]
    for process in first:
        process.start()
    for process in first:  # the second catalog migrates nothing: start it once the first is up
        process.wait_ready()
    processes["catalog"][1].start().wait_ready()
    admin_port, stats_port = free_port(), free_port()
    gateway = Process(
        "gateway",
        {
            **env,
            "PANTHERA_GATEWAY__UPSTREAMS": json.dumps(
                {name: [p.url for p in group] for name, group in processes.items()}
            ),
            "PANTHERA_GATEWAY__ADMIN_PORT": str(admin_port),
            "PANTHERA_GATEWAY__STATS_PORT": str(stats_port),
            "PANTHERA_GATEWAY__CONCURRENCY": "1",
            "PANTHERA_GATEWAY__HEALTH_CHECK_SECONDS": "1",
            "PANTHERA_GATEWAY__TRUSTED_HOPS": "1",
            "PANTHERA_GATEWAY__RATE_LIMIT_PER_CLIENT": f"{PER_CLIENT}/minute",
        },
        tmp / "gateway.log",
    ).start()
    try:
        gateway.wait_ready()
        yield Edge(
            gateway.url, gateway.port, admin_port, stats_port, tmp / "data", processes, gateway
        )
    finally:
        gateway.stop()
        for group in processes.values():
            for process in group:
                process.stop()


def address(test: str, n: int = 0) -> str:
    """An address of the test's own: its rate-limit buckets are nobody else's."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, test).int
    return f"10.{digest % 250}.{(digest >> 8) % 250}.{n % 250 + 1}"


def sign_up(edge: Edge, name: str) -> dict[str, str]:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    with client_at(edge.base, address(name)) as http:
        created = http.post(
            "/v1/users",
            json={"username": email.split("@")[0], "email": email, "password": STRONG_PASSWORD},
        )
    assert created.status_code == 201, created.text
    return edge.bearer(email, STRONG_PASSWORD)


def forged_tokens(edge: Edge) -> dict[str, str]:
    key = load_or_create_signing_key(edge.data_dir / "keys" / "jwt-ed25519.pem")
    now = int(time.time())
    claims = {
        "iss": "panthera",
        "aud": "panthera",
        "sub": str(uuid.uuid4()),
        "role": "admin",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    headers = {"kid": key.kid}
    return {
        "forged": jwt.encode(claims, Ed25519PrivateKey.generate(), "EdDSA", headers=headers),
        "expired": jwt.encode(
            {**claims, "iat": now - 900, "nbf": now - 900, "exp": now - 300},
            key.private_key,
            "EdDSA",
            headers=headers,
        ),
        "wrong audience": jwt.encode(
            {**claims, "aud": "someone-else"}, key.private_key, "EdDSA", headers=headers
        ),
        "not a token": "x.y.z",
    }


def test_bad_tokens_are_refused_at_the_edge_and_never_reach_a_service(edge: Edge) -> None:
    before = requests_counted(edge.url("users"), "GET", "/v1/users/me")
    before_catalog = sum(
        requests_counted(p.url, "GET", "/v1/products") for p in edge.services["catalog"]
    )
    refused = {}
    with client_at(edge.base, address("bad-tokens")) as http:
        for kind, token in forged_tokens(edge).items():
            auth = {"Authorization": f"Bearer {token}"}
            signed_in = http.get("/v1/users/me", headers=auth)
            anonymous_route = http.get("/v1/products", headers=auth)
            refused[kind] = assert_problem(signed_in, 401)["detail"]
            assert_problem(anonymous_route, 401)
    assert requests_counted(edge.url("users"), "GET", "/v1/users/me") == before
    after_catalog = sum(
        requests_counted(p.url, "GET", "/v1/products") for p in edge.services["catalog"]
    )
    assert after_catalog == before_catalog
    assert "expired" in refused["expired"].lower()
    assert "audience" in refused["wrong audience"].lower()


def test_an_admin_route_is_refused_to_a_customer_at_the_edge(edge: Edge) -> None:
    customer = sign_up(edge, "customer")
    before = requests_counted(edge.url("users"), "GET", "/v1/users")
    with client_at(edge.base, address("admin-route")) as http:
        refused = http.get("/v1/users", headers=customer)
        allowed = http.get("/v1/users", headers=edge.bearer(*ADMIN))
    assert "admin" in assert_problem(refused, 403)["detail"]
    assert allowed.status_code == 200
    assert requests_counted(edge.url("users"), "GET", "/v1/users") == before + 1


def test_the_edge_and_each_service_agree_on_every_route(edge: Edge) -> None:
    """Through Envoy or straight to the owning service, each route answers with the same
    status, anonymous or as a customer; where the policy refuses, Envoy already did."""
    table = platform_table(list(SERVICES.values()))
    customer = sign_up(edge, "agreement")
    n = 0
    for route in table.routes:
        if route.rule.prefix or route.upstream_path is not None:
            continue
        for method in sorted(route.rule.methods):
            path = "/".join(
                str(uuid.uuid4()) if p.startswith("{") else p for p in route.rule.path.split("/")
            )
            body: dict[str, str] | None = {} if method in ("POST", "PUT") else None
            for headers in ({}, customer):
                n += 1
                with client_at(edge.base, address("agreement", n)) as at_edge:
                    through = at_edge.request(method, path, json=body, headers=headers)
                direct = httpx.request(
                    method, edge.url(route.owner) + path, json=body, headers=headers, timeout=30
                )
                what = (method, path, bool(headers))
                assert through.status_code == direct.status_code, what
                if route.rule.policy != "anonymous" and not headers:
                    assert assert_problem(through, 401)["detail"].startswith("Access token"), what
                if route.rule.policy == "admin" and headers:
                    assert_problem(through, 403)
    assert n >= 50


def test_the_rate_limit_answers_429_with_retry_after(edge: Edge) -> None:
    statuses = []
    with client_at(edge.base, address("rate-limit")) as http:
        for _ in range(PER_CLIENT * 2):
            answer = http.get("/v1/categories")
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        with client_at(edge.base, address("rate-limit", 2)) as neighbour:
            unaffected = neighbour.get("/v1/categories")
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {200} and len(statuses) > PER_CLIENT
    assert_problem(answer, 429)
    assert int(answer.headers["retry-after"]) >= 1
    assert unaffected.status_code == 200


def test_anonymous_reads_are_cached_and_a_change_shows_within_max_age(
    edge: Edge, report: Callable[..., None]
) -> None:
    admin = edge.bearer(*ADMIN)
    with client_at(edge.base, address("cache")) as http:
        created = http.post(
            "/v1/products",
            headers=admin,
            json={
                "sku": f"C-{uuid.uuid4().hex[:8]}",
                "name": "Copper kettle",
                "price": 3900,
                "currency": "EUR",
                "description": "Boils water.",
                "stock": 4,
            },
        )
        assert created.status_code == 201, created.text
        path = f"/v1/products/{created.json()['id']}"
        first, second = http.get(path), http.get(path)
        assert first.headers["cache-control"] == f"public, max-age={MAX_AGE}"
        assert "age" in second.headers, second.headers  # served by Envoy's cache
        assert second.json() == first.json()
        revalidated = http.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert revalidated.status_code == 304 and revalidated.content == b""
        assert http.get(path, headers=admin).headers["cache-control"] == "private, no-cache"

        changed = http.put(path, headers=admin, json={"name": "Brass kettle"})
        assert changed.status_code == 200, changed.text
        started = time.monotonic()
        wait_for(lambda: http.get(path).json()["name"] == "Brass kettle", within=MAX_AGE + 10)
        stale_for = time.monotonic() - started
    report(documented_staleness_s=MAX_AGE, observed_staleness_s=round(stale_for, 2))


def test_a_chunked_body_over_the_default_limit_is_refused_at_the_edge(edge: Edge) -> None:
    before = requests_counted(edge.url("users"), "POST", "/v1/users")
    answer = post_chunked(
        edge.port,
        "/v1/users",
        total=8 * 1024 * 1024,
        extra=f"X-Forwarded-For: {address('chunked')}\r\n",
    )
    assert answer.status == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert json.loads(answer.body)["status"] == 413
    assert requests_counted(edge.url("users"), "POST", "/v1/users") == before


def test_a_service_alone_cuts_off_a_200_mb_chunked_login(edge: Edge) -> None:
    """Issue 10, finding 1, on a service process with nothing in front of it."""
    before = resident_bytes(edge.url("users"))
    answer = post_chunked(edge.services["users"][0].port, "/v1/auth/login", total=200 * 2**20)
    assert answer.status == 413
    assert json.loads(answer.body)["status"] == 413
    assert answer.sent < 32 * 2**20  # cut off near the 1 MiB limit, plus socket buffers
    assert resident_bytes(edge.url("users")) - before < 64 * 2**20  # the body was not kept


def test_the_login_limit_per_address_sees_the_client_behind_the_edge(edge: Edge) -> None:
    def attempt(client: str) -> httpx.Response:
        with client_at(edge.base, client) as http:
            return http.post(
                "/v1/auth/login",
                json={"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "Wrong-Passw0rd"},
            )

    limited, other = address("login-limit", 1), address("login-limit", 2)
    first = [attempt(limited).status_code for _ in range(4)]
    assert first == [401] * 4
    assert_problem(attempt(limited), 429)  # the users service's own per-address limit
    assert attempt(other).status_code == 401
    # What the client itself wrote in X-Forwarded-For, before the trusted hop, is ignored.
    assert_problem(attempt(f"203.0.113.77, {limited}"), 429)


def test_admin_only_on_loopback_and_the_stats_listener_serves_only_metrics(edge: Edge) -> None:
    assert httpx.get(f"http://127.0.0.1:{edge.admin_port}/ready", timeout=5).text.strip() == "LIVE"
    elsewhere = machine_address()
    assert elsewhere is not None, "this machine has no non-loopback address to try"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((elsewhere, edge.admin_port), timeout=5).close()
    stats = f"http://127.0.0.1:{edge.stats_port}"
    assert "envoy_cluster_upstream_rq" in httpx.get(f"{stats}/stats/prometheus").text
    assert "envoy_http_downstream_rq" in httpx.get(f"{stats}/metrics").text
    for path in ("/config_dump", "/clusters", "/ready"):
        assert httpx.get(stats + path).status_code == 404
    assert httpx.post(f"{stats}/quitquitquit").status_code == 404
    assert httpx.get(f"{edge.base}/healthz").json() == {"status": "ok"}


def test_docs_health_ids_traces_and_headers_at_the_edge(edge: Edge) -> None:
    trace_id = uuid.uuid4().hex
    with client_at(edge.base, address("docs")) as http:
        document = http.get("/openapi.json").json()
        docs = http.get("/docs")
        ready = http.get("/readyz")
        me = http.get(
            "/v1/users/me",
            headers={
                **edge.bearer(*ADMIN),
                "X-Request-ID": "edge-test-123",
                "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
            },
        )
        generated = http.get("/v1/categories")
        missing = http.get("/v1/nothing-here")
    assert {"/v1/users", "/v1/products", "/v1/orders", "/v1/notifications"} <= set(
        document["paths"]
    )
    assert "swagger-ui" in docs.text
    assert ready.json() == {"status": "ready"}
    assert me.status_code == 200
    for name in ("date", "server", "x-request-id", "content-type"):
        assert len(me.headers.get_list(name)) == 1, (name, me.headers)
    assert me.headers["x-request-id"] == "edge-test-123"
    assert me.headers["x-content-type-options"] == "nosniff"
    assert me.headers["x-frame-options"] == "DENY"
    assert len(generated.headers["x-request-id"]) >= 32
    assert_problem(missing, 404)

    def service_logged_the_trace() -> bool:
        return any(
            f'"trace_id": "{trace_id}"' in line and '"request_id": "edge-test-123"' in line
            for line in (edge.data_dir.parent / "users.log").read_text().splitlines()
        )

    assert wait_for(service_logged_the_trace, within=10)

    def edge_logged_the_request() -> bool:
        return any(
            json.loads(line).get("request_id") == "edge-test-123"
            for line in edge.gateway.log.read_text().splitlines()
            if line.startswith('{"')
        )

    assert wait_for(edge_logged_the_request, within=10)


def test_killing_one_of_two_catalog_replicas_under_load(
    edge: Edge, report: Callable[..., None]
) -> None:
    """No client sees a 5xx once the edge has stopped sending to the dead replica."""
    customer = sign_up(edge, "load")
    with client_at(edge.base, address("load")) as http:
        product = http.get("/v1/products", params={"limit": 1}).json()["products"][0]["id"]
    outcomes: list[tuple[float, int]] = []
    stop = threading.Event()

    def reader(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with client_at(edge.base, address(f"load-{worker}", n)) as http:
                try:
                    status = http.get(f"/v1/products/{product}", headers=customer).status_code
                except httpx.HTTPError:
                    status = 599
            outcomes.append((time.monotonic(), status))

    workers = [threading.Thread(target=reader, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(2)
    killed_at = time.monotonic()
    edge.services["catalog"][1].kill()
    time.sleep(EJECTION_WINDOW + 5)
    stop.set()
    for worker in workers:
        worker.join()
    errors = [t for t, status in outcomes if status >= 500]
    after_window = [t for t in errors if t > killed_at + EJECTION_WINDOW]
    report(
        requests=len(outcomes),
        server_errors=len(errors),
        server_errors_after_ejection_window=len(after_window),
        ejection_window_s=EJECTION_WINDOW,
    )
    assert len(outcomes) > 20
    assert after_window == []
    assert {status for _, status in outcomes if status < 500} == {200}


def test_a_service_with_no_live_replica_answers_503_and_the_edge_is_not_ready(
    edge: Edge,
) -> None:
    edge.services["notifications"][0].kill()
    customer = sign_up(edge, "no-notifications")
    with client_at(edge.base, address("unavailable")) as http:
        answer = http.get("/v1/notifications", headers=customer)
        assert "notifications" in assert_problem(answer, 503)["detail"]
        assert answer.headers["retry-after"] == "1"
        not_ready = wait_for(lambda: (r := http.get("/readyz")).status_code == 503 and r, within=15)
    assert_problem(not_ready, 503)
    assert httpx.get(f"{edge.base}/healthz").status_code == 200  # alive, though not ready
