"""The store-backup port, and its adapters for what a deployment keeps today.

A `StoreBackup` copies one kind of store into a backup's folder (`dump`),
says what a restore would overwrite (`conflicts`), and puts
a backup's copy back (`restore`). `panthera.ops.backup` runs every store the
deployment has; a new kind of store joins by implementing these three methods
and being listed in `backup.stores_of` (the DynamoDB notification store as a
scan written to JSON lines, the product media as a copy of the objects).

- `SqliteStores`: the embedded topology's one file per service, copied by
  SQLite's online backup API while every file's write lock is held, so all
  services are captured at one instant (writers wait for the copy).
- `PostgresStores`: every service schema of one database, each dumped by
  `pg_dump` from one exported snapshot, so a saga in flight is captured at
  one instant across services; restored by `pg_restore`.
- `SigningKey`: the users service's Ed25519 key file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL, make_url

from panthera.ops.manifest import StoreEntry, describe_file


class BackupError(Exception):
    """A backup or restore that cannot proceed, with a message a person can act on."""


class StoreBackup(Protocol):
    name: str
    """The key of this store's entry in the manifest (e.g. `sqlite`, `signing-key`)."""

    async def dump(self, into: Path) -> StoreEntry:
        """Copy the store into files under `into`; the entry lists them with their facts."""

    async def conflicts(self, entry: StoreEntry, root: Path) -> list[str]:
        """What restoring `entry` would overwrite, one line each; empty when nothing."""

    async def restore(self, entry: StoreEntry, root: Path) -> list[str]:
        """Replace the store's content with the backup's (files under `root`); what was done."""


@dataclass(frozen=True)
class ServiceStore:
    """Where one service keeps its tables, and where its migrations are."""

    service: str
    url: str
    schema: str | None
    migrations: Path

    @property
    def version_table(self) -> str:
        return f"{self.service}_alembic_version"

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.url).get_backend_name() == "sqlite"

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return Path(make_url(self.url).database or "")


def taken_at(entry: StoreEntry) -> datetime | None:
    value = entry.facts.get("takenAt")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


# -- SQLite ------------------------------------------------------------------


class SqliteStores:
    name = "sqlite"

    def __init__(self, stores: Sequence[ServiceStore]) -> None:
        self.stores = list(stores)

    async def dump(self, into: Path) -> StoreEntry:
        missing = [s.service for s in self.stores if not s.path.is_file()]
        if missing:
            raise BackupError(
                f"no database for {', '.join(missing)} at "
                f"{', '.join(str(s.path) for s in self.stores if s.service in missing)}: "
                "is --data-dir a deployment's data directory?"
            )
        moment = await asyncio.to_thread(_copy_at_one_instant, self.stores, into)
        files = []
        for store in self.stores:
            relative = f"sqlite/{store.service}.sqlite"
            revision = await asyncio.to_thread(_sqlite_revision, into / relative, store)
            files.append(describe_file(into, relative, service=store.service, revision=revision))
        return StoreEntry(
            facts={"takenAt": moment.isoformat(), "sqlite": sqlite3.sqlite_version}, files=files
        )

    async def conflicts(self, entry: StoreEntry, root: Path) -> list[str]:
        found = []
        for store in self.stores:
            if store.path.is_file():
                tables = await asyncio.to_thread(_sqlite_tables_with_rows, store)
                if tables:
                    found.append(f"{store.service}: rows in {', '.join(tables)} ({store.path})")
        return found

    async def restore(self, entry: StoreEntry, root: Path) -> list[str]:
        by_service = {f.service: f for f in entry.files}
        done = []
        for store in self.stores:
            file = by_service.get(store.service)
            if file is None:
                raise BackupError(f"the backup holds no database of {store.service}")
            store.path.parent.mkdir(parents=True, exist_ok=True)
            staged = store.path.with_name(store.path.name + ".restoring")
            shutil.copyfile(root / file.path, staged)
            # The old file's write-ahead log must not be replayed onto the restored one.
            for stale in (store.path, *(Path(f"{store.path}{s}") for s in ("-wal", "-shm"))):
                stale.unlink(missing_ok=True)
            staged.replace(store.path)
            done.append(f"{store.service}: {store.path} (revision {file.revision})")
        return done


def _copy_at_one_instant(stores: Sequence[ServiceStore], into: Path) -> datetime:
    """Hold every file's write lock (so no service commits), then copy each one."""
    (into / "sqlite").mkdir(parents=True, exist_ok=True)
    locks: list[sqlite3.Connection] = []
    try:
        for store in stores:  # always in the same order: two backups never deadlock
            lock = sqlite3.connect(store.path, timeout=60, isolation_level=None)
            locks.append(lock)
            lock.execute("BEGIN IMMEDIATE")
        moment = datetime.now(UTC)
        for store in stores:
            target = into / "sqlite" / f"{store.service}.sqlite"
            with (
                closing(sqlite3.connect(store.path, timeout=60)) as source,
                closing(sqlite3.connect(target)) as copy,
            ):
                source.backup(copy)
            target.chmod(0o600)
        return moment
    finally:
        for lock in locks:
            lock.rollback()
            lock.close()


