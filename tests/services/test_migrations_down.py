"""Every service's migrations go down, one revision at a time, and up again to the same schema.

On SQLite and on PostgreSQL (a schema per service, as deployed). A downgrade
that leaves a table, a column or an index behind, or cannot run at all, fails
here, for services added later too.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from panthera.app import SERVICES, create_platform
from panthera.kernel import migrations
from panthera.kernel.database import Database
from panthera.kernel.settings import Settings

Shape = dict[str, Any]


async def shape(db: Database, service: str) -> Shape:
    """Tables with their columns and indexes, the version table left out."""

    def read(sync: sa.Connection) -> Shape:
        inspector = sa.inspect(sync)
        found: Shape = {}
        for table in inspector.get_table_names(db.schema):
            if table.endswith("alembic_version"):
                continue
            columns = {c["name"]: str(c["type"]) for c in inspector.get_columns(table, db.schema)}
            indexes = sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table, db.schema)
            )
            found[table] = (columns, indexes)
        return found

    async with db.engine.connect() as conn:
        with warnings.catch_warnings():
            # SQLite cannot reflect expression indexes; PostgreSQL compares them too.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
            return await conn.run_sync(read)


def revisions(location: str) -> list[str]:
    """From the newest to the first."""
    config = Config()
    config.set_main_option("script_location", location)
    return [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_down_to_base_step_by_step_and_up_again(settings: Settings, service: str) -> None:
    host = create_platform(settings, services=[service]).hosts[service]
    db, location = host.db, host.spec.migrations
    steps = revisions(str(location))
    assert steps, f"{service} has no migrations"
    try:
        await migrations.upgrade(db, location, service)
        at_head = await shape(db, service)
        assert at_head, f"{service}'s migrations created no table"
        # Each revision's downgrade runs on its own, newest first.
        for below in [*steps[1:], "base"]:
            await migrations.downgrade(db, location, service, below)
        assert await shape(db, service) == {}, f"{service}: tables left after going down"
        await migrations.upgrade(db, location, service)
        assert await shape(db, service) == at_head
    finally:
        await db.dispose()
