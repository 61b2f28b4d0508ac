"""Load from wrk and what it costs a process: the helpers every HTTP benchmark shares.

`wrk` is the Debian/Ubuntu package `wrk` (`apt-get install wrk`; Homebrew: `brew install wrk`).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from platform_run import wait_ready

from panthera.testing.ports import free_port

BENCHMARKS = Path(__file__).resolve().parent
RESULTS = BENCHMARKS / "results"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk (Debian/Ubuntu) or brew install wrk")


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(url: str, *, seconds: int, connections: int, headers: dict[str, str]) -> dict[str, float]:
    """Run wrk against `url` and read throughput and latency percentiles from its report."""
    flags = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *flags, url],
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


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    url: str, headers: dict[str, str], pids: dict[str, int], *, seconds: int, connections: int
) -> dict[str, float]:
    """wrk's figures, and the CPU each of `pids` spent per request meanwhile (which, unlike
    throughput, other load on a shared machine hardly moves)."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = wrk(url, seconds=seconds, connections=connections, headers=headers)
    requests = max(1.0, result["requests_per_second"] * seconds)
    for name, pid in pids.items():
        result[f"{name}_cpu_us_per_request"] = round(
            (cpu_seconds(pid) - before[name]) / requests * 1e6, 1
        )
    return result


def paired_ratio(numerators: list[dict[str, float]], denominators: list[dict[str, float]]) -> float:
    """The median over rounds of two targets' throughput ratio, each measured back to back:
    on a shared machine, what changes between rounds changes both alike."""
    return statistics.median(
        a["requests_per_second"] / b["requests_per_second"]
        for a, b in zip(numerators, denominators, strict=True)
    )


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    ordered = sorted(runs, key=lambda run: run["requests_per_second"])
    middle = ordered[len(ordered) // 2]
    return {**middle, "rounds_rps": [round(r["requests_per_second"], 1) for r in runs]}  # type: ignore[dict-item]


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages, to read a run's figures against."""
    return [round(value, 2) for value in os.getloadavg()]


@dataclass(frozen=True)
class Floor:
    """The bare ASGI app serving one Redis value (`bare_app.py`), as a process."""

    url: str
    pid: int


@contextmanager
def bare_floor(key: str) -> Iterator[Floor]:
    """The floor for a Python stack here, answering the value at Redis `key`, served by
    uvicorn as the platform's processes are (same loop and HTTP parser, no access log)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=BENCHMARKS,
        env={**os.environ, "BENCH_KEY": key},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_ready(url)
        yield Floor(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
