"""The request path of a Python service against the floor, measured in one run.

Each read goes straight to its service's process (distributed topology, PostgreSQL,
Redis, NATS), never through the edge, and is compared with the floor measured in the
same run, back to back in each round: a bare ASGI app answering bytes read from Redis
(`bare_app.py`), served by uvicorn as the services are.

  1. a cached anonymous `GET /v1/products/{id}` from the catalog service;
  2. a signed-in `GET /v1/users/{id}` from the users service (token verified, revocation
     floor checked, row read from PostgreSQL);
  3. `GET /v1/users?page=1&limit=20` (admin) from the users service;
  4. `GET /v1/products?search=shoe&limit=20` from the catalog service;
  5. the floor.

Targets (issue 13): (1) at least 0.4 of the floor; (2) at least 0.1; p99 under 5x p50.

    .venv/bin/python benchmarks/request_path.py [--seconds 8] [--connections 32] [--rounds 2]

Needs `wrk` (`apt-get install wrk`) and the machine's PostgreSQL, NATS and Redis.
Writes benchmarks/results/request_path.json and request_path.png.
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

PRODUCT, USER, USERS, SEARCH, FLOOR = (
    "catalog, cached product read",
    "users, signed-in user read",
    "users, admin list of 20",
    "catalog, search 'shoe', 20",
    "bare ASGI + Redis (floor)",
)
SERVING = {PRODUCT: "catalog", USER: "users", USERS: "users", SEARCH: "catalog", FLOOR: "floor"}
SHOES = 60
ACCOUNTS = 25


def _seed(http: httpx.Client, signed_in: dict[str, str], tag: str) -> str:
    """Products to search among (some shoes) and accounts to list; the product to read."""
    first = ""
    for number in range(SHOES):
        kind = "shoe" if number % 2 == 0 else "boot"
        created = http.post(
            "/v1/products",
            headers=signed_in,
            json={
                "sku": f"RP-{tag}-{number}",
                "name": f"Benchmark {kind} {number}",
                "description": f"A {kind} for walking, size {36 + number % 10}.",
                "price": 4900 + number,
                "currency": "EUR",
                "stock": 10,
            },
        )
        created.raise_for_status()
        first = first or created.json()["id"]
    for number in range(ACCOUNTS):
        http.post(
            "/v1/users",
            json={
                "username": f"rp{tag}{number}",
                "email": f"rp-{tag}-{number}@example.com",
                "password": "Bench-Passw0rd-Long",
                "firstName": "Bench",
                "lastName": f"User{number}",
            },
        ).raise_for_status()
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--replot", action="store_true", help="Redraw the PNG from the JSON.")
    parser.add_argument(
        "--hold",
        action="store_true",
        help="Print the targets and wait for Enter before measuring (to attach a profiler).",
    )
    args = parser.parse_args()
    if args.replot:
        plot(json.loads((RESULTS / "request_path.json").read_text()), RESULTS / "request_path.png")
        return
    require_wrk()
    tag = uuid.uuid4().hex[:8]
    runs: dict[str, list[dict[str, float]]] = {}
    load_before = load_average()
    with platform(distributed=True) as running:
        http = httpx.Client(base_url=running.base, timeout=30)
        login = http.post("/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]})
        signed_in = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        product = _seed(http, signed_in, tag)
        me = http.get("/v1/users/me", headers=signed_in).json()["id"]
        body = http.get(f"/v1/products/{product}").content  # warms the catalog's cache
        key = f"bench:{tag}"
        redis.Redis.from_url("redis://127.0.0.1:6379/0").set(key, body, ex=3600)
        processes = running.processes()
        catalog, users = processes["catalog-1"], processes["users-1"]
        with bare_floor(key) as floor:
            targets = {  # each measured back to back with the floor, round after round
                PRODUCT: (f"{catalog['url']}/v1/products/{product}", {}),
                USER: (f"{users['url']}/v1/users/{me}", signed_in),
                USERS: (f"{users['url']}/v1/users?page=1&limit=20", signed_in),
                SEARCH: (f"{catalog['url']}/v1/products?search=shoe&limit=20", {}),
                FLOOR: (floor.url, {}),
            }
            pids = {"catalog": catalog["pid"], "users": users["pid"], "floor": floor.pid}
            for url, headers in targets.values():
                wrk(url, seconds=2, connections=args.connections, headers=headers)  # warm-up
            if args.hold:
                print(json.dumps({"pids": pids, "targets": targets}, indent=2), flush=True)
                input("measuring after Enter... ")
            for round_ in range(args.rounds):  # interleaved: load from others hits all alike
                for name, (url, headers) in targets.items():
                    result = measured(
                        url, headers, pids, seconds=args.seconds, connections=args.connections
                    )
                    result["cpu_us_per_request"] = result[f"{SERVING[name]}_cpu_us_per_request"]
                    runs.setdefault(name, []).append(result)
                    print(f"round {round_ + 1}: {name}: {result}", flush=True)
    results = {name: median_run(found) for name, found in runs.items()}
    ratios = {name: round(paired_ratio(runs[name], runs[FLOOR]), 3) for name in runs}
    tails = {name: round(r["p99_ms"] / max(r["p50_ms"], 0.001), 1) for name, r in results.items()}
    summary = {
        "machine": f"{os.cpu_count()} cores, load from wrk on the same machine",
        "load_average": {"before": load_before, "after": load_average()},
        "topology": "panthera up --distributed (PostgreSQL, NATS, Redis); reads sent "
        "straight to each service's process",
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "targets": results,
        "ratio_to_floor": ratios,
        "ratios": "median over rounds of the target and the floor measured back to back",
        "p99_over_p50": tails,
        "cpu_us_per_request": {name: r["cpu_us_per_request"] for name, r in results.items()},
        "targets_met": {
            "cached product >= 0.4 floor": ratios[PRODUCT] >= 0.4,
            "signed-in user >= 0.1 floor": ratios[USER] >= 0.1,
            "p99 < 5x p50 (product, user)": tails[PRODUCT] < 5 and tails[USER] < 5,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "request_path.json").write_text(json.dumps(summary, indent=2))
    plot(summary, RESULTS / "request_path.png")
    print(json.dumps(summary, indent=2))


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["targets"])
    targets = summary["targets"]
    labels = [n.replace(", ", ",\n").replace(" (", "\n(") for n in names]
    colours = ["tab:blue", "tab:green", "tab:olive", "tab:purple", "tab:gray"][: len(names)]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 5))
    left.bar(labels, [targets[n]["requests_per_second"] for n in names], color=colours)
    left.set_yscale("log")  # the floor and a database read differ by orders of magnitude
    left.set_ylabel("requests/s (median round, log scale)")
    left.set_title(
        "ratio to floor: "
        + ", ".join(f"{v}" for n, v in summary["ratio_to_floor"].items() if n in names[:-1]),
        fontsize=9,
    )
    middle.bar(labels, [targets[n]["cpu_us_per_request"] for n in names], color=colours)
    middle.set_ylabel("CPU of the serving process per request (us)")
    middle.set_title(f"load average {summary['load_average']['before']}", fontsize=9)
    width = 0.4
    positions = range(len(names))
    right.bar(
        [p - width / 2 for p in positions],
        [targets[n]["p50_ms"] for n in names],
        width,
        label="p50",
    )
    right.bar(
        [p + width / 2 for p in positions],
        [targets[n]["p99_ms"] for n in names],
        width,
        label="p99",
    )
    right.set_xticks(list(positions), labels)
    right.set_ylabel("latency (ms)")
    right.legend()
    right.set_title(
        f"{summary['connections']} connections, {summary['seconds']} s each", fontsize=9
    )
    for axis in (left, middle, right):
        axis.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
