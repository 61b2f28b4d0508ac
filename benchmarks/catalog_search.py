"""Catalog benchmark: search latency and product read throughput, SQLite and PostgreSQL.

Seeds the deterministic demo catalog (10k, then 100k products) into each
database through the catalog's own use cases, then measures:

- search latency (p50, p95, p99) over a fixed, varied mix of queries
  (full-text, filters, sorts, deep pages), called through the use case
  `get_products`, i.e. what the API adds is not counted;
- product reads per second through `get_product` with the cache cold (every
  read goes to the database) and warm (every read is a cache hit): memory on
  SQLite (the embedded topology), Redis on PostgreSQL (the distributed one).

Run (never part of the test suite):

    .venv/bin/python benchmarks/catalog_search.py
    .venv/bin/python benchmarks/catalog_search.py --sizes 10000 --backends sqlite

Writes benchmarks/results/catalog_search.json and catalog_search.png.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from panthera.app import local_verifier
from panthera.kernel.cache import MemoryCache, RedisCache
from panthera.kernel.service import ServiceHost
from panthera.kernel.settings import Settings
from panthera.services import catalog
from panthera.services.catalog import demo
from panthera.services.catalog.categories import get_categories
from panthera.services.catalog.products import count_products, get_product, get_products
from panthera.services.catalog.repository import ProductQuery
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.settings import CatalogSettings

RESULTS = Path(__file__).parent / "results"
POSTGRES_URL = os.environ.get(
    "PANTHERA_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PANTHERA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROUNDS = 10
READS = 2_000
READ_CONCURRENCY = 16


def query_mix(categories: dict[str, uuid.UUID]) -> list[tuple[str, ProductQuery]]:
    """What shoppers do: words, typos of operators, filters, sorts and deep pages."""
    running = categories["Running shoes"]
    return [
        ("one word", ProductQuery(search="shoes")),
        ("two words", ProductQuery(search="waterproof jacket")),
        ("brand and noun", ProductQuery(search="northwind headphones")),
        ("word form", ProductQuery(search="knives")),
        ("rare word", ProductQuery(search="damascus")),
        ("no match", ProductQuery(search="submarine")),
        ("sku", ProductQuery(search="KIT-0000002")),
        ("operators", ProductQuery(search='"lamp" OR -oak* (brass)')),
        ("search + price", ProductQuery(search="lamp", min_price=2000, max_price=8000)),
        ("search by price", ProductQuery(search="boot", sort="price")),
        ("search + stock", ProductQuery(search="tent", in_stock=True)),
        ("search page 5", ProductQuery(search="cotton", offset=80, limit=20)),
        ("category", ProductQuery(category_id=running)),
        ("category tree", ProductQuery(category_id=categories["_Footwear"], sort="-price")),
        ("list newest", ProductQuery()),
        ("list by name", ProductQuery(sort="name")),
        ("list by price", ProductQuery(sort="price", in_stock=True)),
        ("price band", ProductQuery(min_price=5000, max_price=5999)),
        ("deep page", ProductQuery(offset=2000, limit=20)),
        ("max page", ProductQuery(search="steel", limit=100)),
    ]


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load: other work running beside the benchmark."""
    return [round(value, 2) for value in os.getloadavg()]


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
    }


async def measure_search(rt: CatalogRuntime, mix: list[tuple[str, ProductQuery]]) -> dict[str, Any]:
    for _, query in mix:  # warm the database's own caches once
        await get_products(rt=rt, query=query)
    samples: list[float] = []
    per_query: dict[str, list[float]] = {name: [] for name, _ in mix}
    totals: dict[str, int] = {}
    for _ in range(ROUNDS):
        for name, query in mix:
            started = time.perf_counter()
            total, _ = await get_products(rt=rt, query=query)
            elapsed = time.perf_counter() - started
            samples.append(elapsed)
            per_query[name].append(elapsed)
            totals[name] = total
    return {
        "all": percentiles(samples),
        "queries": {
            name: {
                "median_ms": round(statistics.median(s) * 1000, 2),
                "max_ms": round(max(s) * 1000, 2),
                "matches": totals[name],
            }
            for name, s in per_query.items()
        },
    }


async def measure_reads(rt: CatalogRuntime, ids: list[uuid.UUID]) -> float:
    queue = list(ids)

    async def worker() -> None:
        while queue:
            await get_product(rt=rt, product_id=queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(READ_CONCURRENCY)))
    return round(len(ids) / (time.perf_counter() - started), 1)


async def sample_ids(rt: CatalogRuntime, count: int) -> list[uuid.UUID]:
    async with rt.uow.read() as tx:
        ids = list(await tx.session.scalars(sa.text("SELECT id FROM products")))
    rng = random.Random(7)
    picked = rng.sample(ids, min(count, len(ids)))
    return [value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)) for value in picked]


