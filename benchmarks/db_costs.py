"""What a benchmark's work costs the databases, and the pgbench anchor to compare it with.

- `DatabaseCounters` reads `panthera_db_statements_total` and `panthera_db_transactions_total`
  (counted on the client through SQLAlchemy's events) from every process's `/metrics`.
- `server_transactions` reads `pg_stat_database` (commits plus rollbacks) of one database,
  which is why a distributed benchmark runs in a database of its own (`scratch_database`).
- `pgbench_tps` runs one transaction decrementing a stock row and inserting an order row,
  the floor a checkout is measured against, in a scratch database created and dropped here.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

STATEMENTS = "panthera_db_statements"
TRANSACTIONS = "panthera_db_transactions"
ADMIN_URL = os.environ.get(
    "PANTHERA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

PGBENCH_SCRIPT = """\\set product random(1, 1000)
BEGIN;
UPDATE stock SET quantity = quantity - 1 WHERE id = :product;
INSERT INTO orders (product_id, quantity) VALUES (:product, 1);
END;
"""
PGBENCH_SCHEMA = """
CREATE TABLE stock (id integer PRIMARY KEY, quantity integer NOT NULL);
INSERT INTO stock SELECT i, 1000000000 FROM generate_series(1, 1000) AS i;
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    product_id integer NOT NULL,
    quantity integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

Counts = dict[str, dict[str, float]]
"""metric -> database label -> value."""


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def psql(url: str, sql: str, **variables: str) -> str:
    settings = [f"--set={key}={value}" for key, value in variables.items()]
    # Through stdin: psql substitutes variables there, never in `-c`.
    done = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", *settings, "-d", url],
        input=sql,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@contextmanager
def scratch_database(prefix: str, admin_url: str = ADMIN_URL) -> Iterator[str]:
    """A new, empty database; its URL. Dropped afterwards, connections and all."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    psql(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_transactions(url: str) -> int:
    """Commits plus rollbacks the server counted in the URL's database (excluding this query,
    which commits after the statistics were read)."""
    # Backends report their counts at most once a second, and when idle.
    name = urlsplit(url).path.lstrip("/")
    # psql's own variable quoting (:'name'), not string formatting, puts the name in.
    value = psql(
        url,
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :'name'",
        name=name,
    )
    return int(value)


class DatabaseCounters:
    """Client-side statement and transaction counters of every process of a platform."""

    def __init__(self, metrics_urls: Mapping[str, str]) -> None:
        self.metrics_urls = dict(metrics_urls)

    def read(self) -> Counts:
        counts: Counts = {STATEMENTS: {}, TRANSACTIONS: {}}
        for url in self.metrics_urls.values():
            text = httpx.get(url, timeout=10).text
            for family in text_string_to_metric_families(text):
                if family.name not in counts:
                    continue
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        label = sample.labels["database"]
                        counts[family.name][label] = (
                            counts[family.name].get(label, 0.0) + sample.value
                        )
        return counts


def difference(after: Counts, before: Counts) -> Counts:
    return {
        metric: {
            label: value - before.get(metric, {}).get(label, 0.0) for label, value in values.items()
        }
        for metric, values in after.items()
    }


def service_of(label: str) -> str:
    """`b1a2b3c4_orders` (a benchmark's schema) or `orders` (a SQLite file) -> `orders`."""
    return label.rsplit("_", 1)[-1] if re.match(r"^b[0-9a-f]{8}_", label) else label


def per_service(counts: Mapping[str, float]) -> dict[str, float]:
    found: dict[str, float] = {}
    for label, value in counts.items():
        found[service_of(label)] = found.get(service_of(label), 0.0) + value
    return found


def pgbench_tps(
    *, clients: int = 16, seconds: int = 10, admin_url: str = ADMIN_URL
) -> dict[str, float]:
    """The anchor: TPS of one stock decrement plus one order insert per transaction."""
    with scratch_database("pgbench_anchor", admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        psql(url, PGBENCH_SCHEMA)
        script = Path(tmp) / "checkout.sql"
        script.write_text(PGBENCH_SCRIPT)
        started = time.perf_counter()
        done = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                "prepared",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-f",
                str(script),
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
    match = re.search(r"tps = ([0-9.]+)", done.stdout)
    if match is None:
        raise RuntimeError(f"pgbench printed no TPS:\n{done.stdout}\n{done.stderr}")
    return {
        "tps": round(float(match.group(1)), 1),
        "clients": clients,
        "seconds": round(elapsed, 1),
    }
