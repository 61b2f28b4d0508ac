"""Product use cases on in-memory repositories: versions and If-Match, events, the cache."""

from __future__ import annotations

import uuid

import pytest

from panthera.contracts.catalog import ProductCreated, ProductDeleted, ProductUpdated
from panthera.kernel.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from panthera.services.catalog import categories, products
from panthera.services.catalog.schemas import CategoryCreate, ProductCreate, ProductUpdate
from tests.services.catalog.fakes import FakeCatalog, fake_catalog


@pytest.fixture
def catalog() -> FakeCatalog:
    return fake_catalog()


def new(sku: str = "KETTLE-1", **extra: object) -> ProductCreate:
    return ProductCreate.model_validate(
        {"sku": sku, "name": "Kettle", "price": 2999, "currency": "EUR", "stock": 2, **extra}
    )


async def test_a_new_product_is_published_with_its_stock(catalog: FakeCatalog) -> None:
    shelf = await categories.create_category(rt=catalog.rt, data=CategoryCreate(name="Kitchen"))
    created = await products.create_product(
        rt=catalog.rt, data=new(categoryId=str(shelf.id), description="Steel")
    )
    assert created.version == 1 and created.available == 2
    assert catalog.store.products[created.id].search_category == "Kitchen"
    assert catalog.uow.of_type(ProductCreated) == [
        {
            "productId": str(created.id),
            "sku": "KETTLE-1",
            "name": "Kettle",
            "price": 2999,
            "currency": "EUR",
            "categoryId": str(shelf.id),
            "available": 2,
            "version": 1,
        }
    ]


async def test_a_taken_sku_or_an_unknown_category_creates_nothing(catalog: FakeCatalog) -> None:
    await products.create_product(rt=catalog.rt, data=new())
    with pytest.raises(Conflict):
        await products.create_product(rt=catalog.rt, data=new())
    with pytest.raises(BadRequest, match="categoryId"):
        await products.create_product(
            rt=catalog.rt, data=new("OTHER", categoryId=str(uuid.uuid4()))
        )
    assert len(catalog.store.products) == 1
    assert len(catalog.uow.published) == 1


async def test_if_match_guards_the_version_replaced(catalog: FakeCatalog) -> None:
    created = await products.create_product(rt=catalog.rt, data=new())
    stale = ProductUpdate(name="Stale")
    with pytest.raises(PreconditionFailed, match='"1"'):
        await products.update_product(
            rt=catalog.rt, product_id=created.id, data=stale, if_match=['"7"', '"0"']
        )
    assert catalog.store.products[created.id].name == "Kettle"
    updated = await products.update_product(
        rt=catalog.rt,
        product_id=created.id,
        data=ProductUpdate(name="Kettle 2", price=2499),
        if_match=['"3"', products.etag(created.version)],
    )
    assert updated.version == 2 and updated.name == "Kettle 2"
    anyway = await products.update_product(
        rt=catalog.rt, product_id=created.id, data=ProductUpdate(price=1999), if_match=["*"]
    )
    assert anyway.version == 3
    assert [e["changed"] for e in catalog.uow.of_type(ProductUpdated)] == [
        ["name", "price"],
        ["price"],
    ]


async def test_an_update_that_changes_nothing_keeps_the_version(catalog: FakeCatalog) -> None:
    created = await products.create_product(rt=catalog.rt, data=new())
    same = await products.update_product(
        rt=catalog.rt, product_id=created.id, data=ProductUpdate(name="Kettle", price=2999)
    )
    assert same.version == 1
    assert catalog.uow.of_type(ProductUpdated) == []