async def analyze(rt: CatalogRuntime) -> None:
    # What an operator runs after a bulk load, so the planner knows the new tables.
    # On PostgreSQL, VACUUM also sets the visibility map (autovacuum would, after so
    # many inserts), which lets counts run as index-only scans.
    engine = rt.uow.db.engine
    if rt.uow.db.is_sqlite:
        async with engine.connect() as conn:
            await conn.execute(sa.text("ANALYZE"))
            await conn.execute(
                sa.text("INSERT INTO products_fts(products_fts) VALUES ('optimize')")
            )
            await conn.commit()
        return
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(sa.text("VACUUM (ANALYZE) products, stock, categories"))


async def run_backend(backend: str, sizes: list[int], workdir: Path) -> list[dict[str, Any]]:
    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    settings = Settings(
        data_dir=workdir / backend,
        database_url=POSTGRES_URL if backend == "postgresql" else None,
        schema_prefix=prefix,
        redis_url=REDIS_URL if backend == "postgresql" else None,
        log_level="WARNING",
    )
    catalog_settings = CatalogSettings(cache_prefix=f"bench:{prefix}", cache_ttl_seconds=600)
    # Without the consumer, and the outbox relay never started (`host.relaying()`):
    # relaying 100k "created" events while measuring would time the relay, not the search.
    spec = dataclasses.replace(catalog.spec, inbox=None, handlers={})
    host = ServiceHost(spec, settings, local_verifier(settings), catalog_settings)
    results: list[dict[str, Any]] = []
    try:
        async with host.running():
            rt: CatalogRuntime = host.runtime
            aisles = await demo.ensure_categories(rt=rt)
            _, roots = await get_categories(rt=rt, offset=0, limit=1000)
            categories = {**aisles, **{f"_{c.name}": c.id for c in roots if c.parent_id is None}}
            mix = query_mix(categories)
            for size in sizes:
                have = await count_products(rt=rt)
                started = time.perf_counter()
                await demo.seed(rt=rt, products=size - have, batch_size=5_000)
                seeded = time.perf_counter() - started
                await analyze(rt)
                print(f"{backend} {size}: seeded {size - have} in {seeded:.1f}s", flush=True)
                load_before = load_average()
                search = await measure_search(rt, mix)
                search["load_average"] = {"before": load_before, "after": load_average()}
                ids = await sample_ids(rt, READS)
                cache = rt.cache
                assert isinstance(cache, MemoryCache | RedisCache)
                await cache.delete(*(f"product:{pid}" for pid in ids))
                cold = await measure_reads(rt, ids)
                warm = await measure_reads(rt, ids)
                results.append(
                    {
                        "backend": backend,
                        "cache": type(cache).__name__,
                        "products": size,
                        "seed_seconds": round(seeded, 1),
                        "seeded_products": size - have,
                        "search": search,
                        "reads_per_second": {"cold": cold, "warm": warm},
                    }
                )
                print(
                    f"  search p50 {search['all']['p50_ms']} ms, p95 {search['all']['p95_ms']} ms, "
                    f"p99 {search['all']['p99_ms']} ms; reads/s cold {cold}, warm {warm}; "
                    f"load {search['load_average']['before']} -> {search['load_average']['after']}",
                    flush=True,
                )
            await rt.cache.delete(*(f"product:{pid}" for pid in await sample_ids(rt, 10**6)))
    finally:
        await host.db.drop_schema()
        await host.db.dispose()
    return results


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['backend']}\n{r['products'] // 1000}k" for r in results]
    xs = range(len(results))
    figure, (latency, reads) = plt.subplots(1, 2, figsize=(12, 5))
    width = 0.27
    for offset, key in ((-width, "p50_ms"), (0.0, "p95_ms"), (width, "p99_ms")):
        latency.bar(
            [x + offset for x in xs],
            [r["search"]["all"][key] for r in results],
            width,
            label=key.replace("_ms", ""),
        )
    latency.set_xticks(list(xs), labels)
    latency.set_ylabel("ms")
    latency.set_title("Search latency (query mix)")
    latency.legend()
    for offset, key in ((-width / 2, "cold"), (width / 2, "warm")):
        reads.bar(
            [x + offset for x in xs],
            [r["reads_per_second"][key] for r in results],
            width,
            label=f"cache {key}",
        )
    reads.set_xticks(list(xs), labels)
    reads.set_yscale("log")  # memory hits are a hundred times database reads
    reads.set_ylabel("reads / s (log scale)")
    reads.set_title(f"Product reads ({READ_CONCURRENCY} concurrent)")
    reads.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--replot", action="store_true", help="Only redraw the PNG from the existing JSON."
    )
    args = parser.parse_args()
    if args.replot:
        saved = json.loads((args.output / "catalog_search.json").read_text())
        plot(saved["results"], args.output / "catalog_search.png")
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="panthera-bench-") as workdir:
        for backend in args.backends.split(","):
            results += await run_backend(backend, sizes, Path(workdir))
    args.output.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "catalog_search",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "rounds": ROUNDS,
        "reads": READS,
        "read_concurrency": READ_CONCURRENCY,
        "results": results,
    }
    (args.output / "catalog_search.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, args.output / "catalog_search.png")
    print(f"wrote {args.output / 'catalog_search.json'} and catalog_search.png")


if __name__ == "__main__":
    asyncio.run(main())
