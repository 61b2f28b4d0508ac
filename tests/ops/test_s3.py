"""Backups kept in an S3 bucket: the S3 adapter against a real SeaweedFS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiobotocore.session import get_session

from panthera.app import SERVICES
from panthera.kernel.objectstore import S3ObjectStore, parse_s3_url
from panthera.kernel.settings import Settings
from panthera.ops import backup
from tests.conftest import STRONG_PASSWORD, log_in, sign_up
from tests.ops.seaweedfs import seaweedfs
from tests.ops.test_backup import fill, say, shop, state


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture
async def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    # The standard AWS configuration is how the adapter finds a store that is not AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "panthera-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "panthera-test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    name = f"backups-{uuid.uuid4().hex[:8]}"
    async with get_session().create_client("s3") as s3:
        await s3.create_bucket(Bucket=name)
    return name


def test_s3_urls_name_a_bucket_and_a_prefix() -> None:
    assert parse_s3_url("s3://shop-backups/prod/eu") == ("shop-backups", "prod/eu")
    assert parse_s3_url("s3://shop-backups") == ("shop-backups", "")
    with pytest.raises(ValueError, match="not an S3 URL"):
        parse_s3_url("https://example.com/x")


@pytest.mark.integration
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_backup_goes_to_s3_and_comes_back(
    settings: Settings, bucket: str, tmp_path: Path
) -> None:
    deployment = backup.deployment_of(settings, SERVICES)
    where = f"s3://{bucket}/shop"
    async with shop(settings) as (_platform, http):
        before = await fill(http)
        manifest, ref, _ = await backup.create(deployment, to=where, say=say)
        await sign_up(http, "after")
        second, newest, removed = await backup.create(deployment, to=where, keep=1, say=say)
    assert ref == f"{where}/{manifest.id}"
    assert removed == [ref]
    _where, listed = await backup.list_backups(deployment, where)
    assert [(m.id, r) for m, r in listed] == [(second.id, newest)]

    # Every object is under the prefix; the removed backup left nothing behind.
    store = S3ObjectStore(bucket)
    try:
        keys = [key async for key in store.keys("")]
    finally:
        await store.close()
    assert keys and all(key.startswith(f"shop/{second.id}/") for key in keys)
    assert f"shop/{second.id}/manifest.json" in keys

    restored = await backup.restore(deployment, ref=newest, force=True, say=say)
    assert restored.manifest.id == second.id
    async with shop(settings) as (_platform, http):
        alice = await log_in(http, before["alice"].email, STRONG_PASSWORD)
        assert (await state(http, alice, before["product"]))["orders"] == before["orders"]
        await log_in(http, "after@example.com", STRONG_PASSWORD)


@pytest.mark.integration
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_missing_backup_in_s3_is_reported(settings: Settings, bucket: str) -> None:
    deployment = backup.deployment_of(settings, SERVICES)
    with pytest.raises(backup.DamagedBackup, match=r"no manifest\.json"):
        await backup.restore(deployment, ref=f"s3://{bucket}/shop/nothing", force=True, say=say)
