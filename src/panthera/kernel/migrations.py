"""Alembic, run per service against that service's own database and version table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from panthera.kernel.database import Database


def _config(conn: Connection, script_location: Path, service: str, schema: str | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = conn
    cfg.attributes["version_table"] = f"{service}_alembic_version"
    cfg.attributes["version_table_schema"] = schema
    return cfg


async def upgrade(
    db: Database, script_location: Path, service: str, revision: str = "head"
) -> None:
    """Bring a service's database to `revision` (normally the newest)."""
    await db.prepare()
    async with db.engine.begin() as conn:
        if db.schema is not None:
            # Replicas starting together must not run the same migration twice.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": db.schema}
            )
        await conn.run_sync(
            lambda sync: command.upgrade(
                _config(sync, script_location, service, db.schema), revision
            )
        )


async def downgrade(db: Database, script_location: Path, service: str, revision: str) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(
            lambda sync: command.downgrade(
                _config(sync, script_location, service, db.schema), revision
            )
        )


def run_env() -> None:
    """The body of every service's `migrations/env.py`: online mode on a given connection."""
    attributes: dict[str, Any] = context.config.attributes
    connection: Connection = attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=attributes["version_table"],
        version_table_schema=attributes["version_table_schema"],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
