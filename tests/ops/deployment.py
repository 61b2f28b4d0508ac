"""A deployment a test starts, stops, destroys and starts again with the same configuration."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

from panthera.testing.cleanup import remove_run
from panthera.testing.ports import free_port
from panthera.testing.processes import running
from panthera.testing.shop import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.conftest import POSTGRES_URL

SERVICES = ("users", "catalog", "orders", "notifications")


@dataclass
class Deployment:
    """One shop's configuration, kept across its destruction and restoration."""

    root: Path
    topology: str
    run: str = field(default_factory=lambda: f"d{uuid.uuid4().hex[:8]}")

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def env(self) -> dict[str, str]:
        env = {"PANTHERA_ADMIN_EMAIL": ADMIN_EMAIL, "PANTHERA_ADMIN_PASSWORD": ADMIN_PASSWORD}
        if self.topology == "distributed":
            env |= {
                "PANTHERA_DATABASE_URL": POSTGRES_URL.replace("+asyncpg", ""),
                "PANTHERA_NATS_URL": "nats://127.0.0.1:4222",
                "PANTHERA_SCHEMA_PREFIX": f"{self.run}_",
                "PANTHERA_EVENTS__STREAM_PREFIX": self.run.upper(),
                "PANTHERA_EVENTS__SUBJECT_PREFIX": self.run,
            }
        return env

    @contextmanager
    def up(self) -> Iterator[str]:
        port = free_port()
        args = ["up", "--port", str(port), "--data-dir", str(self.data_dir)]
        if self.topology == "distributed":
            args.append("--distributed")
        with running(
            *args, port=port, log=self.root / "platform.log", env=self.env, ready_within=300
        ) as base:
            yield base

    def panthera(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "panthera", *args, "--data-dir", str(self.data_dir)],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def metrics_urls(self, base: str) -> list[str]:
        if self.topology == "embedded":
            return [f"{base}/metrics"]
        processes = json.loads((self.data_dir / "processes.json").read_text())
        return [f"{p['url']}/metrics" for p in processes.values() if p["service"] in SERVICES]

    def destroy(self) -> None:
        shutil.rmtree(self.data_dir)
        if self.topology == "distributed":
            remove_run(self.run)  # the schemas, and the streams: JetStream is not backed up

    def mark_outboxes_unpublished(self) -> int:
        """As if no relay had published anything at the backup's instant."""
        if self.topology == "embedded":
            total = 0
            for service in SERVICES:
                with closing(sqlite3.connect(self.data_dir / f"{service}.db")) as db, db:
                    total += db.execute("UPDATE outbox SET published_at = NULL").rowcount
            return total

        async def update() -> int:
            conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
            try:
                total = 0
                for service in SERVICES:
                    status = await conn.execute(
                        f'UPDATE "{self.run}_{service}".outbox SET published_at = NULL'  # noqa: S608
                    )
                    total += int(status.split()[-1])
                return total
            finally:
                await conn.close()

        return asyncio.run(update())


def published_total(urls: list[str]) -> float:
    """Events published by every relay of the deployment (a sum over its processes)."""
    total = 0.0
    for url in urls:
        text = httpx.get(url, timeout=10).text
        total += sum(
            float(value)
            for value in re.findall(r"^panthera_events_published_total\{[^}]*\} (\S+)$", text, re.M)
        )
    return total


def backlog(urls: list[str]) -> float:
    total = 0.0
    for url in urls:
        text = httpx.get(url, timeout=10).text
        total += sum(
            float(v) for v in re.findall(r"^panthera_outbox_backlog\{[^}]*\} (\S+)$", text, re.M)
        )
    return total
