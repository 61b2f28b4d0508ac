"""What a running deployment looks like right now, gathered for `panthera status`.

Processes come from `<data dir>/processes.json` (written by `panthera up`, either
topology); each is asked for `/healthz`, `/readyz` and `/metrics`. Schema
revisions and outbox backlogs are read from each service's database, consumer
lag from the processes' metrics, dead letters from JetStream's dead-letter
stream (distributed) or the processes' counters (embedded: the in-process bus
keeps none across a restart), and the last backup from the backup location.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families

from panthera.kernel.bus.settings import BusSettings
from panthera.kernel.database import Database
from panthera.kernel.events import Event
from panthera.kernel.settings import Settings
from panthera.ops.backup import Deployment, list_backups
from panthera.ops.stores import ServiceStore

PROCESSES = "processes.json"
EMBEDDED = "platform"
"""The one process of the embedded topology, as `processes.json` names it."""


@dataclass
class ProcessStatus:
    name: str
    service: str
    url: str
    pid: int | None
    restarts: int
    alive: bool = False
    ready: bool = False
    version: str | None = None
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceData:
    service: str
    revision: str | None = None
    head: str | None = None
    outbox_backlog: int | None = None
    oldest_unpublished_seconds: float | None = None
    error: str | None = None


@dataclass
class ConsumerLag:
    consumer: str
    source: str
    lag: int


@dataclass
class DeadLetters:
    consumer: str
    type: str
    count: int
    since: datetime | None

    @property
    def hint(self) -> str:
        since = (self.since or datetime.now(UTC) - timedelta(days=1)) - timedelta(minutes=1)
        return (
            f"panthera events replay --consumer {self.consumer} "
            f"--since {since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )


@dataclass
class LastBackup:
    id: str
    finished_at: datetime
    ref: str


@dataclass
class Status:
    topology: str
    data_dir: str
    processes: list[ProcessStatus]
    services: list[ServiceData]
    lags: list[ConsumerLag]
    dead_letters: list[DeadLetters]
    backups_at: str
    last_backup: LastBackup | None
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Every process alive and ready, every database answering."""
        return (
            bool(self.processes)
            and all(p.alive and p.ready for p in self.processes)
            and all(s.error is None for s in self.services)
        )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["healthy"] = self.healthy
        for dead, raw in zip(self.dead_letters, data["dead_letters"], strict=True):
            raw["hint"] = dead.hint
        plain: dict[str, Any] = json.loads(json.dumps(data, default=str))
        return plain


def recorded_processes(data_dir: Path) -> list[ProcessStatus]:
    """The processes `panthera up` recorded for this data directory."""
    path = data_dir / PROCESSES
    if not path.exists():
        return []
    recorded: Mapping[str, Any] = json.loads(path.read_text())
    return [
        ProcessStatus(
            name=name,
            service=str(p["service"]),
            url=str(p["url"]),
            pid=p.get("pid"),
            restarts=int(p.get("restarts", 0)),
        )
        for name, p in recorded.items()
    ]


def record_embedded(data_dir: Path, *, host: str, port: int, pid: int) -> None:
    """The embedded platform's one process, where `panthera status` looks for it."""
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    state = {EMBEDDED: {"service": EMBEDDED, "url": f"http://{reachable}:{port}", "pid": pid}}
    path = data_dir / PROCESSES
    path.with_suffix(".tmp").write_text(json.dumps(state, indent=2))
    path.with_suffix(".tmp").replace(path)


async def _probe(client: httpx.AsyncClient, process: ProcessStatus) -> str | None:
    """Health, readiness and (for service processes) the metrics text of one process."""
    try:
        health = await client.get(f"{process.url}/healthz", timeout=3)
    except httpx.HTTPError as exc:
        process.problems["process"] = f"unreachable: {type(exc).__name__}"
        return None
    process.alive = health.status_code == 200
    try:
        ready = await client.get(f"{process.url}/readyz", timeout=5)
        process.ready = ready.status_code == 200
        if not process.ready:
            body = ready.json() if ready.headers.get("content-type", "").endswith("json") else {}
            failing = {
                name: state
                for name, state in (body.get("checks") or {}).items()
                if state not in ("ok", "skipped")
            }
            process.problems.update(failing or {"readyz": f"HTTP {ready.status_code}"})
    except httpx.HTTPError as exc:
        process.problems["readyz"] = type(exc).__name__
    if process.service == "gateway":  # Envoy: its statistics are Prometheus's business
        return None
    try:
        text = (await client.get(f"{process.url}/metrics", timeout=10)).text
    except httpx.HTTPError:
        return None
    versions = [labels["version"] for labels, _ in _samples([text], "panthera_build_info")]
    process.version = versions[0] if versions else None
    return text


