"""The circuit breaker in front of another service, against a real HTTP upstream.

Each test counts the requests that reached the upstream's socket: a breaker
that never opens, or opens too late, lets calls through and fails the count.
The breaker's clock is stepped by the test, so the cool-down is exact and the
tests do not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from panthera.kernel.errors import ServiceUnavailable
from panthera.kernel.http_client import CircuitBreaker, Peers, ServiceClient
from tests.upstream import Answer, Upstream, upstream_server

THRESHOLD = 3
COOL_DOWN = 10.0


class SteppedClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with upstream_server(Answer(503, {"detail": "down"})) as server:
        yield server


@pytest.fixture
async def client(upstream: Upstream, clock: SteppedClock) -> AsyncIterator[ServiceClient]:
    breaker = CircuitBreaker(threshold=THRESHOLD, reset_after=COOL_DOWN, clock=clock)
    client = ServiceClient("catalog", upstream.url, retries=0, breaker=breaker)
    yield client
    await client.aclose()


async def fails(client: ServiceClient) -> None:
    with pytest.raises(ServiceUnavailable, match="catalog service is unavailable"):
        await client.get("/v1/products/x")


async def open_breaker(client: ServiceClient, upstream: Upstream) -> None:
    for _ in range(THRESHOLD):
        await fails(client)
    assert upstream.calls == THRESHOLD


async def test_closed_below_the_threshold_every_call_reaches_the_upstream(
    client: ServiceClient, upstream: Upstream
) -> None:
    for _ in range(THRESHOLD - 1):
        await fails(client)
    upstream.answer_next(Answer(200, {"ok": True}))
    response = await client.get("/v1/products/x")
    assert response.status_code == 200
    assert upstream.calls == THRESHOLD


async def test_opens_after_the_threshold_and_then_fails_fast(
    client: ServiceClient, upstream: Upstream
) -> None:
    await open_breaker(client, upstream)
    upstream.answer_next(*[Answer(200, {"ok": True})] * 5)  # would succeed if it got through
    for _ in range(5):
        await fails(client)
    assert upstream.calls == THRESHOLD, "an open breaker let calls reach the upstream"


async def test_a_success_resets_the_consecutive_failures(
    client: ServiceClient, upstream: Upstream
) -> None:
    for _ in range(THRESHOLD - 1):
        await fails(client)
    upstream.answer_next(Answer(200, {"ok": True}))
    await client.get("/v1/products/x")
    for _ in range(THRESHOLD - 1):
        await fails(client)
    # Only THRESHOLD - 1 failures in a row since the success: still closed.
    upstream.answer_next(Answer(200, {"ok": True}))
    assert (await client.get("/v1/products/x")).status_code == 200
    assert upstream.calls == 2 * THRESHOLD


async def test_client_errors_are_answers_not_failures(
    client: ServiceClient, upstream: Upstream
) -> None:
    upstream.answer_next(*[Answer(404, {"detail": "no such product"})] * (THRESHOLD + 2))
    for _ in range(THRESHOLD + 2):
        assert (await client.get("/v1/products/x")).status_code == 404
    assert upstream.calls == THRESHOLD + 2


async def test_half_open_after_the_cool_down_then_closes_on_success(
    client: ServiceClient, upstream: Upstream, clock: SteppedClock
) -> None:
    await open_breaker(client, upstream)
    clock.now += COOL_DOWN - 0.001
    await fails(client)
    assert upstream.calls == THRESHOLD, "the breaker half-opened before its cool-down"

    clock.now += 0.001  # exactly the cool-down: one trial goes through
    upstream.answer_next(Answer(200, {"ok": True}))
    assert (await client.get("/v1/products/x")).status_code == 200
    assert upstream.calls == THRESHOLD + 1

    # Closed again: every call reaches the upstream without the clock moving.
    upstream.answer_next(*[Answer(200, {"ok": True})] * 4)
    for _ in range(4):
        assert (await client.get("/v1/products/x")).status_code == 200
    assert upstream.calls == THRESHOLD + 5
    # And it takes a full threshold of new failures to open it again.
    for _ in range(THRESHOLD - 1):
        await fails(client)
    upstream.answer_next(Answer(200, {"ok": True}))
    assert (await client.get("/v1/products/x")).status_code == 200


async def test_a_failed_trial_reopens_for_a_whole_cool_down(
    client: ServiceClient, upstream: Upstream, clock: SteppedClock
) -> None:
    await open_breaker(client, upstream)
    clock.now += COOL_DOWN
    await fails(client)  # the trial reached the upstream and failed
    assert upstream.calls == THRESHOLD + 1

    upstream.answer_next(*[Answer(200, {"ok": True})] * 3)
    clock.now += COOL_DOWN - 0.001
    await fails(client)
    assert upstream.calls == THRESHOLD + 1, "a failed trial did not re-open the breaker"

    clock.now += 0.001
    assert (await client.get("/v1/products/x")).status_code == 200
    assert upstream.calls == THRESHOLD + 2


async def test_half_open_lets_exactly_one_trial_through(
    client: ServiceClient, upstream: Upstream, clock: SteppedClock
) -> None:
    await open_breaker(client, upstream)
    clock.now += COOL_DOWN
    upstream.answer_next(Answer(200, {"ok": True}, delay=0.5))  # the trial stays in flight

    async def call() -> int | None:
        try:
            return (await client.get("/v1/products/x")).status_code
        except ServiceUnavailable:
            return None

    results = await asyncio.gather(*(call() for _ in range(5)))
    assert sorted(results, key=str) == [200, None, None, None, None]
    assert upstream.calls == THRESHOLD + 1


async def test_retries_within_one_call_count_as_one_failure(
    upstream: Upstream, clock: SteppedClock
) -> None:
    breaker = CircuitBreaker(threshold=2, reset_after=COOL_DOWN, clock=clock)
    client = ServiceClient("catalog", upstream.url, retries=2, breaker=breaker)
    try:
        await fails(client)
        assert upstream.calls == 3, "an idempotent read is tried 1 + retries times"
        upstream.answer_next(Answer(503), Answer(200, {"ok": True}))
        assert (await client.get("/v1/products/x")).status_code == 200  # retried to success
        assert upstream.calls == 5
        await fails(client)
        await fails(client)
        assert upstream.calls == 11
        await fails(client)
        assert upstream.calls == 11
    finally:
        await client.aclose()


async def test_an_unreachable_upstream_opens_the_breaker(clock: SteppedClock) -> None:
    with upstream_server() as gone:
        url = gone.url  # a port that was served and is now closed
    breaker = CircuitBreaker(threshold=2, reset_after=COOL_DOWN, clock=clock)
    client = ServiceClient("catalog", url, retries=0, breaker=breaker)
    try:
        await fails(client)
        assert breaker.opened_at is None
        await fails(client)
        assert breaker.opened_at == clock.now
    finally:
        await client.aclose()


async def test_retries_back_off_exponentially(upstream: Upstream, clock: SteppedClock) -> None:
    breaker = CircuitBreaker(threshold=10, reset_after=COOL_DOWN, clock=clock)
    client = ServiceClient("catalog", upstream.url, retries=2, breaker=breaker)
    try:
        started = time.monotonic()
        await fails(client)
        elapsed = time.monotonic() - started
    finally:
        await client.aclose()
    # 0.1 s then 0.2 s between the three tries: never sooner; the bound above is generous.
    assert 0.3 <= elapsed < 3.0, elapsed
    assert upstream.calls == 3


async def test_get_json_passes_headers_and_returns_status_and_body(
    client: ServiceClient, upstream: Upstream
) -> None:
    upstream.answer_next(Answer(200, {"sku": "A-1"}))
    status, body = await client.get_json("/v1/products/1", headers={"X-Request-ID": "req-7"})
    assert (status, body) == (200, {"sku": "A-1"})
    assert upstream.requests[-1].headers["x-request-id"] == "req-7"


async def test_peers_reach_a_remote_service_by_url_with_the_callers_options(
    upstream: Upstream,
) -> None:
    client = Peers().client("catalog", url=upstream.url, retries=0)
    try:
        with pytest.raises(ServiceUnavailable, match="The catalog service is unavailable"):
            await client.get("/v1/products/x")
    finally:
        await client.aclose()
    assert upstream.calls == 1, "retries=0 was not passed on"


async def test_peers_reach_a_hosted_service_through_its_app_with_the_callers_options() -> None:
    seen: list[tuple[str, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        seen.append((headers[b"host"].decode(), scope["path"]))
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    peers = Peers({"catalog": httpx.ASGITransport(app=app)})
    client = peers.client("catalog", url="http://unused.invalid", retries=0)
    try:
        with pytest.raises(ServiceUnavailable, match="The catalog service is unavailable"):
            await client.get("/v1/products/x")
    finally:
        await client.aclose()
    assert seen == [("catalog.internal", "/v1/products/x")]


async def test_a_transport_error_is_retried(upstream: Upstream, clock: SteppedClock) -> None:
    breaker = CircuitBreaker(threshold=1, reset_after=COOL_DOWN, clock=clock)
    client = ServiceClient("catalog", upstream.url, retries=1, breaker=breaker)
    upstream.answer_next(Answer(hang_up=True), Answer(200, {"ok": True}))
    try:
        assert (await client.get("/v1/products/x")).status_code == 200
    finally:
        await client.aclose()
    assert upstream.calls == 2
    assert breaker.opened_at is None


async def test_a_500_is_a_failure_like_any_5xx(client: ServiceClient, upstream: Upstream) -> None:
    upstream.default = Answer(500)
    for _ in range(THRESHOLD):
        await fails(client)
    await fails(client)
    assert upstream.calls == THRESHOLD


async def test_by_default_five_failures_open_it_for_ten_seconds(
    upstream: Upstream, clock: SteppedClock
) -> None:
    """What a service gets when it asks Peers for a client without breaker options."""
    breaker = CircuitBreaker(clock=clock)
    client = ServiceClient("catalog", upstream.url, retries=0, breaker=breaker)
    try:
        for _ in range(5):
            await fails(client)
        await fails(client)
        assert upstream.calls == 5
        clock.now += 9.999
        await fails(client)
        assert upstream.calls == 5
        clock.now += 0.001
        await fails(client)
        assert upstream.calls == 6
    finally:
        await client.aclose()


async def test_a_hung_upstream_costs_the_caller_its_timeout_not_more(upstream: Upstream) -> None:
    upstream.default = Answer(200, {"ok": True}, delay=2.5)
    client = ServiceClient("catalog", upstream.url, timeout=0.3, retries=0)
    try:
        started = time.monotonic()
        await fails(client)
        elapsed = time.monotonic() - started
    finally:
        await client.aclose()
    assert elapsed < 2.0, elapsed
    assert upstream.calls == 1
