"""Use cases of the category tree."""

from __future__ import annotations

import re
import unicodedata
import uuid

from sqlalchemy.exc import IntegrityError

from panthera.kernel.database import utcnow
from panthera.kernel.errors import BadRequest, Conflict, NotFound
from panthera.services.catalog import schemas
from panthera.services.catalog.models import Category
from panthera.services.catalog.repository import CatalogTx
from panthera.services.catalog.runtime import CatalogRuntime


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:100].strip("-") or "category"


async def _category(tx: CatalogTx, category_id: uuid.UUID) -> Category:
    category = await tx.categories.get(category_id)
    if category is None:
        raise NotFound("Category not found")
    return category


async def _check_parent(tx: CatalogTx, parent_id: uuid.UUID | None) -> None:
    if parent_id is not None and await tx.categories.get(parent_id) is None:
        raise BadRequest(f"Unknown parentId {parent_id}")


async def category_name(tx: CatalogTx, category_id: uuid.UUID | None) -> str:
    """The name of a product's category, which search covers; 400 if there is none such."""
    if category_id is None:
        return ""
    category = await tx.categories.get(category_id)
    if category is None:
        raise BadRequest(f"Unknown categoryId {category_id}")
    return category.name


async def create_category(*, rt: CatalogRuntime, data: schemas.CategoryCreate) -> Category:
    """Create a category, under `parentId` if given; its slug is unique."""
    slug = data.slug or slugify(data.name)
    now = utcnow()
    category = Category(
        id=uuid.uuid4(),
        name=data.name,
        slug=slug,
        parent_id=data.parent_id,
        created_at=now,
        updated_at=now,
    )
    try:
        async with rt.uow.write() as tx:
            await _check_parent(tx, data.parent_id)
            if await tx.categories.slug_taken(slug):
                raise Conflict(f"A category with slug {slug!r} already exists")
            tx.categories.add(category)
    except IntegrityError as exc:
        raise Conflict(f"A category with slug {slug!r} already exists") from exc
    return category


async def get_category(*, rt: CatalogRuntime, category_id: uuid.UUID) -> Category:
    """One category."""
    async with rt.uow.read() as tx:
        return await _category(tx, category_id)


async def get_categories(
    *, rt: CatalogRuntime, offset: int, limit: int
) -> tuple[int, list[Category]]:
    """A page of categories by name; `parentId` gives the tree."""
    async with rt.uow.read() as tx:
        return await tx.categories.list(offset=offset, limit=limit)


async def update_category(
    *, rt: CatalogRuntime, category_id: uuid.UUID, data: schemas.CategoryUpdate
) -> Category:
    """Rename, re-slug or move a category; it may not move under itself."""
    changes = data.model_dump(exclude_unset=True)
    for name in ("name", "slug"):
        if name in changes and changes[name] is None:
            del changes[name]
    try:
        async with rt.uow.write() as tx:
            category = await _category(tx, category_id)
            if "slug" in changes and await tx.categories.slug_taken(
                changes["slug"], excluding=category_id
            ):
                raise Conflict(f"A category with slug {changes['slug']!r} already exists")
            parent_id = changes.get("parent_id")
            if parent_id is not None:
                await _check_parent(tx, parent_id)
                if await tx.categories.is_within(parent_id, category_id):
                    raise BadRequest("A category cannot move under itself or its descendants")
            for name, value in changes.items():
                setattr(category, name, value)
            if changes:
                category.updated_at = utcnow()
                if "name" in changes:
                    await tx.categories.rename_in_products(category_id, category.name)
    except IntegrityError as exc:
        raise Conflict("A category with this slug already exists") from exc
    return category


async def delete_category(*, rt: CatalogRuntime, category_id: uuid.UUID) -> None:
    """Delete a category that no product and no sub-category uses."""
    try:
        async with rt.uow.write() as tx:
            category = await _category(tx, category_id)
            reason = await tx.categories.in_use(category_id)
            if reason:
                raise Conflict(f"The category is in use: {reason}")
            await tx.categories.delete(category)
    except IntegrityError as exc:  # a product was filed under it meanwhile
        raise Conflict("The category is in use") from exc