def _samples(texts: Sequence[str], name: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    found.append((dict(sample.labels), float(sample.value)))
    return found


def consumer_lags(texts: Sequence[str]) -> list[ConsumerLag]:
    """The largest lag any replica reports, per consumer and source."""
    worst: dict[tuple[str, str], float] = {}
    for labels, value in _samples(texts, "panthera_consumer_lag"):
        key = (labels["consumer"], labels["source"])
        worst[key] = max(worst.get(key, 0.0), value)
    return [ConsumerLag(c, s, int(v)) for (c, s), v in sorted(worst.items())]


def counted_dead_letters(texts: Sequence[str]) -> list[DeadLetters]:
    """Dead letters the processes counted since they started (the embedded topology's)."""
    totals: dict[tuple[str, str], float] = {}
    for labels, value in _samples(texts, "panthera_events_dead_lettered_total"):
        key = (labels["consumer"], labels["type"])
        totals[key] = totals.get(key, 0.0) + value
    # Each happened after its process started: replaying from the earliest start covers it.
    starts = [value for _, value in _samples(texts, "process_start_time_seconds")]
    since = datetime.fromtimestamp(min(starts), UTC) if starts else None
    return [DeadLetters(c, t, int(v), since) for (c, t), v in sorted(totals.items()) if v > 0]


async def stored_dead_letters(settings: Settings) -> list[DeadLetters]:
    """Every dead letter JetStream keeps, by consumer and type, with the oldest's time."""
    import nats
    from nats.js.errors import NotFoundError

    from panthera.kernel.bus.jetstream import DEADLETTER, JetStreamBus

    bus = JetStreamBus(settings.nats_url or "", BusSettings())
    stream = bus.stream_name(DEADLETTER)
    prefix = bus.deadletter_subject("", "").rstrip(".")
    connection = await nats.connect(
        settings.nats_url or "", connect_timeout=3, max_reconnect_attempts=0
    )
    try:
        js = connection.jetstream()
        try:
            info = await js.stream_info(stream, subjects_filter=">")
        except NotFoundError:
            return []
        found = []
        for subject, count in sorted((info.state.subjects or {}).items()):
            consumer, _, event_type = subject.removeprefix(prefix).lstrip(".").partition(".")
            first = await js.get_msg(stream, seq=1, subject=subject, next=True)
            found.append(
                DeadLetters(consumer, event_type, count, _occurred(first.data, first.time))
            )
        return found
    finally:
        await connection.close()


def _occurred(data: bytes | None, stored: datetime | None) -> datetime | None:
    """When a dead letter's event occurred (for a message that is no event, a malformed
    one, when JetStream stored it)."""
    try:
        return Event.model_validate_json(data or b"").occurredAt
    except ValueError:
        return stored


async def service_data(store: ServiceStore) -> ServiceData:
    """The schema revision (and the code's newest), and the outbox backlog, of a service."""
    data = ServiceData(store.service)
    data.head = ScriptDirectory(str(store.migrations)).get_current_head()
    db = Database(store.url, schema=store.schema, pool_size=1)
    try:
        async with db.read() as session:
            data.revision = await session.scalar(
                sa.text(f'SELECT version_num FROM "{store.version_table}"')  # noqa: S608
            )
            count, oldest = (
                await session.execute(
                    sa.text(
                        "SELECT count(*), min(occurred_at) FROM outbox WHERE published_at IS NULL"
                    )
                )
            ).one()
        data.outbox_backlog = int(count)
        if oldest is not None:
            when = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            data.oldest_unpublished_seconds = max((datetime.now(UTC) - when).total_seconds(), 0)
    except Exception as exc:  # a missing schema or a database down: shown, not raised
        data.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        await db.dispose()
    return data


async def gather(deployment: Deployment) -> Status:
    settings = deployment.settings
    processes = recorded_processes(settings.data_dir)
    async with httpx.AsyncClient() as client:
        texts = await asyncio.gather(*(_probe(client, p) for p in processes))
    metrics = [t for t in texts if t]
    services = await asyncio.gather(*(service_data(s.store) for s in deployment.services))
    notes = []
    if not processes:
        notes.append(f"no running processes recorded in {settings.data_dir / PROCESSES}")
    dead: list[DeadLetters] = []
    if deployment.topology == "distributed" and settings.nats_url:
        try:
            dead = await stored_dead_letters(settings)
        except Exception as exc:
            notes.append(f"dead letters unknown: NATS: {type(exc).__name__}: {exc}")
    else:
        dead = counted_dead_letters(metrics)
    try:
        where, backups = await list_backups(deployment, None)
    except Exception as exc:
        where, backups = f"unknown ({type(exc).__name__}: {exc})", []
    last = None
    if backups:
        manifest, ref = backups[0]
        last = LastBackup(manifest.id, manifest.finishedAt, ref)
    return Status(
        topology=deployment.topology,
        data_dir=str(settings.data_dir),
        processes=processes,
        services=list(services),
        lags=consumer_lags(metrics),
        dead_letters=dead,
        backups_at=where,
        last_backup=last,
        notes=notes,
    )
