"""Event pipeline benchmark: events per second and commit-to-effect latency.

A producer records events in its outbox (one transaction per event, as a use
case does); the kernel's outbox relay publishes them; a consumer applies each
one through its inbox in its own database. Measured from the producer's commit
to the commit of the consumer's effect, in three set-ups:

- `inprocess-sqlite`: the embedded topology (in-process bus, a SQLite file each);
- `inprocess-postgresql`: the in-process bus on PostgreSQL schemas;
- `jetstream-postgresql`: the distributed topology (NATS JetStream between a
  relay connection and a consumer connection, PostgreSQL schemas).

Two loads each: `burst` (N events from 8 concurrent writers as fast as they go:
throughput) and `paced` (a steady rate well below saturation: latency).

Run (never part of the test suite; needs the machine's PostgreSQL and NATS):

    .venv/bin/python benchmarks/event_pipeline.py
    .venv/bin/python benchmarks/event_pipeline.py --burst 500 --paced 200 --setups inprocess-sqlite

Writes benchmarks/results/event_pipeline.json and event_pipeline.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from panthera.contracts import EventContract
from panthera.kernel.bus import EventBus
from panthera.kernel.bus.inprocess import InProcessBus
from panthera.kernel.bus.jetstream import JetStreamBus
from panthera.kernel.bus.settings import BusSettings
from panthera.kernel.consumer import Consumer
from panthera.kernel.database import Database
from panthera.kernel.events import Event, Received
from panthera.kernel.outbox import Outbox, inbox_table, outbox_table
from panthera.kernel.relay import OutboxRelay
from panthera.kernel.uow import Transaction, UnitOfWork

RESULTS = Path(__file__).parent / "results"
POSTGRES_URL = os.environ.get(
    "PANTHERA_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
NATS_URL = os.environ.get("PANTHERA_BENCH_NATS_URL", "nats://127.0.0.1:4222")
SETUPS = ("inprocess-sqlite", "inprocess-postgresql", "jetstream-postgresql")
TYPE = "bench.thing.happened"
WRITERS = 8

metadata = sa.MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
effects = sa.Table(
    "effects",
    metadata,
    sa.Column("event_id", sa.Uuid(), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
)


@dataclass
class Run:
    committed: dict[uuid.UUID, float] = field(default_factory=dict)
    applied: dict[uuid.UUID, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    def latencies_ms(self) -> list[float]:
        return sorted((self.applied[i] - self.committed[i]) * 1000 for i in self.applied)


class ThingHappened(EventContract):
    TYPE = TYPE

    seq: int

    @property
    def subject(self) -> str:
        return f"thing-{self.seq}"


async def apply_effect(received: Received[ThingHappened], tx: Transaction, _runtime: Any) -> None:
    await tx.session.execute(effects.insert().values(event_id=received.id, seq=received.data.seq))


async def open_db(url: str, schema: str | None) -> Database:
    db = Database(url, schema=schema)
    await db.prepare()
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return db


@asynccontextmanager
async def pipeline(setup: str, run: Run) -> AsyncIterator[tuple[Database, Outbox]]:
    """A producer database with its relay, and a subscribed consumer, for one set-up."""
    tag = uuid.uuid4().hex[:8]
    tmp = tempfile.TemporaryDirectory()
    if setup.endswith("sqlite"):
        producer_db = await open_db(f"sqlite+aiosqlite:///{tmp.name}/producer.db", None)
        consumer_db = await open_db(f"sqlite+aiosqlite:///{tmp.name}/consumer.db", None)
    else:
        producer_db = await open_db(POSTGRES_URL, f"bench{tag}_producer")
        consumer_db = await open_db(POSTGRES_URL, f"bench{tag}_consumer")
    settings = BusSettings(stream_prefix=f"BENCH{tag}", subject_prefix=f"bench{tag}")
    publisher: EventBus
    subscriber: EventBus
    if setup.startswith("jetstream"):
        publisher = JetStreamBus(NATS_URL, settings)
        subscriber = JetStreamBus(NATS_URL, settings)
    else:
        publisher = subscriber = InProcessBus(settings)
    await publisher.connect()
    await subscriber.connect()
    consumer = Consumer(
        name="bench",
        uow=UnitOfWork(consumer_db, Transaction),
        inbox=inbox,
        handlers={ThingHappened: apply_effect},
        runtime=lambda: None,
    )

    async def deliver(event: Event) -> bool:
        handled = await consumer.handle(event)
        if handled:
            run.applied[event.id] = time.perf_counter()
            if len(run.applied) >= run.expected:
                run.done.set()
        return handled

    await subscriber.subscribe(consumer="bench", types=[TYPE], deliver=deliver)
    box = Outbox(outbox, source="bench")
    relay = OutboxRelay(service="bench", db=producer_db, outbox=box, bus=publisher)
    try:
        async with relay.running():
            yield producer_db, box
    finally:
        if isinstance(publisher, JetStreamBus):
            await publisher.delete_streams(["bench"])
        await subscriber.close()
        await publisher.close()
        for db in (producer_db, consumer_db):
            await db.drop_schema()
            await db.dispose()
        tmp.cleanup()


async def produce(db: Database, box: Outbox, run: Run, seq: int) -> None:
    async with UnitOfWork(db, Transaction, outbox=box).write() as tx:
        event = tx.record(ThingHappened(seq=seq))
    run.committed[event.id] = time.perf_counter()


async def burst(setup: str, count: int) -> dict[str, Any]:
    run = Run(expected=count)
    async with pipeline(setup, run) as (db, box):
        queue: asyncio.Queue[int] = asyncio.Queue()
        for seq in range(count):
            queue.put_nowait(seq)

        async def writer() -> None:
            while not queue.empty():
                await produce(db, box, run, queue.get_nowait())

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
        await asyncio.wait_for(run.done.wait(), timeout=600)
        elapsed = max(run.applied.values()) - started
    return {"events": count, "seconds": round(elapsed, 3), **summary(run)} | {
        "events_per_second": round(count / elapsed, 1)
    }


async def paced(setup: str, count: int, rate: float) -> dict[str, Any]:
    run = Run(expected=count)
    async with pipeline(setup, run) as (db, box):
        await asyncio.sleep(0.5)  # the relay and consumer settle before measuring
        started = time.perf_counter()
        for seq in range(count):
            # Hold the rate without drifting: each event at its own slot.
            delay = started + seq / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await produce(db, box, run, seq)
        await asyncio.wait_for(run.done.wait(), timeout=600)
    return {"events": count, "rate_per_second": rate, **summary(run)} | {
        "latencies_ms": [round(v, 3) for v in run.latencies_ms()]
    }


def summary(run: Run) -> dict[str, Any]:
    values = run.latencies_ms()

    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 2)

    return {
        "latency_ms": {
            "p50": pct(50),
            "p90": pct(90),
            "p99": pct(99),
            "max": round(values[-1], 2),
            "mean": round(statistics.fmean(values), 2),
        }
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    setups = list(results["setups"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    rates = [results["setups"][s]["burst"]["events_per_second"] for s in setups]
    bars = left.bar(setups, rates, color=["#4c72b0", "#55a868", "#c44e52"][: len(setups)])
    left.bar_label(bars, fmt="%.0f")
    left.set_ylabel("events per second (burst, 8 writers)")
    left.set_title("Throughput, commit to consumer effect")
    left.tick_params(axis="x", labelsize=8)
    for setup in setups:
        values = results["setups"][setup]["paced"]["latencies_ms"]
        ys = [(i + 1) / len(values) for i in range(len(values))]
        right.plot(values, ys, label=setup)
    right.set_xscale("log")
    right.set_xlabel("latency, ms (log)")
    right.set_ylabel("fraction of events")
    right.set_title("Latency at a steady rate (CDF)")
    right.grid(True, which="both", alpha=0.3)
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--burst", type=int, default=2000, help="events in the burst load")
    parser.add_argument("--paced", type=int, default=500, help="events in the paced load")
    parser.add_argument("--rate", type=float, default=100.0, help="paced events per second")
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=SETUPS)
    args = parser.parse_args()

    results: dict[str, Any] = {
        "benchmark": "event_pipeline",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "writers": WRITERS,
        "setups": {},
    }
    for setup in args.setups:
        b = await burst(setup, args.burst)
        p = await paced(setup, args.paced, args.rate)
        results["setups"][setup] = {"burst": b, "paced": p}
        print(
            f"{setup:22} burst {b['events_per_second']:8.1f} ev/s "
            f"(p50 {b['latency_ms']['p50']} ms, p99 {b['latency_ms']['p99']} ms)  "
            f"paced {args.rate:.0f}/s: p50 {p['latency_ms']['p50']} ms, "
            f"p99 {p['latency_ms']['p99']} ms",
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "event_pipeline.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "event_pipeline.png")
    print(f"wrote {RESULTS / 'event_pipeline.json'} and event_pipeline.png")


if __name__ == "__main__":
    asyncio.run(main())
