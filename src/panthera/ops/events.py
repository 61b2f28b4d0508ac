"""Events after a restore: what must be published again, and the streams of the old timeline.

JetStream is not backed up. At the backup's instant an event may have been
published by its relay (so its outbox row is marked) but not yet applied by
every consumer (so their inboxes lack it): it lived only in the stream. A
restore marks such rows unpublished again, so the relays publish them once
more; a consumer that had applied one already drops it by its inbox. The
streams themselves belong to the timeline the restore replaces (they hold
events the restored databases never saw, and remember message ids that would
make JetStream drop the events published again), so a restore deletes them;
the platform creates them anew when it starts.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from panthera.kernel.bus import create_bus
from panthera.kernel.bus.jetstream import DEADLETTER, JetStreamBus
from panthera.kernel.settings import Settings
from panthera.ops.stores import ServiceStore


@dataclass(frozen=True)
class Replayed:
    """Outbox rows the relays will publish after the restore."""

    in_flight: int
    """Published before the backup, not yet applied by every consumer: marked unpublished."""
    unpublished: int
    """Never published before the backup."""
    uncompared: list[str]
    """Source -> consumer pairs in different databases, whose in-flight events were not
    looked for: the consumer may miss what was in its stream at the backup's instant."""


async def mark_in_flight(
    stores: Sequence[ServiceStore],
    consumers: Mapping[str, frozenset[str]],
    *,
    since: datetime,
) -> Replayed:
    """Mark unpublished every outbox row a consumer of its type had not applied.

    `consumers`: each consuming service and the event types it handles; only
    events that occurred after `since` (the bus's retention before the backup:
    older ones could not have been in flight) are looked at.
    """
    # Counted before marking: the rows marked below are counted as in flight, not twice.
    unpublished = sum([await _unpublished(source) for source in stores])
    in_flight = 0
    uncompared: list[str] = []
    by_name = {s.service: s for s in stores}
    for source in stores:
        for consumer, types in consumers.items():
            target = by_name.get(consumer)
            if target is None or not types:
                continue
            if source.is_sqlite and target.is_sqlite:
                in_flight += await asyncio.to_thread(_sqlite_mark, source, target, types, since)
            elif _same_postgres(source, target):
                in_flight += await _postgres_mark(source, target, types, since)
            else:  # services given databases of their own: no query spans both
                uncompared.append(f"{source.service} -> {consumer}")
    return Replayed(in_flight=in_flight, unpublished=unpublished, uncompared=uncompared)


def _same_postgres(a: ServiceStore, b: ServiceStore) -> bool:
    return (
        not a.is_sqlite
        and not b.is_sqlite
        and make_url(a.url).set(drivername="postgresql")
        == make_url(b.url).set(drivername="postgresql")
    )


def _sqlite_mark(
    source: ServiceStore, target: ServiceStore, types: frozenset[str], since: datetime
) -> int:
    marks = ",".join("?" for _ in types)
    with closing(sqlite3.connect(source.path, timeout=60, isolation_level=None)) as db:
        if source.path != target.path:
            db.execute("ATTACH DATABASE ? AS consumer", (str(target.path),))
            inbox = "consumer.inbox"
        else:
            inbox = "main.inbox"
        cursor = db.execute(
            f"UPDATE main.outbox SET published_at = NULL "  # noqa: S608 (fixed names)
            f"WHERE published_at IS NOT NULL AND type IN ({marks}) "
            "AND julianday(occurred_at) >= julianday(?) "
            f"AND NOT EXISTS (SELECT 1 FROM {inbox} AS i "
            "WHERE i.consumer = ? AND i.event_id = main.outbox.event_id)",
            (*sorted(types), since.isoformat(), target.service),
        )
        return int(cursor.rowcount)


async def _connect(store: ServiceStore) -> Any:
    url = make_url(store.url).set(drivername="postgresql")
    return await asyncpg.connect(url.render_as_string(hide_password=False), timeout=15)


async def _postgres_mark(
    source: ServiceStore, target: ServiceStore, types: frozenset[str], since: datetime
) -> int:
    conn = await _connect(source)
    try:
        status = await conn.execute(
            f'UPDATE "{source.schema}".outbox AS o SET published_at = NULL '  # noqa: S608
            "WHERE o.published_at IS NOT NULL AND o.type = ANY($1::text[]) "
            "AND o.occurred_at >= $2 "
            f'AND NOT EXISTS (SELECT 1 FROM "{target.schema}".inbox AS i '
            "WHERE i.consumer = $3 AND i.event_id = o.event_id)",
            sorted(types),
            since,
            target.service,
        )
    finally:
        await conn.close()
    return int(str(status).rsplit(" ", 1)[-1])


async def _unpublished(store: ServiceStore) -> int:
    if store.is_sqlite:

        def count() -> int:
            with closing(sqlite3.connect(store.path)) as db:
                row = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                return int(row.fetchone()[0])

        return await asyncio.to_thread(count)
    conn = await _connect(store)
    try:
        return int(
            await conn.fetchval(
                f'SELECT count(*) FROM "{store.schema}".outbox WHERE published_at IS NULL'  # noqa: S608
            )
        )
    finally:
        await conn.close()


def retention_before(moment: datetime, days: float) -> datetime:
    return moment - timedelta(days=days)


async def delete_streams(settings: Settings, sources: Sequence[str]) -> list[str]:
    """Delete the deployment's JetStream streams (none in the embedded topology)."""
    bus = create_bus(settings)
    if not isinstance(bus, JetStreamBus):
        return []
    await bus.connect()
    try:
        await bus.delete_streams(sources)
    finally:
        await bus.close()
    return [bus.stream_name(source) for source in [*sources, DEADLETTER]]
