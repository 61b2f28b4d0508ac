"""In-memory repositories of the catalog, for unit tests of its use cases without a database.

They keep the rules the use cases rely on (unique decisions per order, bounded
stock moves, savepoints that undo); what only a database can show (isolation,
constraints under concurrency, search) is tested on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.cache import MemoryCache
from panthera.kernel.fakes import FakeUnitOfWork
from panthera.kernel.outbox import Outbox
from panthera.kernel.uow import Transaction
from panthera.services.catalog.media_store import DirectoryMediaStore
from panthera.services.catalog.models import (
    Category,
    Product,
    ProductImage,
    ReservationStatus,
    Stock,
)
from panthera.services.catalog.repository import (
    CatalogTx,
    Levels,
    ProductQuery,
    ReservationState,
)
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.search import SearchEngine, SqliteSearch
from panthera.services.catalog.settings import CatalogSettings


@dataclass
class Store:
    """What the catalog's database would hold."""

    categories: dict[uuid.UUID, Category] = field(default_factory=dict)
    products: dict[uuid.UUID, Product] = field(default_factory=dict)
    levels: dict[uuid.UUID, Levels] = field(default_factory=dict)
    reservations: dict[str, ReservationState] = field(default_factory=dict)
    images: dict[uuid.UUID, ProductImage] = field(default_factory=dict)

    def copy(self) -> Store:
        # Savepoints wrap stock moves and decisions: their values are immutable tuples
        # and frozen records, so copying the dicts is a full snapshot of them.
        return replace(
            self,
            categories=dict(self.categories),
            products=dict(self.products),
            levels=dict(self.levels),
            reservations=dict(self.reservations),
            images=dict(self.images),
        )


