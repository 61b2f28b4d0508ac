"""Product media in backups: their objects are copied, and written back when missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from panthera.app import SERVICES
from panthera.kernel.settings import Settings
from panthera.ops import backup
from panthera.services.catalog import media
from panthera.services.catalog.products import create_product
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.schemas import ProductCreate
from tests.conftest import eventually
from tests.ops.test_backup import say, shop
from tests.services.catalog.test_media import picture


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_restore_brings_back_lost_media_objects(settings: Settings, tmp_path: Path) -> None:
    deployment = backup.deployment_of(settings, SERVICES)
    async with shop(settings) as (platform, _http):
        rt: CatalogRuntime = platform.hosts["catalog"].runtime
        product = await create_product(
            rt=rt, data=ProductCreate(sku="PIC-1", name="Pictured", price=100, currency="EUR")
        )
        image = await media.upload_image(rt=rt, product_id=product.id, data=picture("PNG"))

        async def derived() -> bool:
            async with rt.uow.read() as tx:
                return bool((await tx.images.of([product.id]))[product.id][0].variants)

        await eventually(derived, timeout=20)  # the sizes too, before the backup
        manifest, ref, _ = await backup.create(deployment, to=str(tmp_path / "b"), say=say)
    stored = sorted(
        p.relative_to(settings.data_dir) for p in (settings.data_dir / "media").rglob("*.*")
    )
    assert stored and manifest.stores["media"].facts["objects"] == len(stored)
    before = {p: (settings.data_dir / p).read_bytes() for p in stored}

    shutil.rmtree(settings.data_dir / "media")  # a lost volume
    restored = await backup.restore(deployment, ref=ref, force=True, say=say)
    assert any(line.startswith(f"media: {len(stored)} objects written") for line in restored.done)
    assert {p: (settings.data_dir / p).read_bytes() for p in stored} == before
    assert image.url.removeprefix("/") in {str(p) for p in stored}
