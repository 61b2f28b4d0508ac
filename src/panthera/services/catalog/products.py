"""Use cases of products: create, read (through the cache), update, delete, bulk import."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from panthera.contracts.catalog import ImageDeleted, ProductCreated, ProductDeleted
from panthera.kernel.cache import Cache
from panthera.kernel.database import utcnow
from panthera.kernel.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from panthera.services.catalog import events, images, schemas
from panthera.services.catalog.categories import category_name
from panthera.services.catalog.models import Product
from panthera.services.catalog.repository import CatalogTx, ProductQuery
from panthera.services.catalog.runtime import CatalogRuntime

log = structlog.get_logger("panthera.catalog")


def etag(version: int) -> str:
    return f'"{version}"'


def to_read(
    product: Product, available: int, media: Sequence[schemas.Image] = ()
) -> schemas.Product:
    return schemas.Product.model_validate(
        {
            "id": product.id,
            "sku": product.sku,
            "name": product.name,
            "description": product.description,
            "price": product.price,
            "currency": product.currency,
            "category_id": product.category_id,
            "attributes": product.attributes,
            "images": [image.url for image in media] + list(product.images),
            "media": list(media),
            "available": available,
            "version": product.version,
            "created_at": product.created_at,
            "updated_at": product.updated_at,
        }
    )


def _cache_key(product_id: uuid.UUID) -> str:
    return f"product:{product_id}"


def forget_after_commit(tx: CatalogTx, cache: Cache, product_ids: Iterable[uuid.UUID]) -> None:
    """Drop the cached reads of these products once `tx` commits.

    Not before: a reader in between would cache the old row again.
    """
    keys = [_cache_key(product_id) for product_id in product_ids]
    if keys:
        tx.after_commit(lambda: cache.delete(*keys))


def _sku_conflict(sku: str) -> Conflict:
    return Conflict(f"A product with SKU {sku!r} already exists")


def _new_product(data: schemas.ProductCreate, search_category: str) -> Product:
    now = utcnow()
    return Product(
        id=uuid.uuid4(),
        sku=data.sku,
        name=data.name,
        description=data.description,
        price=data.price,
        currency=data.currency,
        category_id=data.category_id,
        search_category=search_category,
        attributes=data.attributes,
        images=[str(url) for url in data.images],
        version=1,
        created_at=now,
        updated_at=now,
    )


async def create_product(*, rt: CatalogRuntime, data: schemas.ProductCreate) -> schemas.Product:
    """Add a product with its initial stock."""
    try:
        async with rt.uow.write() as tx:
            product = _new_product(data, await category_name(tx, data.category_id))
            if await tx.products.sku_taken(product.sku):
                raise _sku_conflict(product.sku)
            stock = await tx.products.add(product, data.stock)
            tx.record(events.product_event(ProductCreated, product, stock.available))
    except IntegrityError as exc:
        raise _sku_conflict(data.sku) from exc
    return to_read(product, stock.available)


@dataclass(frozen=True)
class ProductJson:
    """A product as it goes on the wire: its JSON and its `ETag`.

    Cached in this shape (`"<version>"`, a new line, the JSON), so that a hit is
    answered with the stored bytes: no parsing, validation or encoding per read.
    """

    etag: str
    body: bytes

    @classmethod
    def of(cls, product: schemas.Product) -> ProductJson:
        return cls(etag(product.version), product.model_dump_json(by_alias=True).encode())

    def cached(self) -> bytes:
        return self.etag.encode() + b"\n" + self.body


def _from_cache(cached: bytes, product_id: uuid.UUID) -> ProductJson | None:
    if cached.startswith(b'"'):
        tag, _, body = cached.partition(b"\n")
        if body.startswith(b"{"):
            return ProductJson(tag.decode("latin-1"), body)
    else:  # the product's JSON alone, as entries were cached before
        try:
            return ProductJson.of(schemas.Product.model_validate_json(cached))
        except ValueError:
            pass
    log.warning("cache_entry_unreadable", product_id=str(product_id))
    return None


async def get_product(*, rt: CatalogRuntime, product_id: uuid.UUID) -> schemas.Product:
    """One product, from the cache when it is there."""
    found = await get_product_json(rt=rt, product_id=product_id)
    return schemas.Product.model_validate_json(found.body)


async def get_product_json(*, rt: CatalogRuntime, product_id: uuid.UUID) -> ProductJson:
    """One product as it goes on the wire, from the cache when it is there."""
    cached = await rt.cache.get(_cache_key(product_id))
    if cached is not None:
        found = _from_cache(cached, product_id)
        if found is not None:
            return found
    async with rt.uow.read() as tx:
        row = await tx.products.get(product_id)
        pictures = await tx.images.of([product_id])
    if row is None:
        raise NotFound("Product not found")
    media = await images.reads(pictures, images.MediaUrls(rt.media, rt.settings))
    product = ProductJson.of(to_read(row[0], row[1].available, media[product_id]))
    await rt.cache.set(
        _cache_key(product_id), product.cached(), ttl_seconds=rt.settings.cache_ttl_seconds
    )
    return product


async def get_products(
    *, rt: CatalogRuntime, query: ProductQuery
) -> tuple[int, list[schemas.Product]]:
    """Search and filter products: relevance, price, recency or name order, a page at a time."""
    async with rt.uow.read() as tx:
        if query.category_id is not None and await tx.categories.get(query.category_id) is None:
            raise BadRequest(f"Unknown categoryId {query.category_id}")
        total, rows = await tx.products.find(query, rt.search)
        pictures = await tx.images.of([product.id for product, _ in rows])
    media = await images.reads(pictures, images.MediaUrls(rt.media, rt.settings))
    return total, [to_read(product, available, media[product.id]) for product, available in rows]


async def count_products(*, rt: CatalogRuntime) -> int:
    """How many products the catalog holds."""
    async with rt.uow.read() as tx:
        return await tx.products.count()


async def update_product(
    *,
    rt: CatalogRuntime,
    product_id: uuid.UUID,
    data: schemas.ProductUpdate,
    if_match: Sequence[str] | None = None,
) -> schemas.Product:
    """Change the fields sent; with `if_match`, only if the product is still that version."""
    changes = data.model_dump(exclude_unset=True)
    for name in ("sku", "name", "description", "price", "currency", "attributes", "images"):
        if name in changes and changes[name] is None:
            del changes[name]
    if "images" in changes:
        changes["images"] = [str(url) for url in changes["images"]]
    try:
        async with rt.uow.write() as tx:
            # Locked, so the version compared is the version replaced.
            found = await tx.products.get(product_id, for_update=True)
            if found is None:
                raise NotFound("Product not found")
            product, stock = found
            if (
                if_match is not None
                and "*" not in if_match
                and etag(product.version) not in if_match
            ):
                raise PreconditionFailed(
                    f"The product has changed (its ETag is now {etag(product.version)})"
                )
            if "sku" in changes and await tx.products.sku_taken(
                changes["sku"], excluding=product_id
            ):
                raise _sku_conflict(changes["sku"])
            if "category_id" in changes:
                product.search_category = await category_name(tx, changes["category_id"])
            changed = {k: v for k, v in changes.items() if getattr(product, k) != v}
            if changed:
                for name, value in changed.items():
                    setattr(product, name, value)
                product.version += 1
                product.updated_at = utcnow()
                tx.record(events.product_updated(product, stock.available, changed))
                forget_after_commit(tx, rt.cache, [product_id])
            pictures = await tx.images.of([product_id])
    except IntegrityError as exc:
        raise _sku_conflict(str(changes.get("sku", ""))) from exc
    media = await images.reads(pictures, images.MediaUrls(rt.media, rt.settings))
    return to_read(product, stock.available, media[product_id])


async def delete_product(*, rt: CatalogRuntime, product_id: uuid.UUID) -> None:
    """Remove a product and its stock."""
    async with rt.uow.write() as tx:
        found = await tx.products.get(product_id, for_update=True)
        if found is None:
            raise NotFound("Product not found")
        product, stock = found
        # Its images' objects go after the commit, through the outbox (the media worker).
        for image in (await tx.images.of([product_id]))[product_id]:
            tx.record(events.image_event(ImageDeleted, image))
        await tx.products.delete(product)
        tx.record(events.product_event(ProductDeleted, product, stock.available))
        forget_after_commit(tx, rt.cache, [product_id])


async def import_products(
    *, rt: CatalogRuntime, items: Sequence[schemas.ProductCreate]
) -> list[uuid.UUID]:
    """Create many products in one transaction (bulk loads and demo data): all or none.

    The same rules and the same events as `create_product`, written a statement per
    table; rows are plain values, not ORM objects, which would cost more than the insert.
    """
    if not items:
        return []
    skus = [item.sku for item in items]
    if len(set(skus)) != len(skus):
        raise Conflict("The same SKU appears twice in the import")
    now = utcnow()
    products: list[dict[str, Any]] = []
    stock: list[dict[str, Any]] = []
    try:
        async with rt.uow.write() as tx:
            names = await tx.categories.names()
            for item in items:
                if item.category_id is not None and item.category_id not in names:
                    raise BadRequest(f"Unknown categoryId {item.category_id}")
                row = {
                    "id": uuid.uuid4(),
                    "sku": item.sku,
                    "name": item.name,
                    "description": item.description,
                    "price": item.price,
                    "currency": item.currency,
                    "category_id": item.category_id,
                    "search_category": names.get(item.category_id, "") if item.category_id else "",
                    "attributes": item.attributes,
                    "images": [str(url) for url in item.images],
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                products.append(row)
                stock.append(
                    {
                        "product_id": row["id"],
                        "available": item.stock,
                        "reserved": 0,
                        "updated_at": now,
                    }
                )
                tx.record(events.product_imported(row, item.stock))
            await tx.products.add_many(products, stock)
    except IntegrityError as exc:
        raise Conflict("A product with one of these SKUs already exists") from exc
    return [row["id"] for row in products]
