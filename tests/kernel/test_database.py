"""Pooled PostgreSQL connections without a ping on every checkout: a connection the server
dropped is discarded, the caller's work succeeds or fails clearly, and the pool recovers.

Each test kills only the backend of its own pool (found by `pg_backend_pid()` on that
connection, in a schema of its own), from a private connection; nothing else is touched.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from panthera.kernel.database import Database
from panthera.testing.cleanup import POSTGRES_URL

pytestmark = pytest.mark.integration


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    database = Database(POSTGRES_URL, schema=f"kdb_{uuid.uuid4().hex[:10]}", pool_size=1)
    await database.prepare()
    try:
        yield database
    finally:
        await database.drop_schema()
        await database.dispose()


async def backend_of_the_pooled_connection(db: Database) -> int:
    async with db.transaction() as session:
        pid = await session.scalar(sa.text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def terminate(pid: int) -> None:
    engine = create_async_engine(POSTGRES_URL, poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await engine.dispose()


def counted(metric: str, db: Database) -> float:
    return REGISTRY.get_sample_value(f"{metric}_total", {"database": db.name}) or 0.0


async def test_a_connection_dropped_while_pooled_is_replaced_before_use(db: Database) -> None:
    pid = await backend_of_the_pooled_connection(db)
    disconnects = counted("panthera_db_disconnects", db)
    await terminate(pid)
    await asyncio.sleep(0.2)  # the loop reads the server's goodbye on the idle socket
    for unit_of_work in (db.transaction, db.read):
        async with unit_of_work() as session:
            assert await session.scalar(sa.text("SELECT pg_backend_pid()")) != pid
    assert counted("panthera_db_disconnects", db) == disconnects + 1


async def test_a_connection_dropped_in_use_fails_clearly_and_the_pool_recovers(
    db: Database,
) -> None:
    with pytest.raises(DBAPIError) as failed:
        async with db.transaction() as session:
            pid = await session.scalar(sa.text("SELECT pg_backend_pid()"))
            assert isinstance(pid, int)
            await terminate(pid)
            await session.execute(sa.text("SELECT 1"))
    assert failed.value.connection_invalidated
    async with db.transaction() as session:
        assert await session.scalar(sa.text("SELECT pg_backend_pid()")) != pid
    await db.ping()


async def test_statements_and_transactions_are_counted(db: Database) -> None:
    statements = counted("panthera_db_statements", db)
    transactions = counted("panthera_db_transactions", db)
    async with db.transaction() as session:
        await session.execute(sa.text("SELECT 1"))
        await session.execute(sa.text("SELECT 2"))
    async with db.read() as session:  # autocommit: each statement its own transaction
        await session.execute(sa.text("SELECT 3"))
    assert counted("panthera_db_statements", db) == statements + 3
    assert counted("panthera_db_transactions", db) == transactions + 2
