"""Backups of a deployment whose notifications live in DynamoDB (DynamoDB Local)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from panthera.app import SERVICES
from panthera.kernel.settings import Settings
from panthera.ops import backup
from tests.conftest import STRONG_PASSWORD, Account, eventually, log_in, sign_up
from tests.ops.test_backup import ADMIN, say, shop
from tests.services.notifications.dynamodb_local import dynamodb_environment

pytestmark = pytest.mark.integration


@pytest.fixture
def notification_table(dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    table = f"backup-{uuid.uuid4().hex[:8]}"
    for name, value in dynamodb_environment(dynamodb_endpoint, table).items():
        monkeypatch.setenv(name, value)
    return table


async def all_sent(http: httpx.AsyncClient, admin: Account, count: int) -> list[Any]:
    listed = (await http.get("/v1/notifications", headers=admin.headers)).json()
    found = [(n["id"], n["template"], n["status"]) for n in listed["notifications"]]
    return found if len(found) == count and all(s == "sent" for *_, s in found) else []


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_backup_carries_the_notification_table_and_a_restore_puts_it_back(
    settings: Settings, tmp_path: Path, notification_table: str
) -> None:
    backups = str(tmp_path / "backups")
    deployment = backup.deployment_of(settings, SERVICES)
    async with shop(settings) as (_platform, http):
        admin = await log_in(http, ADMIN["admin_email"], ADMIN["admin_password"])
        await sign_up(http, "alice")
        before = await eventually(lambda: all_sent(http, admin, 2))  # the admin's and alice's
        manifest, ref, _ = await backup.create(deployment, to=backups, say=say)
        await sign_up(http, "late")  # after the backup: the restore forgets its welcome
        await eventually(lambda: all_sent(http, admin, 3))

    entry = manifest.stores["dynamodb-notifications"]
    assert (entry.facts["table"], entry.facts["items"]) == (notification_table, 2)
    assert [f.path for f in entry.files] == ["dynamodb/notifications.jsonl"]
    with pytest.raises(backup.NotEmpty) as refused:
        await backup.restore(deployment, ref=ref, force=False, say=say)
    assert f"notifications in DynamoDB table {notification_table}" in refused.value.conflicts

    restored = await backup.restore(deployment, ref=ref, force=True, say=say)
    assert f"dynamodb table {notification_table}: 2 notifications (3 removed)" in restored.done
    async with shop(settings) as (_platform, http):
        admin = await log_in(http, ADMIN["admin_email"], STRONG_PASSWORD)
        assert await eventually(lambda: all_sent(http, admin, 2)) == before