def _sqlite_revision(path: Path, store: ServiceStore) -> str | None:
    with closing(sqlite3.connect(path)) as db:
        try:
            row = db.execute(f'SELECT version_num FROM "{store.version_table}"').fetchone()  # noqa: S608 (our table name)
        except sqlite3.OperationalError:
            return None
        return str(row[0]) if row else None


def _sqlite_tables_with_rows(store: ServiceStore) -> list[str]:
    with closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, timeout=30)) as db:
        names = [
            str(row[0])
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
            )
        ]
        # FTS shadow tables mirror `products`; the version table is not data.
        names = [n for n in names if n != store.version_table and "_fts_" not in n]
        return [n for n in names if db.execute(f'SELECT 1 FROM "{n}" LIMIT 1').fetchone()]  # noqa: S608


# -- PostgreSQL --------------------------------------------------------------


@dataclass(frozen=True)
class PgTools:
    """`pg_dump` and `pg_restore`, from PATH or a given folder."""

    bin_dir: Path | None = None

    def path(self, tool: str) -> str:
        found = shutil.which(tool, path=str(self.bin_dir) if self.bin_dir else None)
        if found is None:
            raise BackupError(
                f"{tool} was not found; install PostgreSQL's client tools (Debian: "
                "postgresql-client) or set PANTHERA_BACKUP__PG_BIN_DIR"
            )
        return found

    async def major(self, tool: str) -> int:
        output = await _run([self.path(tool), "--version"])
        match = re.search(r"(\d+)(?:\.\d+)?", output)
        if match is None:
            raise BackupError(f"cannot read the version of {tool} from {output!r}")
        return int(match.group(1))


