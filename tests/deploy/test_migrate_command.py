"""`panthera migrate`: the one-off migration a Kubernetes Job runs before a rollout."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from panthera.testing.processes import panthera
from tests.conftest import POSTGRES_URL, drop_schemas

SERVICES = ("users", "catalog", "orders", "notifications")


async def versions(prefix: str) -> dict[str, str]:
    """Each service's migration version, read from its own version table."""
    engine = create_async_engine(POSTGRES_URL)
    found = {}
    try:
        async with engine.connect() as conn:
            for name in SERVICES:
                table = f'"{prefix}{name}"."{name}_alembic_version"'
                exists = await conn.scalar(
                    sa.text("SELECT to_regclass(:t)"),
                    {"t": f"{prefix}{name}.{name}_alembic_version"},
                )
                if exists:
                    found[name] = str(
                        await conn.scalar(sa.text(f"SELECT version_num FROM {table}"))  # noqa: S608 (our names)
                    )
    finally:
        await engine.dispose()
    return found


@pytest.mark.integration
def test_migrates_every_service_on_postgresql_and_again_changes_nothing(tmp_path: Path) -> None:
    prefix = f"m{uuid.uuid4().hex[:8]}_"
    env = {
        "PANTHERA_DATABASE_URL": POSTGRES_URL,
        "PANTHERA_SCHEMA_PREFIX": prefix,
        "PANTHERA_DATA_DIR": str(tmp_path),
    }
    try:
        first = panthera("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.split() == [word for s in SERVICES for word in (f"{s}:", "migrated")]
        migrated = asyncio.run(versions(prefix))
        assert set(migrated) == set(SERVICES)
        again = panthera("migrate", "orders", env=env)
        assert again.returncode == 0, again.stderr
        assert asyncio.run(versions(prefix)) == migrated
    finally:
        asyncio.run(drop_schemas(prefix))


def test_an_unknown_service_is_refused_before_anything_is_migrated(tmp_path: Path) -> None:
    answer = panthera("migrate", "users", "payments", env={"PANTHERA_DATA_DIR": str(tmp_path)})
    assert answer.returncode == 2
    assert "unknown services: payments" in answer.stderr
    assert not (tmp_path / "users.db").exists()