async def test_an_update_keeps_skus_unique_and_categories_known(catalog: FakeCatalog) -> None:
    await products.create_product(rt=catalog.rt, data=new("TAKEN"))
    created = await products.create_product(rt=catalog.rt, data=new())
    with pytest.raises(Conflict):
        await products.update_product(
            rt=catalog.rt, product_id=created.id, data=ProductUpdate(sku="TAKEN")
        )
    with pytest.raises(BadRequest):
        await products.update_product(
            rt=catalog.rt,
            product_id=created.id,
            data=ProductUpdate.model_validate({"categoryId": str(uuid.uuid4())}),
        )
    with pytest.raises(NotFound):
        await products.update_product(rt=catalog.rt, product_id=uuid.uuid4(), data=ProductUpdate())
    shelf = await categories.create_category(rt=catalog.rt, data=CategoryCreate(name="Kitchen"))
    moved = await products.update_product(
        rt=catalog.rt,
        product_id=created.id,
        data=ProductUpdate.model_validate({"categoryId": str(shelf.id)}),
    )
    assert moved.category_id == shelf.id
    assert catalog.store.products[created.id].search_category == "Kitchen"
    assert catalog.uow.of_type(ProductUpdated)[-1]["changed"] == ["categoryId"]


async def test_reads_are_cached_and_changes_drop_them_after_commit(catalog: FakeCatalog) -> None:
    created = await products.create_product(rt=catalog.rt, data=new())
    key = f"product:{created.id}"
    await products.get_product(rt=catalog.rt, product_id=created.id)
    assert await catalog.rt.cache.get(key) is not None
    with pytest.raises(PreconditionFailed):
        await products.update_product(
            rt=catalog.rt, product_id=created.id, data=ProductUpdate(name="X"), if_match=['"9"']
        )
    assert await catalog.rt.cache.get(key) is not None  # nothing changed, nothing dropped
    await products.update_product(
        rt=catalog.rt, product_id=created.id, data=ProductUpdate(name="X")
    )
    assert await catalog.rt.cache.get(key) is None
    assert (await products.get_product(rt=catalog.rt, product_id=created.id)).name == "X"
    await products.delete_product(rt=catalog.rt, product_id=created.id)
    assert await catalog.rt.cache.get(key) is None
    with pytest.raises(NotFound):
        await products.get_product(rt=catalog.rt, product_id=created.id)


async def test_a_deleted_product_is_published_with_its_last_values(catalog: FakeCatalog) -> None:
    created = await products.create_product(rt=catalog.rt, data=new())
    await products.update_product(
        rt=catalog.rt, product_id=created.id, data=ProductUpdate(price=1000)
    )
    await products.delete_product(rt=catalog.rt, product_id=created.id)
    deleted = catalog.uow.of_type(ProductDeleted)
    assert [(d["productId"], d["price"], d["version"]) for d in deleted] == [
        (str(created.id), 1000, 2)
    ]
    with pytest.raises(NotFound):
        await products.delete_product(rt=catalog.rt, product_id=created.id)


async def test_an_import_is_all_or_none_with_an_event_per_product(catalog: FakeCatalog) -> None:
    shelf = await categories.create_category(rt=catalog.rt, data=CategoryCreate(name="Kitchen"))
    items = [new(f"IMP-{i}", categoryId=str(shelf.id), stock=i) for i in range(3)]
    with pytest.raises(Conflict, match="twice"):
        await products.import_products(rt=catalog.rt, items=[*items, new("IMP-0")])
    with pytest.raises(BadRequest):
        await products.import_products(
            rt=catalog.rt, items=[*items, new("IMP-X", categoryId=str(uuid.uuid4()))]
        )
    assert catalog.store.products == {}
    ids = await products.import_products(rt=catalog.rt, items=items)
    assert await products.count_products(rt=catalog.rt) == 3
    created = catalog.uow.of_type(ProductCreated)
    assert [(c["productId"], c["sku"], c["available"]) for c in created] == [
        (str(pid), f"IMP-{i}", i) for i, pid in enumerate(ids)
    ]
    assert {p.search_category for p in catalog.store.products.values()} == {"Kitchen"}
    assert await products.import_products(rt=catalog.rt, items=[]) == []
