"""Use cases of the catalog: categories, products, stock, reservations, search."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.cache import Cache
from panthera.kernel.database import Database, utcnow
from panthera.kernel.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from panthera.kernel.events import Event
from panthera.kernel.outbox import Outbox
from panthera.services.catalog import events, schemas
from panthera.services.catalog.models import Category, Product, Stock
from panthera.services.catalog.repository import (
    CategoryRepository,
    ProductQuery,
    ProductRepository,
    ReservationRepository,
    StockRepository,
)
from panthera.services.catalog.search import SearchEngine
from panthera.services.catalog.settings import CatalogSettings

log = structlog.get_logger("panthera.catalog")


@dataclass(frozen=True)
class CatalogRuntime:
    """The collaborators the use cases need, built once when the service starts."""

    db: Database
    settings: CatalogSettings
    cache: Cache
    outbox: Outbox
    search: SearchEngine


# --- categories -------------------------------------------------------------------------


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:100].strip("-") or "category"


async def _category(session: AsyncSession, category_id: uuid.UUID) -> Category:
    category = await CategoryRepository(session).get(category_id)
    if category is None:
        raise NotFound("Category not found")
    return category


async def _parent(session: AsyncSession, parent_id: uuid.UUID | None) -> None:
    if parent_id is not None and await CategoryRepository(session).get(parent_id) is None:
        raise BadRequest(f"Unknown parentId {parent_id}")


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
        async with rt.db.transaction() as session:
            repo = CategoryRepository(session)
            await _parent(session, data.parent_id)
            if await repo.slug_taken(slug):
                raise Conflict(f"A category with slug {slug!r} already exists")
            repo.add(category)
    except IntegrityError as exc:
        raise Conflict(f"A category with slug {slug!r} already exists") from exc
    return category


async def get_category(*, rt: CatalogRuntime, category_id: uuid.UUID) -> Category:
    """One category."""
    async with rt.db.read() as session:
        return await _category(session, category_id)


async def get_categories(
    *, rt: CatalogRuntime, offset: int, limit: int
) -> tuple[int, list[Category]]:
    """A page of categories by name; `parentId` gives the tree."""
    async with rt.db.read() as session:
        return await CategoryRepository(session).list(offset=offset, limit=limit)


async def update_category(
    *, rt: CatalogRuntime, category_id: uuid.UUID, data: schemas.CategoryUpdate
) -> Category:
    """Rename, re-slug or move a category; it may not move under itself."""
    changes = data.model_dump(exclude_unset=True)
    for name in ("name", "slug"):
        if name in changes and changes[name] is None:
            del changes[name]
    try:
        async with rt.db.transaction() as session:
            repo = CategoryRepository(session)
            category = await _category(session, category_id)
            if "slug" in changes and await repo.slug_taken(changes["slug"], excluding=category_id):
                raise Conflict(f"A category with slug {changes['slug']!r} already exists")
            parent_id = changes.get("parent_id")
            if parent_id is not None:
                await _parent(session, parent_id)
                if await repo.is_within(parent_id, category_id):
                    raise BadRequest("A category cannot move under itself or its descendants")
            for name, value in changes.items():
                setattr(category, name, value)
            if changes:
                category.updated_at = utcnow()
                if "name" in changes:
                    await repo.rename_in_products(category_id, category.name)
    except IntegrityError as exc:
        raise Conflict("A category with this slug already exists") from exc
    return category


async def delete_category(*, rt: CatalogRuntime, category_id: uuid.UUID) -> None:
    """Delete a category that no product and no sub-category uses."""
    try:
        async with rt.db.transaction() as session:
            repo = CategoryRepository(session)
            category = await _category(session, category_id)
            reason = await repo.in_use(category_id)
            if reason:
                raise Conflict(f"The category is in use: {reason}")
            await repo.delete(category)
    except IntegrityError as exc:  # a product was filed under it meanwhile
        raise Conflict("The category is in use") from exc


# --- products ---------------------------------------------------------------------------


def etag(version: int) -> str:
    return f'"{version}"'


def to_read(product: Product, available: int) -> schemas.Product:
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
            "images": product.images,
            "available": available,
            "version": product.version,
            "created_at": product.created_at,
            "updated_at": product.updated_at,
        }
    )


def _cache_key(product_id: uuid.UUID) -> str:
    return f"product:{product_id}"


async def _forget(rt: CatalogRuntime, *product_ids: uuid.UUID) -> None:
    # Called after commit: invalidating earlier would let a reader re-cache the old row.
    await rt.cache.delete(*(_cache_key(pid) for pid in product_ids))


async def _category_name(session: AsyncSession, category_id: uuid.UUID | None) -> str:
    if category_id is None:
        return ""
    category = await CategoryRepository(session).get(category_id)
    if category is None:
        raise BadRequest(f"Unknown categoryId {category_id}")
    return category.name


def _sku_conflict(sku: str) -> Conflict:
    return Conflict(f"A product with SKU {sku!r} already exists")


async def create_product(*, rt: CatalogRuntime, data: schemas.ProductCreate) -> schemas.Product:
    """Add a product with its initial stock."""
    now = utcnow()
    product = Product(
        id=uuid.uuid4(),
        sku=data.sku,
        name=data.name,
        description=data.description,
        price=data.price,
        currency=data.currency,
        category_id=data.category_id,
        attributes=data.attributes,
        images=[str(url) for url in data.images],
        version=1,
        created_at=now,
        updated_at=now,
    )
    try:
        async with rt.db.transaction() as session:
            repo = ProductRepository(session)
            product.search_category = await _category_name(session, data.category_id)
            if await repo.sku_taken(product.sku):
                raise _sku_conflict(product.sku)
            stock = await repo.add(product, data.stock)
            await rt.outbox.record(
                session,
                events.PRODUCT_CREATED,
                subject=product.id,
                data=events.product_data(product, stock.available),
            )
    except IntegrityError as exc:
        raise _sku_conflict(product.sku) from exc
    return to_read(product, stock.available)


async def get_product(*, rt: CatalogRuntime, product_id: uuid.UUID) -> schemas.Product:
    """One product, from the cache when it is there."""
    cached = await rt.cache.get(_cache_key(product_id))
    if cached is not None:
        try:
            return schemas.Product.model_validate_json(cached)
        except ValueError:
            log.warning("cache_entry_unreadable", product_id=str(product_id))
    async with rt.db.read() as session:
        found = await ProductRepository(session).get(product_id)
    if found is None:
        raise NotFound("Product not found")
    product = to_read(found[0], found[1].available)
    await rt.cache.set(
        _cache_key(product_id),
        product.model_dump_json().encode(),
        ttl_seconds=rt.settings.cache_ttl_seconds,
    )
    return product


async def get_products(
    *, rt: CatalogRuntime, query: ProductQuery
) -> tuple[int, list[schemas.Product]]:
    """Search and filter products: relevance, price, recency or name order, a page at a time."""
    async with rt.db.read() as session:
        if (
            query.category_id is not None
            and await CategoryRepository(session).get(query.category_id) is None
        ):
            raise BadRequest(f"Unknown categoryId {query.category_id}")
        total, rows = await ProductRepository(session).find(query, rt.search)
    return total, [to_read(product, available) for product, available in rows]


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
        async with rt.db.transaction() as session:
            repo = ProductRepository(session)
            # Locked, so the version compared is the version replaced.
            found = await repo.get(product_id, for_update=True)
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
            if "sku" in changes and await repo.sku_taken(changes["sku"], excluding=product_id):
                raise _sku_conflict(changes["sku"])
            if "category_id" in changes:
                product.search_category = await _category_name(session, changes["category_id"])
            changed = {k: v for k, v in changes.items() if getattr(product, k) != v}
            if changed:
                for name, value in changed.items():
                    setattr(product, name, value)
                product.version += 1
                product.updated_at = utcnow()
                await session.flush()
                await rt.outbox.record(
                    session,
                    events.PRODUCT_UPDATED,
                    subject=product.id,
                    data={
                        **events.product_data(product, stock.available),
                        "changed": sorted(changed),
                    },
                )
    except IntegrityError as exc:
        raise _sku_conflict(str(changes.get("sku", ""))) from exc
    await _forget(rt, product_id)
    return to_read(product, stock.available)


async def delete_product(*, rt: CatalogRuntime, product_id: uuid.UUID) -> None:
    """Remove a product and its stock."""
    async with rt.db.transaction() as session:
        repo = ProductRepository(session)
        found = await repo.get(product_id, for_update=True)
        if found is None:
            raise NotFound("Product not found")
        await repo.delete(found[0])
        await rt.outbox.record(
            session,
            events.PRODUCT_DELETED,
            subject=product_id,
            data={"productId": str(product_id), "sku": found[0].sku},
        )
    await _forget(rt, product_id)


async def count_products(*, rt: CatalogRuntime) -> int:
    """How many products the catalog holds."""
    async with rt.db.read() as session:
        return await ProductRepository(session).count()


def _envelope(rt: CatalogRuntime, type: str, subject: uuid.UUID, data: dict[str, Any]) -> Event:
    event = Event(
        id=uuid.uuid4(),
        type=type,
        occurredAt=datetime.now(UTC),
        source=rt.outbox.source,
        subject=str(subject),
        data=data,
    )
    event.attach_trace_context()
    return event


async def import_products(
    *, rt: CatalogRuntime, items: Sequence[schemas.ProductCreate]
) -> list[uuid.UUID]:
    """Create many products in one transaction (bulk loads and demo data): all or none.

    The same rules and the same events as `create_product`, written in batches.
    """
    if not items:
        return []
    now = utcnow()
    products: list[dict[str, Any]] = []
    stock: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    skus = [item.sku for item in items]
    if len(set(skus)) != len(skus):
        raise Conflict("The same SKU appears twice in the import")
    try:
        async with rt.db.transaction() as session:
            names = await CategoryRepository(session).names()
            for item in items:
                if item.category_id is not None and item.category_id not in names:
                    raise BadRequest(f"Unknown categoryId {item.category_id}")
                product = Product(
                    id=uuid.uuid4(),
                    sku=item.sku,
                    name=item.name,
                    description=item.description,
                    price=item.price,
                    currency=item.currency,
                    category_id=item.category_id,
                    search_category=names.get(item.category_id, "") if item.category_id else "",
                    attributes=item.attributes,
                    images=[str(url) for url in item.images],
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                products.append(_columns(product))
                stock.append(
                    {
                        "product_id": product.id,
                        "available": item.stock,
                        "reserved": 0,
                        "updated_at": now,
                    }
                )
                event = _envelope(
                    rt, events.PRODUCT_CREATED, product.id, events.product_data(product, item.stock)
                )
                outbox.append(
                    {
                        "event_id": event.id,
                        "type": event.type,
                        "subject": event.subject,
                        "envelope": event.model_dump(mode="json"),
                        "occurred_at": event.occurredAt,
                    }
                )
            await ProductRepository(session).add_many(products, stock)
            await session.execute(rt.outbox.table.insert(), outbox)
    except IntegrityError as exc:
        raise Conflict("A product with one of these SKUs already exists") from exc
    return [row["id"] for row in products]


def _columns(product: Product) -> dict[str, Any]:
    return {
        name: getattr(product, name)
        for name in (
            "id",
            "sku",
            "name",
            "description",
            "price",
            "currency",
            "category_id",
            "search_category",
            "attributes",
            "images",
            "version",
            "created_at",
            "updated_at",
        )
    }


# --- stock ------------------------------------------------------------------------------


async def get_stock(*, rt: CatalogRuntime, product_id: uuid.UUID) -> Stock:
    """A product's available and reserved stock."""
    async with rt.db.read() as session:
        stock = await StockRepository(session).get(product_id)
    if stock is None:
        raise NotFound("Product not found")
    return stock


