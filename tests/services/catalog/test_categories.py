"""The category tree's rules on in-memory repositories: slugs, moves, renames, deletes."""

from __future__ import annotations

import uuid

import pytest

from panthera.kernel.errors import BadRequest, Conflict, NotFound
from panthera.services.catalog import categories, products
from panthera.services.catalog.models import Category
from panthera.services.catalog.schemas import CategoryCreate, CategoryUpdate, ProductCreate
from tests.services.catalog.fakes import FakeCatalog, fake_catalog


@pytest.fixture
def catalog() -> FakeCatalog:
    return fake_catalog()


async def create(catalog: FakeCatalog, name: str, parent: Category | None = None) -> Category:
    data = CategoryCreate(name=name, parent_id=parent.id if parent else None)
    return await categories.create_category(rt=catalog.rt, data=data)


async def move(catalog: FakeCatalog, category: Category, parent: Category | None) -> Category:
    data = CategoryUpdate.model_validate({"parentId": str(parent.id) if parent else None})
    return await categories.update_category(rt=catalog.rt, category_id=category.id, data=data)


def test_slugs_are_ascii_words() -> None:
    assert categories.slugify("Toys & Games") == "toys-games"
    assert categories.slugify("Crème brûlée") == "creme-brulee"
    assert categories.slugify("!!!") == "category"
    assert len(categories.slugify("x" * 300)) == 100


async def test_slugs_are_unique_and_parents_known(catalog: FakeCatalog) -> None:
    home = await create(catalog, "Home")
    assert home.slug == "home"
    with pytest.raises(Conflict):
        await create(catalog, "HOME")
    with pytest.raises(BadRequest, match="parentId"):
        await categories.create_category(
            rt=catalog.rt, data=CategoryCreate(name="Orphan", parent_id=uuid.uuid4())
        )
    other = await create(catalog, "Garden")
    with pytest.raises(Conflict):
        await categories.update_category(
            rt=catalog.rt, category_id=other.id, data=CategoryUpdate(slug="home")
        )
    assert len(catalog.store.categories) == 2


async def test_a_category_never_moves_under_itself(catalog: FakeCatalog) -> None:
    root = await create(catalog, "Root")
    child = await create(catalog, "Child", root)
    grandchild = await create(catalog, "Grandchild", child)
    for parent in (root, child, grandchild):
        with pytest.raises(BadRequest, match="under itself"):
            await move(catalog, root, parent)
    with pytest.raises(BadRequest, match="under itself"):
        await move(catalog, child, grandchild)
    assert catalog.store.categories[root.id].parent_id is None
    # Out of the tree, and back under another branch: both fine.
    assert (await move(catalog, grandchild, None)).parent_id is None
    sibling = await create(catalog, "Sibling", root)
    assert (await move(catalog, child, sibling)).parent_id == sibling.id
    assert (await move(catalog, grandchild, child)).parent_id == child.id


async def test_a_rename_reaches_the_products_search_copy(catalog: FakeCatalog) -> None:
    shelf = await create(catalog, "Kitchen")
    product = await products.create_product(
        rt=catalog.rt,
        data=ProductCreate(sku="K-1", name="Pan", price=100, currency="EUR", category_id=shelf.id),
    )
    renamed = await categories.update_category(
        rt=catalog.rt, category_id=shelf.id, data=CategoryUpdate(name="Cookware")
    )
    assert renamed.name == "Cookware" and renamed.slug == "kitchen"
    assert catalog.store.products[product.id].search_category == "Cookware"


async def test_only_an_unused_category_is_deleted(catalog: FakeCatalog) -> None:
    parent = await create(catalog, "Parent")
    child = await create(catalog, "Child", parent)
    with pytest.raises(Conflict, match="sub-categories"):
        await categories.delete_category(rt=catalog.rt, category_id=parent.id)
    await products.create_product(
        rt=catalog.rt,
        data=ProductCreate(sku="C-1", name="Thing", price=1, currency="EUR", category_id=child.id),
    )
    with pytest.raises(Conflict, match="products"):
        await categories.delete_category(rt=catalog.rt, category_id=child.id)
    empty = await create(catalog, "Empty")
    await categories.delete_category(rt=catalog.rt, category_id=empty.id)
    with pytest.raises(NotFound):
        await categories.get_category(rt=catalog.rt, category_id=empty.id)
    total, found = await categories.get_categories(rt=catalog.rt, offset=0, limit=10)
    assert total == 2 and [c.name for c in found] == ["Child", "Parent"]
