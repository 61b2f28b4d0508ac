"""The users migrations go up and down cleanly on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from panthera.app import create_platform
from panthera.kernel import migrations
from panthera.kernel.database import Database
from panthera.kernel.settings import Settings

TABLES = {"users", "refresh_tokens", "outbox", "inbox"}


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names(db.schema))
    return set(names)


async def test_upgrade_downgrade_upgrade(settings: Settings) -> None:
    host = create_platform(settings, services=["users"]).hosts["users"]
    db, location = host.db, host.spec.migrations
    try:
        await migrations.upgrade(db, location, "users")
        assert await _tables(db) >= TABLES
        await migrations.downgrade(db, location, "users", "base")
        assert not TABLES & await _tables(db)
        await migrations.upgrade(db, location, "users")
        await migrations.upgrade(db, location, "users")  # idempotent on restart
        assert await _tables(db) >= TABLES
    finally:
        await db.dispose()
