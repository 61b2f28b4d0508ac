"""Checkout throughput and latency: from `POST /v1/orders` to the order being `confirmed`.

Starts the platform as real processes (embedded: `panthera up`; distributed:
`panthera up --distributed` on the machine's PostgreSQL, NATS and Redis),
creates a product with plenty of stock and a set of customers, then places
orders at a fixed concurrency and waits for each one's decision
(`GET /v1/orders/{id}?waitFor=decision`).

    .venv/bin/python benchmarks/checkout.py [--orders 300] [--concurrency 16] [--distributed]

Reports the saga's latency on the server's clock (order created -> decided, from
the order's own timestamps) and the client's (POST -> seeing the outcome); what an
order costs the databases (SQL statements and transactions counted by the processes,
and in the distributed run the server's own transaction count of the benchmark's
private database); the SQL statements per second each service sends with no
traffic; and the anchor, pgbench running one stock-decrement-plus-order-insert
transaction at the same concurrency. Writes benchmarks/results/checkout-<topology>.json
and a PNG of the saga latency CDF.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from db_costs import (
    STATEMENTS,
    TRANSACTIONS,
    DatabaseCounters,
    difference,
    per_service,
    pgbench_tps,
    scratch_database,
    server_transactions,
)
from platform_run import ADMIN, Running, percentile, platform

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PASSWORD = "StrongPassword123!"
# How long one request waits for an order's decision before asking again.
WAIT_SECONDS = 30
# A quiet platform after the run: probes and safety polls only.
IDLE_SECONDS = 20.0
STATS_FLUSH_SECONDS = 11.0


async def login(http: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    answer = await http.post("/v1/auth/login", json={"email": email, "password": password})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


async def one_order(
    http: httpx.AsyncClient, who: dict[str, str], product: str
) -> tuple[float, float, str]:
    """Client latency (POST to seeing the outcome) and saga latency (server clock)."""
    started = time.perf_counter()
    placed = await http.post(
        "/v1/orders",
        headers={**who, "Idempotency-Key": uuid.uuid4().hex},
        json={
            "items": [{"productId": product, "quantity": 1}],
            "shippingAddress": {
                "name": "B",
                "line1": "1 Road",
                "city": "Paris",
                "postalCode": "75001",
                "country": "FR",
            },
            "payment": {"token": "tok_visa"},
        },
    )
    placed.raise_for_status()
    order_id = placed.json()["id"]
    while True:
        order = (
            await http.get(
                f"/v1/orders/{order_id}",
                params={"waitFor": "decision", "timeout": WAIT_SECONDS},
                headers=who,
            )
        ).json()
        if order["status"] != "pending":
            decided = datetime.fromisoformat(order["updatedAt"])
            created = datetime.fromisoformat(order["createdAt"])
            saga = (decided - created).total_seconds()
            return time.perf_counter() - started, saga, order["status"]


async def run(base: str, orders: int, concurrency: int, costs: Costs) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        admin = await login(http, *ADMIN)
        product = (
            await http.post(
                "/v1/products",
                headers=admin,
                json={
                    "sku": f"BENCH-{uuid.uuid4().hex[:6]}",
                    "name": "Benchmark mug",
                    "price": 1200,
                    "currency": "EUR",
                    "description": "A mug.",
                    "stock": orders * 2,
                },
            )
        ).json()["id"]
        customers = []
        for i in range(concurrency):
            email = f"bench{i}-{uuid.uuid4().hex[:6]}@example.com"
            await http.post(
                "/v1/users",
                json={"username": email.split("@")[0], "email": email, "password": PASSWORD},
            )
            customers.append(await login(http, email, PASSWORD))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(orders):
            queue.put_nowait(i)
        latencies: list[float] = []
        sagas: list[float] = []
        outcomes: dict[str, int] = {}

        async def worker(who: dict[str, str]) -> None:
            while not queue.empty():
                queue.get_nowait()
                latency, saga, status = await one_order(http, who, product)
                latencies.append(latency)
                sagas.append(saga)
                outcomes[status] = outcomes.get(status, 0) + 1

        costs.start()
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in customers))
        elapsed = time.perf_counter() - started
        database = costs.stop(orders)
    return {
        "orders": orders,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "orders_per_second": round(orders / elapsed, 1),
        "outcomes": outcomes,
        "wait_for_decision_seconds": WAIT_SECONDS,
        "database": database,
        "saga_ms": summarise(sagas),
        "client_ms": summarise(latencies),
        "latencies_ms": [round(x * 1000, 2) for x in sorted(sagas)],
    }


class Costs:
    """Database work between `start` and `stop`, per order, and what an idle platform sends."""

    def __init__(self, running: Running, database_url: str | None) -> None:
        self.counters = DatabaseCounters(running.metrics_urls())
        self.database_url = database_url

    def _server(self) -> int | None:
        if self.database_url is None:
            return None
        # A busy backend reports its transaction counts about once a second, an idle one
        # only after ten seconds (PostgreSQL's idle statistics interval): wait for both.
        time.sleep(STATS_FLUSH_SECONDS)
        return server_transactions(self.database_url)

    def start(self) -> None:
        self._server_before = self._server()
        self._before = self.counters.read()

    def stop(self, orders: int) -> dict[str, Any]:
        spent = difference(self.counters.read(), self._before)
        server_after = self._server()
        statements = sum(spent[STATEMENTS].values())
        transactions = sum(spent[TRANSACTIONS].values())
        found: dict[str, Any] = {
            "statements_per_order": round(statements / orders, 1),
            "client_transactions_per_order": round(transactions / orders, 1),
            "statements_per_order_by_service": {
                name: round(value / orders, 1)
                for name, value in sorted(per_service(spent[STATEMENTS]).items())
            },
        }
        if server_after is not None and self._server_before is not None:
            # Includes the probes' and pollers' transactions during the run (a few per second).
            found["server_transactions_per_order"] = round(
                (server_after - self._server_before) / orders, 1
            )
        return found

    def idle(self, seconds: float = IDLE_SECONDS) -> dict[str, Any]:
        time.sleep(2)  # let the last events and their consumers finish
        # The server's count trails by up to STATS_FLUSH_SECONDS, so its window is timed
        # on its own: from the first reading to the second, all of it idle.
        server_before = self._server()
        server_started = time.perf_counter()
        before = self.counters.read()
        started = time.perf_counter()
        time.sleep(seconds)
        spent = difference(self.counters.read(), before)
        elapsed = time.perf_counter() - started
        server_after = self._server()
        server_elapsed = time.perf_counter() - server_started
        found: dict[str, Any] = {
            "seconds": round(elapsed, 1),
            "statements_per_second_by_service": {
                name: round(value / elapsed, 2)
                for name, value in sorted(per_service(spent[STATEMENTS]).items())
            },
        }
        if server_after is not None and server_before is not None:
            found["server_transactions_per_second"] = round(
                (server_after - server_before) / server_elapsed, 2
            )
        return found


def summarise(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50) * 1000, 1),
        "p95": round(percentile(values, 95) * 1000, 1),
        "p99": round(percentile(values, 99) * 1000, 1),
        "mean": round(statistics.fmean(values) * 1000, 1),
        "max": round(max(values) * 1000, 1),
    }


def plot(result: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = result["latencies_ms"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(values, [i / len(values) for i in range(1, len(values) + 1)])
    for q in ("p50", "p95", "p99"):
        ax.axvline(result["saga_ms"][q], linestyle="--", linewidth=0.8, label=q)
    ax.set_xlabel("order created -> confirmed, server clock (ms)")
    ax.set_ylabel("fraction of orders")
    ax.set_title(
        f"{title}: {result['orders_per_second']} orders/s at concurrency {result['concurrency']}"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--distributed", action="store_true")
    args = parser.parse_args()
    topology = "distributed" if args.distributed else "embedded"
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        # The distributed run gets a database of its own, so the server's transaction
        # count of that database is the run's alone.
        database_url = (
            stack.enter_context(scratch_database("checkout_bench")) if args.distributed else None
        )
        running = stack.enter_context(
            platform(distributed=False)
            if database_url is None
            else platform(distributed=True, database_url=database_url)
        )
        costs = Costs(running, database_url)
        result = asyncio.run(run(running.base, args.orders, args.concurrency, costs))
        load_during = os.getloadavg()
        result["idle"] = costs.idle()
    anchor = pgbench_tps(clients=args.concurrency)
    result = {
        "topology": topology,
        "machine": f"{os.cpu_count()} cores",
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after_run": [round(x, 2) for x in load_during],
            "after_anchor": [round(x, 2) for x in os.getloadavg()],
        },
        "anchor_pgbench": anchor,
        "ratio_to_anchor": round(result["orders_per_second"] / anchor["tps"], 4),
        **result,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"checkout-{topology}.json").write_text(json.dumps(result, indent=2))
    plot(result, RESULTS / f"checkout-{topology}.png", f"Checkout, {topology}")
    summary = {k: v for k, v in result.items() if k != "latencies_ms"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
