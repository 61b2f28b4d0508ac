"""Demo data: deterministic, believable, loaded through the use cases; the CLI around it."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from panthera.cli import _seed_catalog, cli
from panthera.contracts.catalog import ProductCreated
from panthera.kernel.settings import Settings
from panthera.services.catalog import categories, demo, demo_media, products
from panthera.services.catalog.repository import ProductQuery
from panthera.services.catalog.runtime import CatalogRuntime


def test_generation_is_deterministic_and_plausible() -> None:
    aisles = {
        name: uuid.UUID(int=i)
        for i, name in enumerate(aisle for d in demo.DEPARTMENTS for aisle in d.aisles)
    }
    first = list(demo.generate(200, aisles))
    assert first == list(demo.generate(200, aisles))
    assert list(demo.generate(5, aisles, start=10)) == first[10:15]
    assert len({p.sku for p in first}) == 200
    for product in first:
        noun_prices = {
            noun: (low, high)
            for d in demo.DEPARTMENTS
            for aisle in d.aisles.values()
            for noun, low, high in aisle.items
        }
        noun = max((n for n in noun_prices if n in product.name), key=len)
        low, high = noun_prices[noun]
        assert low - 100 <= product.price <= high
        assert product.currency == "EUR"
        assert noun.lower() in product.description
        assert 0 <= product.stock <= 500
    assert any(p.stock == 0 for p in first) and any(p.stock > 0 for p in first)


async def test_seeding_fills_a_searchable_catalog(catalog: CatalogRuntime) -> None:
    ticks: list[int] = []
    added = await demo.seed(rt=catalog, products=450, batch_size=200, progress=ticks.append)
    assert added == 450 and ticks == [200, 200, 50]
    assert await products.count_products(rt=catalog) == 450
    # Seeding again continues the numbering and reuses the categories.
    outbox = catalog.uow.outbox
    assert outbox is not None
    woken: list[int] = []
    stop_listening = outbox.listen(lambda: woken.append(1))
    await demo.seed(rt=catalog, products=50)
    stop_listening()
    assert woken == [1]  # one batch, one commit, one wake-up of the relay
    total, shelves = await categories.get_categories(rt=catalog, offset=0, limit=100)
    assert total == len(demo.DEPARTMENTS) + sum(len(d.aisles) for d in demo.DEPARTMENTS)
    assert await products.count_products(rt=catalog) == 500
    async with catalog.uow.read() as tx:
        created = await tx.session.scalar(
            sa.select(sa.func.count()).where(outbox.table.c.type == ProductCreated.TYPE)
        )
    assert created == 500
    footwear = next(c for c in shelves if c.name == "Footwear")
    found, shoes = await products.get_products(
        rt=catalog, query=ProductQuery(search="shoes", category_id=footwear.id)
    )
    assert found > 0
    assert all("shoe" in (p.name + p.description).lower() for p in shoes)


@pytest.mark.usefixtures("restored_environ")  # `--data-dir` sets PANTHERA_DATA_DIR
def test_the_seed_command_and_demo_start(tmp_path: Path) -> None:
    migrated = CliRunner().invoke(cli, ["migrate", "catalog", "--data-dir", str(tmp_path / "data")])
    assert migrated.exit_code == 0, migrated.output
    result = CliRunner().invoke(
        cli, ["seed", "--products", "120", "--data-dir", str(tmp_path / "data")]
    )
    assert result.exit_code == 0, result.output
    assert "added 120 products" in result.output
    settings = Settings(data_dir=tmp_path / "data")
    # `up --demo` seeds only an empty catalog.
    assert _seed_catalog(settings, 50, only_if_empty=True) == 0
    assert _seed_catalog(Settings(data_dir=tmp_path / "fresh"), 30, only_if_empty=True) == 30
    bad = CliRunner().invoke(cli, ["seed", "--products", "0"])
    assert bad.exit_code == 2


async def test_demo_products_show_a_few_shared_pictures_with_their_sizes(
    catalog: CatalogRuntime, client: httpx.AsyncClient
) -> None:
    await demo.seed(rt=catalog, products=40)
    total, found = await products.get_products(rt=catalog, query=ProductQuery(limit=40))
    assert total == 40
    pictures = {product.media[0].url for product in found}
    assert len(pictures) == demo_media.PICTURES  # shared: 40 products, 12 pictures
    stored = [item.key async for item in catalog.media.listing("")]
    assert len(stored) == demo_media.PICTURES * 5  # each original and its four sizes
    first = found[0].media[0]
    assert first.thumbnail_url != first.url and len(first.variants) == 4
    assert found[0].images == [first.url]
    thumbnail = await client.get(first.thumbnail_url)
    assert thumbnail.status_code == 200
    assert "immutable" in thumbnail.headers["cache-control"]
    # The same pictures, byte for byte, on every run.
    assert demo_media.draw(3) == demo_media.draw(3)
    await demo.seed(rt=catalog, products=5)
    assert len([item async for item in catalog.media.listing("")]) == len(stored)
