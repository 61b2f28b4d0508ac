"""Remove what one run left on a shared PostgreSQL and NATS: its schemas and streams.

A run names everything it creates with its own prefix (`PANTHERA_SCHEMA_PREFIX`,
`PANTHERA_EVENTS__STREAM_PREFIX`), so removing a run touches nobody else's data.
"""

from __future__ import annotations

import asyncio
import os

import nats
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

# The machine's PostgreSQL and NATS, which tests share (each run under its own prefixes).
POSTGRES_URL = os.environ.get(
    "PANTHERA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
NATS_URL = os.environ.get("PANTHERA_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def drop_schemas(prefix: str, database_url: str = POSTGRES_URL) -> list[str]:
    """Drop every schema whose name starts with `prefix`; the names dropped."""
    engine = create_async_engine(_async_url(database_url))
    try:
        async with engine.begin() as conn:
            names = list(
                await conn.scalars(
                    sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                    {"p": prefix.replace("_", r"\_") + "%"},
                )
            )
            for name in names:
                await conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    finally:
        await engine.dispose()
    return names


async def streams(prefix: str, nats_url: str = NATS_URL) -> set[str]:
    """The JetStream streams whose names start with `prefix`."""
    client = await nats.connect(nats_url)
    try:
        found = await client.jetstream().streams_info()
    finally:
        await client.close()
    return {i.config.name for i in found if i.config.name and i.config.name.startswith(prefix)}


async def delete_streams(prefix: str, nats_url: str = NATS_URL) -> list[str]:
    """Delete every JetStream stream whose name starts with `prefix`; the names deleted."""
    client = await nats.connect(nats_url)
    deleted: list[str] = []
    try:
        stream_api = client.jetstream()
        for info in await stream_api.streams_info():
            name = info.config.name
            if name and name.startswith(prefix):
                await stream_api.delete_stream(name)
                deleted.append(name)
    finally:
        await client.close()
    return deleted


async def remove_run_async(
    *,
    schema_prefix: str,
    stream_prefix: str,
    database_url: str = POSTGRES_URL,
    nats_url: str = NATS_URL,
) -> None:
    await drop_schemas(schema_prefix, database_url)
    await delete_streams(stream_prefix, nats_url)


def remove_run(run: str, *, database_url: str = POSTGRES_URL) -> None:
    """Drop the schemas (`<run>_*`) and JetStream streams (`<RUN>_*`) of a run whose
    configuration used `run` as schema and stream prefix."""
    asyncio.run(
        remove_run_async(
            schema_prefix=f"{run}_", stream_prefix=f"{run.upper()}_", database_url=database_url
        )
    )
