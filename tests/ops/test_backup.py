"""Backups of an in-process platform, on SQLite files and on the machine's PostgreSQL.

Each test builds a small shop through the public API, backs it up with
`panthera.ops.backup`, and restores it into the same deployment or another one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from panthera.app import SERVICES, Platform, create_platform
from panthera.kernel.settings import Settings
from panthera.ops import backup
from panthera.ops.manifest import MANIFEST
from panthera.ops.stores import PgTools
from panthera.testing.cleanup import delete_streams, streams
from tests.conftest import (
    GENEROUS_GATEWAY,
    POSTGRES_URL,
    STRONG_PASSWORD,
    Account,
    drop_schemas,
    eventually,
    fast_service_settings,
    log_in,
    sign_up,
)

ADMIN = {"admin_email": "root@example.com", "admin_password": STRONG_PASSWORD}
ADDRESS = {
    "name": "A. Liddell",
    "line1": "1 Hole",
    "city": "Oxford",
    "postalCode": "OX1",
    "country": "GB",
}


def say(_line: str) -> None:
    pass


@asynccontextmanager
async def shop(settings: Settings) -> AsyncIterator[tuple[Platform, httpx.AsyncClient]]:
    platform = create_platform(
        settings.model_copy(update=ADMIN),
        service_settings=fast_service_settings(),
        gateway_settings=GENEROUS_GATEWAY,
    )
    async with platform.running():
        transport = httpx.ASGITransport(app=platform.app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield platform, http


async def fill(http: httpx.AsyncClient) -> dict[str, Any]:
    """A customer, a product and a confirmed order; what the API says about them."""
    admin = await log_in(http, ADMIN["admin_email"], ADMIN["admin_password"])
    alice = await sign_up(http, f"alice{uuid.uuid4().hex[:6]}")
    created = await http.post(
        "/v1/products",
        headers=admin.headers,
        json={
            "sku": f"S-{uuid.uuid4().hex[:8]}",
            "name": "Shoe",
            "description": "Light.",
            "price": 4200,
            "currency": "EUR",
            "stock": 5,
        },
    )
    assert created.status_code == 201, created.text
    product = created.json()["id"]
    placed = await http.post(
        "/v1/orders",
        headers={**alice.headers, "Idempotency-Key": uuid.uuid4().hex},
        json={
            "items": [{"productId": product, "quantity": 2}],
            "shippingAddress": ADDRESS,
            "payment": {"token": "tok_visa"},
        },
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    order = await decided(http, alice, order_id)
    assert order["status"] == "confirmed"

    async def settled() -> bool:  # the catalog has turned the reservation into a sale
        stock = (await http.get(f"/v1/products/{product}/stock")).json()
        return bool(stock["reserved"] == 0)

    await eventually(settled, timeout=30)
    return {"alice": alice, "order": order, "product": product, **await state(http, alice, product)}


async def decided(http: httpx.AsyncClient, who: Account, order_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        order: dict[str, Any] = (
            await http.get(f"/v1/orders/{order_id}", headers=who.headers)
        ).json()
        return None if order["status"] == "pending" else order

    result: dict[str, Any] = await eventually(probe, timeout=30)
    return result


async def state(http: httpx.AsyncClient, who: Account, product: str) -> dict[str, Any]:
    stock = (await http.get(f"/v1/products/{product}/stock")).json()
    orders = (await http.get("/v1/orders", headers=who.headers)).json()["orders"]
    return {"stock": stock, "orders": [(o["id"], o["status"], o["total"]) for o in orders]}


@pytest.fixture
def backups(tmp_path: Path) -> str:
    return str(tmp_path / "backups")


async def test_a_restore_brings_back_the_shop_as_it_was_at_the_backup(
    settings: Settings, backups: str
) -> None:
    deployment = backup.deployment_of(settings, SERVICES)
    async with shop(settings) as (_platform, http):
        before = await fill(http)
        manifest, ref, _ = await backup.create(deployment, to=backups, say=say)
        await sign_up(http, "late")  # after the backup: the restore forgets them

    assert set(manifest.revisions()) == set(SERVICES)
    assert all(manifest.revisions().values())
    assert {f.path for f in manifest.files()} >= {"keys/signing-key.pem"}
    with pytest.raises(backup.NotEmpty) as refused:
        await backup.restore(deployment, ref=ref, force=False, say=say)
    assert any(line.startswith("users:") for line in refused.value.conflicts)

    restored = await backup.restore(deployment, ref=ref, force=True, say=say)
    assert restored.manifest.id == manifest.id
    async with shop(settings) as (_platform, http):
        alice = await log_in(http, before["alice"].email, STRONG_PASSWORD)
        after = await state(http, alice, before["product"])
        assert after["orders"] == before["orders"]
        assert after["stock"] == before["stock"] == {**before["stock"], "available": 3}
        late = await http.post(
            "/v1/auth/login", json={"email": "late@example.com", "password": STRONG_PASSWORD}
        )
        assert late.status_code == 401


async def test_a_backup_restores_into_an_empty_deployment_elsewhere_without_force(
    settings: Settings, backups: str, tmp_path: Path
) -> None:
    async with shop(settings) as (_platform, http):
        before = await fill(http)
        _manifest, ref, _ = await backup.create(
            backup.deployment_of(settings, SERVICES), to=backups, say=say
        )
    # Another data directory and, on PostgreSQL, another schema prefix: the schemas are renamed.
    other = settings.model_copy(
        update={"data_dir": tmp_path / "elsewhere", "schema_prefix": f"r{uuid.uuid4().hex[:10]}_"}
    )
    target = backup.deployment_of(other, SERVICES)
    try:
        if settings.database_url:
            # pg_restore recreates the backup's schemas under their names before renaming them:
            # not beside the live ones, which it would clash with.
            with pytest.raises(backup.BackupError, match="exists"):
                await backup.restore(target, ref=ref, force=False, say=say)
            await drop_schemas(settings.schema_prefix)
        await backup.restore(target, ref=ref, force=False, say=say)
        async with shop(other) as (_platform, http):
            alice = await log_in(http, before["alice"].email, STRONG_PASSWORD)
            assert (await state(http, alice, before["product"]))["orders"] == before["orders"]
            # Tokens signed before the backup are still good: the key came back too.
            me = await http.get("/v1/users/me", headers=before["alice"].headers)
            assert me.status_code == 200, me.text
    finally:
        if other.database_url:
            await drop_schemas(other.schema_prefix)


async def test_a_damaged_or_unfinished_backup_is_refused_and_changes_nothing(
    settings: Settings, backups: str
) -> None:
    deployment = backup.deployment_of(settings, SERVICES)
    async with shop(settings) as (_platform, http):
        await fill(http)
        manifest, ref, _ = await backup.create(deployment, to=backups, say=say)
        await sign_up(http, "kept")
    damaged = Path(ref) / manifest.files()[0].path
    content = bytearray(damaged.read_bytes())
    content[len(content) // 2] ^= 0xFF
    damaged.write_bytes(bytes(content))
    with pytest.raises(backup.DamagedBackup, match="does not match its checksum"):
        await backup.restore(deployment, ref=ref, force=True, say=say)
    (Path(ref) / MANIFEST).unlink()
    with pytest.raises(backup.DamagedBackup, match="not a \\(complete\\) backup"):
        await backup.restore(deployment, ref=ref, force=True, say=say)
    _where, listed = await backup.list_backups(deployment, backups)
    assert listed == []
    async with shop(settings) as (_platform, http):
        await log_in(http, "kept@example.com", STRONG_PASSWORD)


async def test_a_backup_from_a_newer_version_is_refused(settings: Settings, backups: str) -> None:
    deployment = backup.deployment_of(settings, SERVICES)
    async with shop(settings):
        _manifest, ref, _ = await backup.create(deployment, to=backups, say=say)
    path = Path(ref) / MANIFEST
    data = json.loads(path.read_text())
    for entry in data["stores"].values():
        for file in entry["files"]:
            if file.get("service") == "orders":
                file["revision"] = "9999_from_the_future"
    path.write_text(json.dumps(data))
    with pytest.raises(backup.BackupError, match="9999_from_the_future"):
        await backup.restore(deployment, ref=ref, force=True, say=say)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_retention_keeps_the_newest_backups(settings: Settings, backups: str) -> None:
    deployment = backup.deployment_of(settings, SERVICES)
    async with shop(settings):
        made = [(await backup.create(deployment, to=backups, say=say))[1] for _ in range(3)]
        _manifest, newest, removed = await backup.create(deployment, to=backups, keep=2, say=say)
    assert sorted(removed) == sorted(made[:2])
    _where, listed = await backup.list_backups(deployment, backups)
    assert [ref for _m, ref in listed] == [newest, made[2]]
    assert not any(map(os.path.exists, removed))


async def test_events_in_flight_at_the_backup_are_published_again_after_a_restore(
    settings: Settings, backups: str
) -> None:
    """An event its relay had published but a consumer had not applied lived only in the
    stream: the restore marks it unpublished, so the relay publishes it again."""
    deployment = backup.deployment_of(settings, SERVICES)
    async with shop(settings) as (_platform, http):
        bob = await sign_up(http, "bob")

        async def welcomed() -> bool:
            answer = (await http.get("/v1/notifications", headers=bob.headers)).json()
            return bool(answer["total"] >= 1)

        await eventually(welcomed, timeout=30)
        users = next(s.store for s in deployment.services if s.name == "users")

        async def relayed() -> bool:
            # A consumer may apply an event before its relay marks it published: wait for
            # the marks, so that every event forgotten below was published (in flight).
            return await _unpublished_types(users) == []

        await eventually(relayed, timeout=30)
    notifications = next(s.store for s in deployment.services if s.name == "notifications")
    # As if the notifications service had not applied bob's registration yet.
    forgotten = await _forget_inbox(notifications, "users.user.registered")
    assert forgotten >= 1
    _manifest, ref, _ = await backup.create(deployment, to=backups, say=say)
    restored = await backup.restore(deployment, ref=ref, force=True, say=say)
    assert restored.replayed.in_flight == forgotten
    assert await _unpublished_types(users) == ["users.user.registered"] * forgotten
    assert restored.streams_deleted == []  # in-process events: no streams
    # Run again: a second restore marks the same rows, no others.
    again = await backup.restore(deployment, ref=ref, force=True, say=say)
    assert again.replayed.in_flight == forgotten


async def _forget_inbox(store: Any, event_type: str) -> int:
    if store.is_sqlite:
        with closing(sqlite3.connect(store.path, isolation_level=None)) as db:
            return db.execute("DELETE FROM inbox WHERE type = ?", (event_type,)).rowcount
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        status = await conn.execute(
            f'DELETE FROM "{store.schema}".inbox WHERE type = $1',  # noqa: S608
            event_type,
        )
    finally:
        await conn.close()
    return int(status.split()[-1])


async def _unpublished_types(store: Any) -> list[str]:
    query = "SELECT type FROM {t} WHERE published_at IS NULL ORDER BY position"
    if store.is_sqlite:
        with closing(sqlite3.connect(store.path)) as db:
            return [row[0] for row in db.execute(query.format(t="outbox"))]
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(query.format(t=f'"{store.schema}".outbox'))
    finally:
        await conn.close()
    return [row[0] for row in rows]


@pytest.mark.integration
async def test_pg_dump_is_the_machine_servers_version_or_newer() -> None:
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        server = int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
    assert await PgTools().major("pg_dump") >= server
    assert await PgTools().major("pg_restore") >= server


@pytest.mark.integration
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_a_restore_deletes_the_old_timelines_streams(
    settings: Settings, backups: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JetStream survived but the databases went back in time: its streams hold events the
    restored databases never saw, and message ids that would drop the ones published again."""
    run = f"B{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PANTHERA_EVENTS__STREAM_PREFIX", run)
    monkeypatch.setenv("PANTHERA_EVENTS__SUBJECT_PREFIX", run.lower())
    distributed = settings.model_copy(update={"nats_url": "nats://127.0.0.1:4222"})
    deployment = backup.deployment_of(distributed, SERVICES)
    try:
        async with shop(distributed) as (_platform, http):
            await fill(http)
            _manifest, ref, _ = await backup.create(deployment, to=backups, say=say)
        kept = await streams(f"{run}_")
        assert f"{run}_ORDERS" in kept
        restored = await backup.restore(deployment, ref=ref, force=True, say=say)
        assert set(restored.streams_deleted) >= kept
        assert await streams(f"{run}_") == set()
    finally:
        await delete_streams(f"{run}_")
