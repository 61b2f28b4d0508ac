"""Notification store benchmark: writes and listings per second, SQL vs DynamoDB Local.

The notifications service is started alone (its sender off) on each store, and the
store port is driven as the service drives it:

- `writes`: N notifications queued by W concurrent writers, each in a unit of work of
  its own as an event handler does (SQL: the insert commits with it; DynamoDB: a
  conditional put), then the same N again, as a redelivery would (all refused);
- `customer listings`: the first page (20) of one customer's notifications, with its
  total, for random customers, R concurrent readers;
- `admin listings`: the first page (20) across all users, with the exact total.

Set-ups: `sql-sqlite` (embedded), `sql-postgresql` (the machine's PostgreSQL) and
`dynamodb-local` (Amazon's DynamoDB Local, in memory, started here: run
scripts/install-dynamodb-local first; the service's own database, which holds the
inbox, is then PostgreSQL, as in the distributed topology). DynamoDB Local is a Java
emulator on the same 2 cores, not AWS: its figures show the adapter's round trips, not
AWS's latency. Each kind of call is warmed up first (DynamoDB Local's JIT, pools).

Run (never part of the test suite):

    .venv/bin/python benchmarks/notification_store.py
    .venv/bin/python benchmarks/notification_store.py --notifications 500 --setups sql-sqlite

Writes benchmarks/results/notification_store.json and notification_store.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' DynamoDB Local launcher and samples, used as is

from tests.services.notifications.dynamodb_local import (  # noqa: E402
    dynamodb_environment,
    dynamodb_local,
)
from tests.services.notifications.samples import queued  # noqa: E402

from panthera.app import create_platform  # noqa: E402
from panthera.kernel.database import utcnow  # noqa: E402
from panthera.kernel.settings import Settings  # noqa: E402
from panthera.services.notifications.repository import NotificationsUoW  # noqa: E402
from panthera.services.notifications.settings import NotificationsSettings  # noqa: E402
from panthera.services.notifications.store import Notification, NotificationStore  # noqa: E402

RESULTS = Path(__file__).parent / "results"
POSTGRES_URL = os.environ.get(
    "PANTHERA_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SETUPS = ("sql-sqlite", "sql-postgresql", "dynamodb-local")
PAGE = 20
WARM_UP = 40


def notification(user_id: uuid.UUID, at_offset: float) -> Notification:
    body = "Hello there, your order is confirmed. " * 20  # about the size of a real email
    at = utcnow() + timedelta(microseconds=at_offset)
    return queued(user_id, template="order_confirmed", at=at, body=body)


@contextmanager
def environment(setup: str, folder: Path) -> Iterator[Settings]:
    """The platform settings of a set-up (and DynamoDB Local running, for that one)."""
    schema_prefix = f"bench{uuid.uuid4().hex[:8]}_"
    database_url = None if setup == "sql-sqlite" else POSTGRES_URL
    settings = Settings(
        data_dir=folder / "data",
        database_url=database_url,
        schema_prefix=schema_prefix,
        log_level="WARNING",
    )
    if setup != "dynamodb-local":
        yield settings
        return
    with dynamodb_local(folder / "dynamodb.log") as endpoint:
        saved = dict(os.environ)
        os.environ.update(dynamodb_environment(endpoint, f"bench-{uuid.uuid4().hex[:8]}"))
        try:
            yield settings
        finally:
            os.environ.clear()
            os.environ.update(saved)


@asynccontextmanager
async def running_store(settings: Settings) -> AsyncIterator[tuple[NotificationsUoW, Any]]:
    options = {"notifications": NotificationsSettings(sender_enabled=False)}
    hosted = create_platform(settings, services=["notifications"], service_settings=options)
    async with hosted.running():
        host = hosted.hosts["notifications"]
        try:
            yield host.uow, host.runtime.store
        finally:
            await host.db.drop_schema()  # PostgreSQL: the benchmark's schema goes (SQLite: no-op)


async def timed(calls: list[Callable[[], Awaitable[object]]], workers: int) -> dict[str, Any]:
    """Run `calls` on `workers` concurrent tasks: rate and latency."""
    latencies: list[float] = []
    queue = list(reversed(calls))

    async def worker() -> None:
        while queue:
            call = queue.pop()
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "count": len(calls),
        "seconds": round(elapsed, 3),
        "per_second": round(len(calls) / elapsed, 1),
        "latency_ms": {
            "p50": round(statistics.median(ordered), 2),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        },
    }


async def measure(setup: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, environment(setup, Path(folder)) as settings:
        async with running_store(settings) as (uow, store):
            users = [uuid.uuid4() for _ in range(args.users)]
            rows = [notification(users[i % len(users)], i) for i in range(args.notifications)]

            def add(row: Notification, target: NotificationStore) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    async with uow.write() as tx:
                        await target.add(tx, [row])

                return call

            warm_users = [uuid.uuid4() for _ in range(4)]
            warm = [notification(warm_users[i % 4], -i - 1) for i in range(WARM_UP)]
            await timed([add(row, store) for row in warm], args.writers)
            writes = await timed([add(row, store) for row in rows], args.writers)
            again = await timed([add(row, store) for row in rows], args.writers)
            total, _ = await store.find(user_id=None, channel=None, offset=0, limit=1)
            assert total == len(rows) + WARM_UP, (total, len(rows))

            def customer() -> Callable[[], Awaitable[object]]:
                user = random.choice(users)
                return lambda: store.find(user_id=user, channel=None, offset=0, limit=PAGE)

            def admin() -> Callable[[], Awaitable[object]]:
                return lambda: store.find(user_id=None, channel=None, offset=0, limit=PAGE)

            await timed([customer() for _ in range(WARM_UP)], args.readers)
            await timed([admin() for _ in range(WARM_UP // 4)], args.readers)
            customers = await timed([customer() for _ in range(args.listings)], args.readers)
            admins = await timed([admin() for _ in range(args.admin_listings)], args.readers)
    return {
        "writes": writes,
        "redelivered_writes": again,
        "customer_listings": customers,
        "admin_listings": admins,
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    setups = list(results["setups"])
    kinds = [
        ("writes", "writes"),
        ("redelivered_writes", "redelivered writes"),
        ("customer_listings", "customer listings"),
        ("admin_listings", f"admin listings (of {results['stored']})"),
    ]
    fig, axes = plt.subplots(1, len(kinds), figsize=(15, 4.2))
    colors = ["#4c72b0", "#55a868", "#c44e52"]
    for axis, (key, title) in zip(axes, kinds, strict=True):
        rates = [results["setups"][s][key]["per_second"] for s in setups]
        bars = axis.bar(setups, rates, color=colors[: len(setups)])
        axis.bar_label(bars, fmt="%.0f")
        axis.set_title(f"{title} per second", fontsize=10)
        axis.tick_params(axis="x", labelsize=8)
    fig.suptitle("Notification store: SQL vs DynamoDB Local (one process, 2 vCPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--notifications", type=int, default=600)
    parser.add_argument("--users", type=int, default=100, help="customers sharing them")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--listings", type=int, default=200, help="customer listings")
    parser.add_argument("--admin-listings", type=int, default=20)
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=SETUPS)
    args = parser.parse_args()

    results: dict[str, Any] = {
        "benchmark": "notification_store",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "notifications": args.notifications,
        "stored": args.notifications + WARM_UP,
        "users": args.users,
        "writers": args.writers,
        "readers": args.readers,
        "page": PAGE,
        "setups": {},
    }
    for setup in args.setups:
        measured = await measure(setup, args)
        results["setups"][setup] = measured
        print(
            f"{setup:15}"
            + "".join(
                f"  {key} {m['per_second']:7.1f}/s (p50 {m['latency_ms']['p50']} ms)"
                for key, m in measured.items()
            ),
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "notification_store.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "notification_store.png")
    print(f"wrote {RESULTS / 'notification_store.json'} and notification_store.png")


if __name__ == "__main__":
    asyncio.run(main())