async def _run(args: list[str], env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(
            f"{Path(args[0]).name} failed (exit {process.returncode}): "
            f"{err.decode(errors='replace').strip()[-2000:]}"
        )
    return out.decode(errors="replace")


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI for the tools, and the environment carrying its password (not argv)."""
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, ({"PGPASSWORD": str(url.password)} if url.password else {})


class PostgresStores:
    """Every service schema of one PostgreSQL database."""

    name = "postgresql"

    def __init__(self, stores: Sequence[ServiceStore], tools: PgTools) -> None:
        urls = {make_url(s.url).set(drivername="postgresql") for s in stores}
        if len(urls) != 1:
            raise ValueError("PostgresStores takes the services of one database")
        self.url = urls.pop()
        self.stores = list(stores)
        self.tools = tools

    async def _connect(self) -> Any:
        dsn = self.url.render_as_string(hide_password=False)
        try:
            return await asyncpg.connect(dsn, timeout=15)
        except (OSError, asyncpg.PostgresError) as exc:
            raise BackupError(f"cannot reach PostgreSQL at {self._where}: {exc}") from exc

    @property
    def _where(self) -> str:
        return f"{self.url.host or 'localhost'}:{self.url.port or 5432}/{self.url.database}"

    async def dump(self, into: Path) -> StoreEntry:
        (into / "postgresql").mkdir(parents=True, exist_ok=True)
        dump_major = await self.tools.major("pg_dump")
        conn = await self._connect()
        try:
            server = int(await conn.fetchval("SHOW server_version_num"))
            if dump_major < server // 10000:
                raise BackupError(
                    f"pg_dump {dump_major} cannot dump PostgreSQL {server // 10000}: install "
                    f"postgresql-client-{server // 10000} or set PANTHERA_BACKUP__PG_BIN_DIR"
                )
            # The snapshot lives as long as this transaction: every pg_dump below reads
            # the database as it was at this one instant.
            transaction = conn.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            moment: datetime = await conn.fetchval("SELECT transaction_timestamp()")
            revisions = {s.service: await self._revision(conn, s) for s in self.stores}
            extensions = [
                {"name": row[0], "schema": row[1]}
                for row in await conn.fetch(
                    "SELECT e.extname, n.nspname FROM pg_extension e "
                    "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'"
                )
            ]
            uri, env = _libpq(self.url)
            pg_dump = self.tools.path("pg_dump")
            await asyncio.gather(
                *(
                    _run(
                        [
                            pg_dump,
                            f"--dbname={uri}",
                            f"--snapshot={snapshot}",
                            f'--schema="{store.schema}"',
                            "--format=custom",
                            "--no-password",
                            f"--file={into / 'postgresql' / f'{store.service}.dump'}",
                        ],
                        env,
                    )
                    for store in self.stores
                )
            )
            await transaction.rollback()
        finally:
            await conn.close()
        files = []
        for store in self.stores:
            relative = f"postgresql/{store.service}.dump"
            (into / relative).chmod(0o600)
            files.append(
                describe_file(
                    into,
                    relative,
                    service=store.service,
                    dbSchema=store.schema,
                    revision=revisions[store.service],
                )
            )
        return StoreEntry(
            facts={
                "takenAt": moment.astimezone(UTC).isoformat(),
                "snapshot": snapshot,
                "serverVersion": server,
                "pgDump": dump_major,
                "extensions": extensions,
            },
            files=files,
        )

    async def _revision(self, conn: Any, store: ServiceStore) -> str | None:
        exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", store.schema)
        if not exists:
            raise BackupError(
                f"no schema {store.schema} ({store.service}) in {self._where}: is this the "
                "deployment (PANTHERA_DATABASE_URL, PANTHERA_SCHEMA_PREFIX)?"
            )
        table = await conn.fetchval(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
            store.schema,
            store.version_table,
        )
        if not table:
            return None
        value = await conn.fetchval(
            f'SELECT version_num FROM "{store.schema}"."{store.version_table}"'  # noqa: S608
        )
        return str(value) if value is not None else None

    async def conflicts(self, entry: StoreEntry, root: Path) -> list[str]:
        conn = await self._connect()
        found = []
        try:
            for store in self.stores:
                tables = await conn.fetch(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name <> $2",
                    store.schema,
                    store.version_table,
                )
                full = [
                    str(row[0])
                    for row in tables
                    if await conn.fetchval(
                        f'SELECT EXISTS (SELECT 1 FROM "{store.schema}"."{row[0]}")'  # noqa: S608
                    )
                ]
                if full:
                    found.append(f"{store.service}: rows in {', '.join(full)} ({store.schema})")
        finally:
            await conn.close()
        return found

    async def restore(self, entry: StoreEntry, root: Path) -> list[str]:
        by_service = {f.service: f for f in entry.files}
        for store in self.stores:
            if store.service not in by_service:
                raise BackupError(f"the backup holds no dump of {store.service}")
        await self.tools.major("pg_restore")  # found, before anything is dropped
        conn = await self._connect()
        try:
            renames = [
                (by_service[s.service].dbSchema, s.schema)
                for s in self.stores
                if by_service[s.service].dbSchema != s.schema
            ]
            for old, _new in renames:
                if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", old):
                    raise BackupError(
                        f"the backup's schema {old} exists in {self._where} and is not the "
                        "target: restore into another database, or drop it first"
                    )
            for extension in entry.facts.get("extensions", []):
                # A role without the privilege: the restore below says what fails without it.
                with contextlib.suppress(asyncpg.PostgresError):
                    await conn.execute(
                        f'CREATE EXTENSION IF NOT EXISTS "{extension["name"]}" '
                        f'WITH SCHEMA "{extension["schema"]}"'
                    )
            for store in self.stores:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{store.schema}" CASCADE')
        finally:
            await conn.close()
        uri, env = _libpq(self.url)
        pg_restore = self.tools.path("pg_restore")
        done = []
        for store in self.stores:
            file = by_service[store.service]
            await _run(
                [
                    pg_restore,
                    f"--dbname={uri}",
                    "--single-transaction",
                    "--exit-on-error",
                    "--no-owner",
                    "--no-privileges",
                    "--no-password",
                    str(root / file.path),
                ],
                env,
            )
            if file.dbSchema != store.schema:
                conn = await self._connect()
                try:
                    await conn.execute(f'ALTER SCHEMA "{file.dbSchema}" RENAME TO "{store.schema}"')
                finally:
                    await conn.close()
            done.append(f"{store.service}: schema {store.schema} (revision {file.revision})")
        return done


# -- the signing key ---------------------------------------------------------


class SigningKey:
    """The users service's private key: without it, every issued token is void."""

    name = "signing-key"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def dump(self, into: Path) -> StoreEntry:
        if not self.path.is_file():
            raise BackupError(
                f"no signing key at {self.path}: start the platform once, or set "
                "PANTHERA_JWT_PRIVATE_KEY_FILE to the deployment's key"
            )
        (into / "keys").mkdir(parents=True, exist_ok=True)
        copy = into / "keys" / "signing-key.pem"
        shutil.copyfile(self.path, copy)
        copy.chmod(0o600)
        return StoreEntry(facts={}, files=[describe_file(into, "keys/signing-key.pem")])

    async def conflicts(self, entry: StoreEntry, root: Path) -> list[str]:
        (file,) = entry.files
        if self.path.is_file() and self.path.read_bytes() != (root / file.path).read_bytes():
            return [f"another signing key at {self.path} (its tokens would stop working)"]
        return []

    async def restore(self, entry: StoreEntry, root: Path) -> list[str]:
        (file,) = entry.files
        source = (root / file.path).read_bytes()
        if self.path.is_file() and self.path.read_bytes() == source:
            return [f"signing key: {self.path} (unchanged)"]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.path.with_name(self.path.name + ".restoring")
        staged.unlink(missing_ok=True)
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(source)
        try:
            staged.replace(self.path)
        except OSError as exc:  # e.g. a read-only mounted secret
            staged.unlink(missing_ok=True)
            raise BackupError(f"cannot write the signing key to {self.path}: {exc}") from exc
        return [f"signing key: {self.path}"]