class FakeSession:
    """The one part of a session a `Transaction` uses by itself: savepoints."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        saved = self.store.copy()
        try:
            yield
        except BaseException:
            self.store.categories = saved.categories
            self.store.products = saved.products
            self.store.levels = saved.levels
            self.store.reservations = saved.reservations
            raise


class FakeCategories:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, category_id: uuid.UUID) -> Category | None:
        return self.store.categories.get(category_id)

    async def slug_taken(self, slug: str, excluding: uuid.UUID | None = None) -> bool:
        return any(c.slug == slug and c.id != excluding for c in self.store.categories.values())

    async def list(self, *, offset: int, limit: int) -> tuple[int, list[Category]]:
        ordered = sorted(self.store.categories.values(), key=lambda c: (c.name, str(c.id)))
        return len(ordered), ordered[offset : offset + limit]

    async def names(self) -> dict[uuid.UUID, str]:
        return {c.id: c.name for c in self.store.categories.values()}

    async def is_within(self, candidate: uuid.UUID, root: uuid.UUID) -> bool:
        current: uuid.UUID | None = candidate
        while current is not None:
            if current == root:
                return True
            current = self.store.categories[current].parent_id
        return False

    async def in_use(self, category_id: uuid.UUID) -> str | None:
        if any(c.parent_id == category_id for c in self.store.categories.values()):
            return "it has sub-categories"
        if any(p.category_id == category_id for p in self.store.products.values()):
            return "products belong to it"
        return None

    async def rename_in_products(self, category_id: uuid.UUID, name: str) -> None:
        for product in self.store.products.values():
            if product.category_id == category_id:
                product.search_category = name

    def add(self, category: Category) -> None:
        self.store.categories[category.id] = category

    async def delete(self, category: Category) -> None:
        del self.store.categories[category.id]


def _stock(store: Store, product_id: uuid.UUID) -> Stock | None:
    if product_id not in store.levels:
        return None
    available, reserved = store.levels[product_id]
    return Stock(product_id=product_id, available=available, reserved=reserved)


class FakeProducts:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(
        self, product_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[Product, Stock] | None:
        product = self.store.products.get(product_id)
        stock = _stock(self.store, product_id)
        return None if product is None or stock is None else (product, stock)

    async def sku_taken(self, sku: str, excluding: uuid.UUID | None = None) -> bool:
        return any(p.sku == sku and p.id != excluding for p in self.store.products.values())

    async def count(self) -> int:
        return len(self.store.products)

    async def add(self, product: Product, available: int) -> Stock:
        self.store.products[product.id] = product
        self.store.levels[product.id] = (available, 0)
        return Stock(product_id=product.id, available=available, reserved=0)

    async def add_many(
        self, products: Sequence[dict[str, Any]], stock: Sequence[dict[str, Any]]
    ) -> None:
        for row in products:
            self.store.products[row["id"]] = Product(**row)
        for row in stock:
            self.store.levels[row["product_id"]] = (row["available"], row["reserved"])

    async def delete(self, product: Product) -> None:
        del self.store.products[product.id]
        del self.store.levels[product.id]

    async def find(
        self, query: ProductQuery, engine: SearchEngine
    ) -> tuple[int, list[tuple[Product, int]]]:
        raise NotImplementedError("search is the databases' own: tested on SQLite and PostgreSQL")


class FakeStockLevels:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, product_id: uuid.UUID) -> Stock | None:
        return _stock(self.store, product_id)

    def _change(self, product_id: uuid.UUID, available: int, reserved: int) -> Levels | None:
        if product_id not in self.store.levels:
            return None
        now_available, now_reserved = self.store.levels[product_id]
        levels = (now_available + available, now_reserved + reserved)
        if min(levels) < 0:
            return None
        self.store.levels[product_id] = levels
        return levels

    async def set_available(self, product_id: uuid.UUID, available: int) -> Levels | None:
        if product_id not in self.store.levels:
            return None
        return self._change(product_id, available - self.store.levels[product_id][0], 0)

    async def take(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        return self._change(product_id, -quantity, quantity)

    async def give_back(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        return self._change(product_id, quantity, -quantity)

    async def restock(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        return self._change(product_id, quantity, 0)

    async def sell(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        return self._change(product_id, 0, -quantity)


class FakeReservations:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, order_id: str) -> ReservationState | None:
        return self.store.reservations.get(order_id)

    async def add(self, state: ReservationState) -> bool:
        if state.order_id in self.store.reservations:
            return False
        self.store.reservations[state.order_id] = state
        return True

    async def move(
        self, order_id: str, source: ReservationStatus, target: ReservationStatus
    ) -> bool:
        state = self.store.reservations.get(order_id)
        if state is None or state.status != source:
            return False
        self.store.reservations[order_id] = replace(state, status=target)
        return True


class FakeProductImages:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def of(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ProductImage]]:
        found: dict[uuid.UUID, list[ProductImage]] = {pid: [] for pid in product_ids}
        for image in sorted(self.store.images.values(), key=lambda i: i.position):
            if image.product_id in found:
                found[image.product_id].append(image)
        return found

    async def get(self, product_id: uuid.UUID, image_id: uuid.UUID) -> ProductImage | None:
        image = self.store.images.get(image_id)
        return image if image is not None and image.product_id == product_id else None

    def add(self, image: ProductImage) -> None:
        self.store.images[image.id] = image

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.add(ProductImage(**row))

    async def delete(self, images: Sequence[ProductImage]) -> None:
        for image in images:
            self.store.images.pop(image.id, None)

    async def in_use(self, digest: str) -> bool:
        return any(i.digest == digest for i in self.store.images.values())

    async def digests(self) -> set[str]:
        return {i.digest for i in self.store.images.values()}

    async def underived(self, limit: int) -> list[tuple[str, str]]:
        waiting = {(i.digest, i.extension) for i in self.store.images.values() if not i.variants}
        return sorted(waiting)[:limit]

    async def mark_derived(self, digest: str, variants: list[dict[str, Any]]) -> int:
        changed = [i for i in self.store.images.values() if i.digest == digest and not i.variants]
        for image in changed:
            image.variants = variants
        return len(changed)


class FakeCatalogTx(CatalogTx):
    def __init__(self, store: Store, outbox: Outbox | None, *, writable: bool) -> None:
        Transaction.__init__(
            self, cast(AsyncSession, FakeSession(store)), outbox, writable=writable
        )
        self.categories = FakeCategories(store)
        self.products = FakeProducts(store)
        self.stock = FakeStockLevels(store)
        self.reservations = FakeReservations(store)
        self.images = FakeProductImages(store)


@dataclass
class FakeCatalog:
    """A catalog runtime on in-memory repositories, and what its unit of work published."""

    store: Store
    uow: FakeUnitOfWork[CatalogTx]
    rt: CatalogRuntime


def fake_catalog(store: Store | None = None, *, media: Path | None = None) -> FakeCatalog:
    """`media`: the folder of its media store (unit tests that touch no image give none)."""
    store = store or Store()

    def transaction(_session: object, outbox: Outbox | None, *, writable: bool) -> CatalogTx:
        return FakeCatalogTx(store, outbox, writable=writable)

    uow = FakeUnitOfWork(transaction)
    rt = CatalogRuntime(
        uow=uow,
        settings=CatalogSettings(),
        cache=MemoryCache(),
        search=SqliteSearch(),
        media=DirectoryMediaStore(media or Path("media")),
    )
    return FakeCatalog(store=store, uow=uow, rt=rt)
