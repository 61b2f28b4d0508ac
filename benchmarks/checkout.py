"""Checkout throughput and latency: from `POST /v1/orders` to the order being `confirmed`.

Starts the platform as real processes (embedded: `panthera up`; distributed:
`panthera up --distributed` on the machine's PostgreSQL, NATS and Redis),
creates a product with plenty of stock and a set of customers, then places
orders at a fixed concurrency and polls each one until the saga decides it.

    .venv/bin/python benchmarks/checkout.py [--orders 300] [--concurrency 16] [--distributed]

Reports the saga's latency on the server's clock (order created -> decided, from
the order's own timestamps) and the client's (POST -> seeing the outcome, which
includes the polling interval). Writes benchmarks/results/checkout-<topology>.json
and a PNG of the saga latency CDF.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from platform_run import ADMIN, percentile, platform

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PASSWORD = "StrongPassword123!"
# How often a client asks whether its order is decided. Polling faster mostly
# measures the polling: on 2 cores the reads compete with the saga they wait for.
POLL_SECONDS = 0.5


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
        order = (await http.get(f"/v1/orders/{order_id}", headers=who)).json()
        if order["status"] != "pending":
            decided = datetime.fromisoformat(order["updatedAt"])
            created = datetime.fromisoformat(order["createdAt"])
            saga = (decided - created).total_seconds()
            return time.perf_counter() - started, saga, order["status"]
        await asyncio.sleep(POLL_SECONDS)


async def run(base: str, orders: int, concurrency: int) -> dict[str, Any]:
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

        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in customers))
        elapsed = time.perf_counter() - started
    return {
        "orders": orders,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "orders_per_second": round(orders / elapsed, 1),
        "outcomes": outcomes,
        "poll_seconds": POLL_SECONDS,
        "saga_ms": summarise(sagas),
        "client_ms": summarise(latencies),
        "latencies_ms": [round(x * 1000, 2) for x in sorted(sagas)],
    }


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
    with platform(distributed=args.distributed) as running:
        result = asyncio.run(run(running.base, args.orders, args.concurrency))
    result = {"topology": topology, "machine": f"{os.cpu_count()} cores", **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"checkout-{topology}.json").write_text(json.dumps(result, indent=2))
    plot(result, RESULTS / f"checkout-{topology}.png", f"Checkout, {topology}")
    summary = {k: v for k, v in result.items() if k != "latencies_ms"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