async def set_stock(*, rt: CatalogRuntime, product_id: uuid.UUID, available: int) -> Stock:
    """Set what can be sold now (a stock count); reservations already held are kept."""
    async with rt.db.transaction() as session:
        repo = StockRepository(session)
        levels = await repo.set_available(product_id, available)
        if levels is None:
            raise NotFound("Product not found")
        await rt.outbox.record(
            session,
            events.STOCK_CHANGED,
            subject=product_id,
            data=events.stock_data(product_id, *levels),
        )
        stock = Stock(product_id=product_id, available=levels[0], reserved=levels[1])
    await _forget(rt, product_id)
    return stock


ReservationStatus = Literal["reserved", "rejected", "released", "committed"]


@dataclass(frozen=True)
class ReservationOutcome:
    """An order's hold on stock as it stands after the call."""

    order_id: str
    status: ReservationStatus
    lines: dict[uuid.UUID, int] = field(default_factory=dict)
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "reserved"


class _Shortage(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _checked_lines(order_id: str, lines: Mapping[uuid.UUID, int]) -> dict[uuid.UUID, int]:
    if not order_id or len(order_id) > 64:
        raise BadRequest("An order id is 1 to 64 characters")
    if not lines:
        raise BadRequest("A reservation needs at least one line")
    for product_id, quantity in lines.items():
        if not 1 <= quantity <= schemas.MAX_QUANTITY:
            raise BadRequest(
                f"Quantity of {product_id} must be between 1 and {schemas.MAX_QUANTITY}"
            )
    # One order, one lock order: sorted ids keep two orders from deadlocking on PostgreSQL.
    return dict(sorted(lines.items(), key=lambda line: str(line[0])))


async def _outcome(session: AsyncSession, order_id: str) -> ReservationOutcome | None:
    found = await ReservationRepository(session).get(order_id)
    if found is None:
        return None
    reservation, lines = found
    status: ReservationStatus = reservation.status  # type: ignore[assignment]
    return ReservationOutcome(order_id, status, lines, reservation.reason)


async def reserve(
    *, rt: CatalogRuntime, order_id: str, lines: Mapping[uuid.UUID, int]
) -> ReservationOutcome:
    """Hold stock for every line of an order, or for none; repeated calls answer the same.

    A shortage is an outcome (`rejected`, with a reason), not an error: the
    saga reacts to it. The decision is stored, so a redelivered request never
    reserves twice nor turns a rejection into a late success.
    """
    wanted = _checked_lines(order_id, lines)
    try:
        async with rt.db.transaction() as session:
            outcome = await reserve_in(session, rt=rt, order_id=order_id, lines=wanted)
    except IntegrityError:  # the same order was reserved concurrently; its answer stands
        async with rt.db.read() as session:
            existing = await _outcome(session, order_id)
        if existing is None:
            raise
        return existing
    await _forget(rt, *outcome.lines)
    return outcome


async def reserve_in(
    session: AsyncSession, *, rt: CatalogRuntime, order_id: str, lines: Mapping[uuid.UUID, int]
) -> ReservationOutcome:
    """`reserve` inside the caller's transaction (an event handler's, with its inbox row)."""
    wanted = _checked_lines(order_id, lines)
    existing = await _outcome(session, order_id)
    if existing is not None:
        return existing
    try:
        # A savepoint: on a shortage, the lines already taken go back untouched.
        async with session.begin_nested():
            stock = StockRepository(session)
            for product_id, quantity in wanted.items():
                levels = await stock.take(product_id, quantity)
                if levels is None:
                    known = await stock.get(product_id) is not None
                    raise _Shortage(
                        f"out of stock: {product_id}" if known else f"unknown product: {product_id}"
                    )
                await rt.outbox.record(
                    session,
                    events.STOCK_CHANGED,
                    subject=product_id,
                    data=events.stock_data(product_id, *levels),
                )
            await ReservationRepository(session).add(order_id, "reserved", wanted)
            await rt.outbox.record(
                session,
                events.STOCK_RESERVED,
                subject=order_id,
                data=events.reservation_data(order_id, wanted),
            )
    except _Shortage as shortage:
        return await _reject_in(session, rt, order_id, wanted, shortage.reason)
    return ReservationOutcome(order_id, "reserved", wanted)


async def _reject_in(
    session: AsyncSession,
    rt: CatalogRuntime,
    order_id: str,
    wanted: Mapping[uuid.UUID, int],
    reason: str,
) -> ReservationOutcome:
    await ReservationRepository(session).add(order_id, "rejected", {}, reason=reason)
    await rt.outbox.record(
        session,
        events.STOCK_RESERVATION_REJECTED,
        subject=order_id,
        data=events.reservation_data(order_id, dict(wanted), reason),
    )
    return ReservationOutcome(order_id, "rejected", {}, reason)


async def reject_in(
    session: AsyncSession, *, rt: CatalogRuntime, order_id: str, reason: str
) -> ReservationOutcome:
    """Record that an order cannot be served at all (e.g. its lines are malformed)."""
    existing = await _outcome(session, order_id)
    if existing is not None:
        return existing
    return await _reject_in(session, rt, order_id[:64], {}, reason)


async def release(*, rt: CatalogRuntime, order_id: str) -> ReservationOutcome | None:
    """Return an order's stock to sale; None if the order never reserved any.

    Held units go back from reserved; units already sold (committed) come back
    as a return. Releasing twice, or releasing a rejected order, changes nothing.
    """
    async with rt.db.transaction() as session:
        outcome = await settle_in(session, rt=rt, order_id=order_id, target="released")
    if outcome is not None:
        await _forget(rt, *outcome.lines)
    return outcome


async def commit(*, rt: CatalogRuntime, order_id: str) -> ReservationOutcome:
    """Turn an order's reservation into a sale: the reserved units leave the stock."""
    async with rt.db.transaction() as session:
        outcome = await settle_in(session, rt=rt, order_id=order_id, target="committed")
    if outcome is None:
        raise NotFound(f"No reservation for order {order_id}")
    await _forget(rt, *outcome.lines)
    return outcome


_SETTLE_FROM: dict[str, tuple[str, ...]] = {
    "released": ("reserved", "committed"),
    "committed": ("reserved",),
}


async def settle_in(
    session: AsyncSession,
    *,
    rt: CatalogRuntime,
    order_id: str,
    target: Literal["released", "committed"],
) -> ReservationOutcome | None:
    """`release` or `commit` inside the caller's transaction; None for an unknown order."""
    current = await _outcome(session, order_id)
    reservations = ReservationRepository(session)
    if current is None and target == "released":
        # Events of one order may arrive out of order (redeliveries, replicas): an order
        # ended before its reservation leaves a mark, so a late one never holds stock.
        await reservations.add(order_id, "released", {}, reason="ended before any reservation")
        return None
    if current is None or current.status == target:
        return current
    moved = current.status in _SETTLE_FROM[target] and await reservations.move(
        order_id, current.status, target, utcnow()
    )
    if not moved:
        # Either it cannot go there, or a concurrent call settled it first.
        session.expire_all()
        latest = await _outcome(session, order_id)
        assert latest is not None
        if latest.status == target or (target == "released" and latest.status == "rejected"):
            return latest
        raise Conflict(f"The reservation of order {order_id} is already {latest.status}")
    stock = StockRepository(session)
    for product_id, quantity in current.lines.items():
        if target == "committed":
            levels = await stock.sell(product_id, quantity)
        elif current.status == "committed":
            levels = await stock.restock(product_id, quantity)
        else:
            levels = await stock.give_back(product_id, quantity)
        if levels is None:  # the product was deleted meanwhile: nothing left to move
            continue
        await rt.outbox.record(
            session,
            events.STOCK_CHANGED,
            subject=product_id,
            data=events.stock_data(product_id, *levels),
        )
    await rt.outbox.record(
        session,
        events.STOCK_RELEASED if target == "released" else events.STOCK_COMMITTED,
        subject=order_id,
        data=events.reservation_data(order_id, current.lines),
    )
    return ReservationOutcome(order_id, target, current.lines, current.reason)
