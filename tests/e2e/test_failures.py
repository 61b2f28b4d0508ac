"""The distributed platform keeps its promises when processes and dependencies die.

Real processes, real PostgreSQL, NATS and Redis; a test that stops NATS or Redis
stops a private server of its own, never the machine's. Each test reports what it did
and what it counted (see the "failure test reports" section of the run).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from panthera.testing.servers import PrivateServer
from panthera.testing.shop import Platform, Shopper, platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def distributed_on_private(
    tmp_path: Path, private_nats: PrivateServer, private_redis: PrivateServer
) -> Iterator[Platform]:
    """The distributed platform on a NATS and a Redis of its own, which a test may stop."""
    env = {"PANTHERA_NATS_URL": private_nats.url, "PANTHERA_REDIS_URL": private_redis.url}
    with platform(tmp_path, "distributed", env=env) as running:
        yield running


def kill(running: Platform, name: str) -> None:
    """SIGKILL one process; the supervisor starts it again."""
    before = running.processes()[name]
    os.kill(before["pid"], signal.SIGKILL)
    wait_for(lambda: running.processes()[name]["restarts"] > before["restarts"], within=30)


def place_many(
    shop: Shopper,
    who: list[dict[str, str]],
    product: str,
    during: Callable[[int], None] | None = None,
) -> list[tuple[int, str]]:
    placed = []
    for i, customer in enumerate(who):
        placed.append((i, shop.order(customer, product)))
        if during is not None:
            during(i)
    return placed


def test_orders_killed_mid_saga_every_order_reaches_a_final_state(
    distributed_on_private: Platform, private_nats: PrivateServer, report: Callable[..., None]
) -> None:
    shop = Shopper(distributed_on_private.base)
    admin = shop.admin()
    product = shop.product(admin, stock=10)
    customers = [shop.sign_up(f"k{i:02d}") for i in range(15)]
    # The first orders' sagas run as the process dies, at whatever stage they have reached;
    # the rest are placed while the broker is away, so they are certainly undecided at the
    # kill (their events wait in the outbox the dead process wrote).
    with ThreadPoolExecutor(max_workers=8) as pool:
        orders = list(pool.map(lambda who: shop.order(who, product), customers[:8]))
    private_nats.stop()
    try:
        orders += [shop.order(who, product) for who in customers[8:]]
        pending_at_kill = sum(
            shop.status(who, order) == "pending"
            for who, order in zip(customers, orders, strict=True)
        )
        kill(distributed_on_private, "orders-1")
    finally:
        private_nats.start()
    outcomes = [
        shop.settle(who, order, within=120) for who, order in zip(customers, orders, strict=True)
    ]
    stock = wait_for(
        lambda: (s := shop.http.get(f"/v1/products/{product}/stock").json())["reserved"] == 0 and s
    )
    report(
        orders_placed=len(orders),
        pending_at_kill=pending_at_kill,
        confirmed=outcomes.count("confirmed"),
        rejected=outcomes.count("rejected"),
        lost=outcomes.count("pending"),
        stock_available=stock["available"],
    )
    assert pending_at_kill >= 7  # in flight when the process died, demonstrably
    assert outcomes.count("confirmed") == 10
    assert outcomes.count("rejected") == 5
    assert stock["available"] == 0


def test_nats_down_for_twenty_seconds_orders_are_accepted_and_catch_up(
    distributed_on_private: Platform, private_nats: PrivateServer, report: Callable[..., None]
) -> None:
    shop = Shopper(distributed_on_private.base)
    admin = shop.admin()
    product = shop.product(admin, stock=50)
    customers = [shop.sign_up(f"d{i:02d}") for i in range(6)]
    private_nats.stop()
    try:
        started = time.monotonic()
        placed = [(who, shop.order(who, product)) for who in customers]
        pending_while_down = sum(shop.status(who, o) == "pending" for who, o in placed)
        time.sleep(max(0.0, 20 - (time.monotonic() - started)))
    finally:
        private_nats.start()
    outcomes = [shop.settle(who, order, within=120) for who, order in placed]
    report(
        nats_down_seconds=20,
        orders_placed=len(placed),
        pending_while_down=pending_while_down,
        confirmed=outcomes.count("confirmed"),
        lost=len(placed) - outcomes.count("confirmed"),
    )
    assert outcomes.count("confirmed") == len(placed)


def test_redis_down_the_platform_keeps_serving(
    distributed_on_private: Platform, private_redis: PrivateServer, report: Callable[..., None]
) -> None:
    shop = Shopper(distributed_on_private.base)
    admin = shop.admin()
    product = shop.product(admin, stock=5)
    me = shop.sign_up("r00")
    catalog = distributed_on_private.processes()["catalog-1"]["url"]
    private_redis.stop()
    try:
        # The catalog says Redis is gone (503 naming it) ...
        not_ready = wait_for(
            lambda: (r := httpx.get(f"{catalog}/readyz", timeout=10)).status_code == 503 and r,
            within=30,
        )
        failing = {k for k, v in not_ready.json()["checks"].items() if v != "ok"}
        # ... and after the edge's health checks have run a few times (2 s apart), the edge
        # is still ready and routes: they leave the fail-soft Redis out (?exclude=redis).
        time.sleep(3 * 2)
        edge_ready = shop.http.get("/readyz").status_code
        # The Kubernetes probe's path: the edge answers it itself, query and all.
        edge_probe = shop.http.get("/readyz", params={"exclude": "redis"})
        reads = [shop.http.get(f"/v1/products/{product}").status_code for _ in range(20)]
        searched = shop.http.get("/v1/products", params={"search": "shoe"}).status_code
        login = shop.http.post(
            "/v1/auth/login", json={"email": "r00@example.com", "password": "StrongPassword123!"}
        )
        order = shop.order(me, product)
        outcome = shop.settle(me, order)
    finally:
        private_redis.start()
    ready_again = wait_for(
        lambda: httpx.get(f"{catalog}/readyz", timeout=10).status_code == 200, within=60
    )
    report(
        redis_down=True,
        catalog_not_ready_on=sorted(failing),
        edge_ready=edge_ready,
        product_reads_ok=reads.count(200),
        search=searched,
        login=login.status_code,
        order=outcome,
    )
    assert failing == {"catalog.redis"}
    assert edge_ready == 200 and ready_again
    assert (edge_probe.status_code, edge_probe.json()) == (200, {"status": "ready"})
    assert reads == [200] * 20 and searched == 200
    assert login.status_code == 200
    assert outcome == "confirmed"
