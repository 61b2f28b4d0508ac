"""The gateway's cost on the hot path, measured on this machine in one run.

Three targets, same load generator, same concurrency:
  1. a cached `GET /v1/products/{id}` through the gateway (distributed topology),
  2. the same product served by a bare ASGI app reading the same value from Redis
     (the floor for a Python stack here),
  3. the catalog service hit directly (no gateway).

    .venv/bin/python benchmarks/gateway.py [--seconds 10] [--connections 32]

Needs `wrk` (Debian package `wrk`) and the machine's PostgreSQL, NATS and Redis.
Writes benchmarks/results/gateway.json and gateway.png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis
from platform_run import ADMIN, free_port, platform, wait_ready

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(url: str, *, seconds: int, connections: int) -> dict[str, float]:
    """Run wrk against `url` and read throughput and latency percentiles from its report."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    tag = uuid.uuid4().hex[:8]
    bare_port = free_port()
    results: dict[str, Any] = {}
    with platform(distributed=True, env={"PANTHERA_GATEWAY__CACHE_TTL_SECONDS": "300"}) as running:
        http = httpx.Client(base_url=running.base, timeout=10)
        token = http.post("/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}).json()[
            "accessToken"
        ]
        product = http.post(
            "/v1/products",
            headers={"Authorization": f"Bearer {token}"},
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
        body = http.get(path).content  # warms the edge cache and the catalog's
        key = f"bench:{tag}"
        redis.Redis.from_url("redis://127.0.0.1:6379/0").set(key, body, ex=600)
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT / "benchmarks",
            env={**os.environ, "BENCH_KEY": key},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(f"http://127.0.0.1:{bare_port}/")
            targets = {
                "gateway (edge cache)": f"{running.base}{path}",
                "bare ASGI + Redis": f"http://127.0.0.1:{bare_port}/",
                "catalog direct": f"{running.processes()['catalog-1']['url']}{path}",
            }
            for name, url in targets.items():
                wrk(url, seconds=2, connections=args.connections)  # warm-up
                results[name] = wrk(url, seconds=args.seconds, connections=args.connections)
                print(name, results[name], flush=True)
        finally:
            bare.terminate()
            bare.wait(timeout=30)
    floor = results["bare ASGI + Redis"]["requests_per_second"]
    summary = {
        "machine": f"{os.cpu_count()} cores, load from wrk on the same machine",
        "connections": args.connections,
        "seconds": args.seconds,
        "targets": results,
        "gateway_to_bare_ratio": round(
            results["gateway (edge cache)"]["requests_per_second"] / floor, 3
        ),
        "catalog_to_bare_ratio": round(results["catalog direct"]["requests_per_second"] / floor, 3),
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
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(names, rps, color=["tab:blue", "tab:gray", "tab:green"])
    left.set_ylabel("requests/s")
    left.set_title(f"throughput at {summary['connections']} connections")
    right.bar(names, p99, color=["tab:blue", "tab:gray", "tab:green"])
    right.set_ylabel("p99 latency (ms)")
    right.set_title(f"gateway / bare = {summary['gateway_to_bare_ratio']}")
    for axis in (left, right):
        axis.tick_params(axis="x", labelrotation=15)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
