"""Database engines and the unit of work, one code path for SQLite and PostgreSQL.

A service owns one database: a SQLite file in the embedded topology, or a
schema of a PostgreSQL database in the distributed one. Its tables are created
without a schema name; on PostgreSQL the connection's `search_path` points at
the service's schema, so the same models and migrations serve both.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from sqlalchemy import DateTime, Dialect, TypeDecorator, event, exc, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Counted on the client, per database (a service's schema, or its SQLite file): what a
# unit of work costs in round trips, and what an idle service still sends.
STATEMENTS = Counter(
    "panthera_db_statements_total", "SQL statements sent to the database", ["database"]
)
TRANSACTIONS = Counter(
    "panthera_db_transactions_total",
    "Database transactions: commits and rollbacks, and each statement run in autocommit",
    ["database"],
)
DISCONNECTS = Counter(
    "panthera_db_disconnects_total",
    "Pooled connections found dead when used, discarded from the pool",
    ["database"],
)
# A connection that sat in the pool longer than this is pinged before use: rare under
# load, where connections return to work within milliseconds.
IDLE_PING_SECONDS = 30.0
# A pooled connection is replaced after this long, so that servers and proxies that
# close idle connections rarely hand us a dead one (no ping on every checkout instead).
POOL_RECYCLE_SECONDS = 300


class Database:
    """One service's engine and session factory."""

    def __init__(self, url: str, *, schema: str | None = None, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.schema = None if self.is_sqlite else schema
        if self.schema is not None and not _SCHEMA_NAME.match(self.schema):
            raise ValueError(f"invalid schema name {self.schema!r}")
        self.name = self.schema or Path(self.url.database or "memory").stem
        """The label of this database's metrics."""
        self.engine = self._create_engine(pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process take turns on
        # an asyncio lock (first come, first served) instead of on SQLite's busy
        # handler, which sleeps up to 100 ms per retry and starves under load;
        # BEGIN IMMEDIATE still guards against other processes. Reads need no
        # turn: WAL lets them run beside the writer on their own engine.
        self._writer_turn = asyncio.Lock() if self.is_sqlite else None
        # PostgreSQL reads run in autocommit on the same pool: no BEGIN/ROLLBACK round
        # trips, and every statement sees what was committed before it started.
        self.read_engine = (
            self._create_engine(pool_size, readonly=True)
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    def _create_engine(self, pool_size: int, *, readonly: bool = False) -> AsyncEngine:
        if self.is_sqlite:
            if self.url.database:
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(self.url, connect_args={"timeout": 30})
            _configure_sqlite(engine, begin="BEGIN" if readonly else "BEGIN IMMEDIATE")
            _count_statements(engine, self.name)
            return engine
        connect_args: dict[str, Any] = {}
        if self.schema is not None:
            connect_args["server_settings"] = {"search_path": self.schema}
        engine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            # No pre-ping: it cost an empty BEGIN/ROLLBACK pair per checkout. A connection
            # that died in the pool fails its first statement instead; SQLAlchemy then
            # discards it and every other connection as old as it (see `_on_disconnect`),
            # so the next unit of work gets a fresh one.
            pool_pre_ping=False,
            pool_recycle=POOL_RECYCLE_SECONDS,
            connect_args=connect_args,
        )
        _count_statements(engine, self.name)
        _check_out_live_connections(engine, self.name)
        return engine

    async def prepare(self) -> None:
        """Create the service's schema if the database needs one."""
        if self.schema is None:
            return
        async with self.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))

    async def drop_schema(self) -> None:
        """Remove the service's schema and everything in it (tests and tear-down)."""
        if self.schema is None:
            return
        async with self.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))

    async def ping(self) -> None:
        # On the read engine: in autocommit on PostgreSQL, one round trip, no BEGIN/ROLLBACK.
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on any error."""
        if self._writer_turn is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._writer_turn, self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only, never waiting for writers: on SQLite one snapshot
        (a deferred transaction on its own connection), on PostgreSQL each statement
        on its own (autocommit)."""
        # Closing the session ends (rolls back) the transaction it began on first use.
        async with self.read_sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.is_sqlite:
            await self.read_engine.dispose()


def _count_statements(engine: AsyncEngine, name: str) -> None:
    statements = STATEMENTS.labels(name)
    transactions = TRANSACTIONS.labels(name)
    disconnects = DISCONNECTS.labels(name)

    def autocommit(conn: Any) -> bool:
        return bool(conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT")

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _on_statement(conn: Any, *_args: Any) -> None:
        statements.inc()
        if autocommit(conn):
            transactions.inc()

    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def _on_end(conn: Any) -> None:
        if not autocommit(conn):
            transactions.inc()

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if context.is_disconnect:
            # SQLAlchemy invalidates this connection and the pool's older ones; the
            # caller sees a clear DBAPIError (connection_invalidated) and may retry.
            disconnects.inc()


def _check_out_live_connections(engine: AsyncEngine, name: str) -> None:
    """Hand out no connection known to be dead, at almost no cost.

    asyncpg notices a server-side close (a terminated backend, a restarted server) as
    soon as the event loop reads it, so asking costs no round trip; a connection idle
    for long is pinged, since a silent network may have dropped it unannounced. Raising
    `DisconnectionError` makes the pool discard the connection and check out another.
    """
    disconnects = DISCONNECTS.labels(name)
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        is_closed = getattr(record.driver_connection, "is_closed", None)
        if is_closed is not None and is_closed():
            disconnects.inc()
            raise exc.DisconnectionError("the pooled connection was closed by the server")
        checked_in = record.info.get("checked_in")
        if checked_in is None or time.monotonic() - checked_in < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            disconnects.inc()
            raise exc.DisconnectionError(f"the pooled connection is dead: {error}") from error


SQLITE_MMAP_BYTES = 256 * 1024 * 1024
"""At most this much of a SQLite file is memory-mapped (address space, not memory)."""


def _configure_sqlite(engine: AsyncEngine, *, begin: str) -> None:
    # SQLite upgrades a read lock to a write lock lazily and then fails with
    # SQLITE_BUSY instead of waiting; writers take the write lock when their
    # transaction begins (BEGIN IMMEDIATE), readers never ask for it.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Pages read through a memory map of the file (shared by every connection, held
        # by the OS page cache) instead of being copied into each connection's small
        # default cache: searches and listings at 100k products read many pages.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)
