"""Start the platform as real processes for a benchmark, isolated, and clean up after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from panthera.testing.cleanup import remove_run
from panthera.testing.ports import free_port

ADMIN = ("bench-admin@example.com", "Bench-Admin-Passw0rd")
POSTGRES_URL = os.environ.get(
    "PANTHERA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Running:
    base: str
    data_dir: Path

    def processes(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.data_dir / "processes.json").read_text())
        return state

    def metrics_urls(self) -> dict[str, str]:
        """Every process's `/metrics` (the one process of the embedded topology too)."""
        try:
            found = self.processes()
        except FileNotFoundError:
            return {"platform": f"{self.base}/metrics"}
        urls = {
            name: f"{process['url']}/metrics"
            for name, process in found.items()
            if isinstance(process, dict) and process.get("url") and name != "gateway"
        }
        return urls or {"platform": f"{self.base}/metrics"}


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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def platform(
    *,
    distributed: bool,
    env: Mapping[str, str] | None = None,
    database_url: str = POSTGRES_URL,
) -> Iterator[Running]:
    """`panthera up` (or `--distributed`, in schemas and streams of its own) with an admin,
    generous rate limits and quiet logs."""
    run = f"b{uuid.uuid4().hex[:8]}"
    port = free_port()
    full_env = {
        **os.environ,
        "PANTHERA_ADMIN_EMAIL": ADMIN[0],
        "PANTHERA_ADMIN_PASSWORD": ADMIN[1],
        "PANTHERA_LOG_LEVEL": "WARNING",
        "PANTHERA_GATEWAY__RATE_LIMIT_PER_CLIENT": "100000000/minute",
        "PANTHERA_GATEWAY__RATE_LIMIT_PER_ROUTE": "100000000/minute",
        **(env or {}),
    }
    command = [sys.executable, "-m", "panthera", "up", "--port", str(port)]
    if distributed:
        command.append("--distributed")
        full_env.update(
            {
                "PANTHERA_DATABASE_URL": database_url,
                "PANTHERA_SCHEMA_PREFIX": f"{run}_",
                "PANTHERA_EVENTS__STREAM_PREFIX": run.upper(),
                "PANTHERA_EVENTS__SUBJECT_PREFIX": run,
            }
        )
    with tempfile.TemporaryDirectory() as data:
        process = subprocess.Popen(
            [*command, "--data-dir", data],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(f"{base}/readyz")
            yield Running(base, Path(data))
        finally:
            process.terminate()
            process.wait(timeout=60)
            if distributed:
                remove_run(run, database_url=database_url)
