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
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ADMIN = ("bench-admin@example.com", "Bench-Admin-Passw0rd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready")


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
    run = f"g{uuid.uuid4().hex[:8]}"
    gateway_port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "PANTHERA_ADMIN_EMAIL": ADMIN[0],
        "PANTHERA_ADMIN_PASSWORD": ADMIN[1],
        "PANTHERA_LOG_LEVEL": "WARNING",
        "PANTHERA_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
        "PANTHERA_SCHEMA_PREFIX": f"{run}_",
        "PANTHERA_EVENTS__STREAM_PREFIX": run.upper(),
        "PANTHERA_EVENTS__SUBJECT_PREFIX": run,
        "PANTHERA_GATEWAY__RATE_LIMIT_PER_CLIENT": "100000000/minute",
        "PANTHERA_GATEWAY__RATE_LIMIT_PER_ROUTE": "100000000/minute",
        "PANTHERA_GATEWAY__CACHE_TTL_SECONDS": "300",
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as data:
        platform = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "panthera",
                "up",
                "--distributed",
                "--port",
                str(gateway_port),
                "--data-dir",
                data,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        bare = None
        try:
            base = f"http://127.0.0.1:{gateway_port}"
            wait_ready(f"{base}/readyz")
            http = httpx.Client(base_url=base, timeout=10)
            token = http.post(
                "/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}
            ).json()["accessToken"]
            product = http.post(
                "/v1/products",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "sku": f"GW-{run}",
                    "name": "Benchmark kettle",
                    "description": "Boils water.",
                    "price": 3900,
                    "currency": "EUR",
                    "stock": 10,
                },
            ).json()
            path = f"/v1/products/{product['id']}"
            body = http.get(path).content  # warms the edge cache and the catalog's
            key = f"bench:{run}"
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
                env={**env, "BENCH_KEY": key},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_ready(f"http://127.0.0.1:{bare_port}/")
            processes = json.loads((Path(data) / "processes.json").read_text())
            catalog = processes["catalog-1"]["url"]
            targets = {
                "gateway (edge cache)": f"{base}{path}",
                "bare ASGI + Redis": f"http://127.0.0.1:{bare_port}/",
                "catalog direct": f"{catalog}{path}",
            }
            for name, url in targets.items():
                wrk(url, seconds=2, connections=args.connections)  # warm-up
                results[name] = wrk(url, seconds=args.seconds, connections=args.connections)
                print(name, results[name], flush=True)
        finally:
            for process in (bare, platform):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=60)
            asyncio.run(_cleanup(run))
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


async def _cleanup(run: str) -> None:
    """Drop the run's schemas and streams."""
    import asyncpg  # type: ignore[import-untyped]
    import nats

    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        names = await connection.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{run}\\_%"
        )
        for row in names:
            await connection.execute(f'DROP SCHEMA "{row["nspname"]}" CASCADE')
    finally:
        await connection.close()
    client = await nats.connect("nats://127.0.0.1:4222")
    try:
        stream_api = client.jetstream()
        for info in await stream_api.streams_info():
            if info.config.name and info.config.name.startswith(run.upper() + "_"):
                await stream_api.delete_stream(info.config.name)
    finally:
        await client.close()


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
