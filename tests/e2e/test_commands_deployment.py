"""`panthera seed` and `panthera admin create` act on the deployment they are pointed at:
the one `up` recorded in its data directory, or the one the environment alone describes
(a container, a Kubernetes job); where there is none, they refuse and name the store."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from pathlib import Path

import httpx
import pytest

from panthera.testing.cleanup import drop_schemas
from panthera.testing.processes import panthera
from panthera.testing.shop import ADMIN_PASSWORD, Platform, platform

pytestmark = pytest.mark.e2e

ADMIN = ["--email", "second@example.com", "--password", "Second-Passw0rd"]


def products(base: str) -> int:
    total: int = httpx.get(f"{base}/v1/products", params={"limit": 1}, timeout=30).json()["total"]
    return total


def logs_in(base: str, email: str, password: str) -> bool:
    body = {"email": email, "password": password}
    return httpx.post(f"{base}/v1/auth/login", json=body, timeout=30).status_code == 200


def test_embedded_commands_find_the_data_dir_and_refuse_an_empty_one(tmp_path: Path) -> None:
    with platform(tmp_path, "embedded") as shop:
        seeded = panthera("seed", "--products", "7", "--data-dir", str(shop.data_dir))
        assert seeded.returncode == 0, seeded.stderr
        assert str((shop.data_dir / "catalog.db").resolve()) in seeded.stdout
        assert products(shop.base) == 7
        made = panthera("admin", "create", *ADMIN, "--data-dir", str(shop.data_dir))
        assert made.returncode == 0, made.stderr
        assert "users.db" in made.stdout
        assert logs_in(shop.base, "second@example.com", "Second-Passw0rd")

    elsewhere = tmp_path / "nothing-here"
    for command in (["seed", "--products", "3"], ["admin", "create", *ADMIN]):
        refused = panthera(*command, "--data-dir", str(elsewhere))
        assert refused.returncode == 1
        assert "no deployment found" in refused.stderr
        assert str(elsewhere.resolve()) in refused.stderr  # it names what it would create
        assert not elsewhere.exists() or not any(elsewhere.glob("*.db"))


@pytest.mark.integration
def test_distributed_commands_act_on_postgresql_by_record_or_environment(
    tmp_path: Path,
) -> None:
    with platform(tmp_path, "distributed") as shop:
        check_recorded(shop)
        # As a Kubernetes job: the deployment's environment, no data directory of `up`'s.
        recorded = json.loads((shop.data_dir / "deployment.json").read_text())["environment"]
        job = {name: recorded[name] for name in ("PANTHERA_DATABASE_URL", "PANTHERA_SCHEMA_PREFIX")}
        job["PANTHERA_DATA_DIR"] = str(tmp_path / "job")
        made = panthera("admin", "create", *ADMIN, env=job)
        assert made.returncode == 0, made.stderr
        assert f'schema "{job["PANTHERA_SCHEMA_PREFIX"]}users" of PostgreSQL' in made.stdout
        assert logs_in(shop.base, "second@example.com", "Second-Passw0rd")

    stranger = f"nobody{uuid.uuid4().hex[:6]}_"
    refused = panthera("seed", env={**job, "PANTHERA_SCHEMA_PREFIX": stranger})
    assert refused.returncode == 1
    assert f'schema "{stranger}catalog" of PostgreSQL 127.0.0.1:5432/test' in refused.stderr
    assert asyncio.run(drop_schemas(stranger)) == []  # nothing was created


def check_recorded(shop: Platform) -> None:
    """`up` recorded its configuration, without secrets; `seed` pointed at its data
    directory writes to the deployment's PostgreSQL, which the edge then serves."""
    record = shop.data_dir / "deployment.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert ADMIN_PASSWORD not in record.read_text()
    seeded = panthera("seed", "--products", "12", "--data-dir", str(shop.data_dir))
    assert seeded.returncode == 0, seeded.stderr
    assert "of PostgreSQL 127.0.0.1:5432/test" in seeded.stdout
    assert "deployment.json" in seeded.stdout
    assert products(shop.base) == 12
