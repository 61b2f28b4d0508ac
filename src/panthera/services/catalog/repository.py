"""Data access for categories, products, stock and reservations, behind small interfaces.

The use cases see the interfaces (`Categories`, `Products`, `StockLevels`,
`Reservations`) as attributes of a `CatalogTx`; the SQL implementations below
serve SQLite and PostgreSQL, and the unit tests give in-memory fakes instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.contracts.catalog import StockRejectionReason
from panthera.kernel.database import utcnow
from panthera.kernel.outbox import Outbox
from panthera.kernel.uow import Transaction, UnitOfWork
from panthera.services.catalog.models import (
    Category,
    Product,
    ProductImage,
    Reservation,
    ReservationLine,
    ReservationStatus,
    Stock,
)
from panthera.services.catalog.search import Matched, SearchEngine

Levels = tuple[int, int]
"""A product's stock after a change: (available, reserved)."""


@dataclass(frozen=True)
class ProductQuery:
    """What a shopper asks of the catalog; validated by the API before it gets here."""

    search: str | None = None
    category_id: uuid.UUID | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    stock_below: int | None = None
    currency: str | None = None
    sort: str | None = None
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True)
class ReservationState:
    """An order's decision as stored: its status, the units it holds, why it was refused."""

    order_id: str
    status: ReservationStatus
    lines: dict[uuid.UUID, int] = field(default_factory=dict)
    reason: StockRejectionReason | None = None


class Categories(Protocol):
    async def get(self, category_id: uuid.UUID) -> Category | None: ...

    async def slug_taken(self, slug: str, excluding: uuid.UUID | None = None) -> bool: ...

    async def list(self, *, offset: int, limit: int) -> tuple[int, list[Category]]: ...

    async def names(self) -> dict[uuid.UUID, str]:
        """Every category's name by id."""
        ...

    async def is_within(self, candidate: uuid.UUID, root: uuid.UUID) -> bool:
        """Whether `candidate` is `root` or one of its descendants."""
        ...

    async def in_use(self, category_id: uuid.UUID) -> str | None:
        """What still depends on a category, if anything."""
        ...

    async def rename_in_products(self, category_id: uuid.UUID, name: str) -> None:
        """Keep the products' copy of the category name (searched) current."""
        ...

    def add(self, category: Category) -> None: ...

    async def delete(self, category: Category) -> None: ...


class Products(Protocol):
    async def get(
        self, product_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[Product, Stock] | None:
        """A product and its stock; `for_update` locks the product until the commit."""
        ...

    async def sku_taken(self, sku: str, excluding: uuid.UUID | None = None) -> bool: ...

    async def count(self) -> int: ...

    async def add(self, product: Product, available: int) -> Stock: ...

    async def add_many(
        self, products: Sequence[dict[str, Any]], stock: Sequence[dict[str, Any]]
    ) -> None:
        """Insert rows of products and of their stock, a statement each (bulk loads)."""
        ...

    async def delete(self, product: Product) -> None: ...

    async def find(
        self, query: ProductQuery, engine: SearchEngine
    ) -> tuple[int, list[tuple[Product, int]]]:
        """A page of matching products with their available stock, and the total."""
        ...


class ProductImages(Protocol):
    async def of(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ProductImage]]:
        """The images of these products, each product's in order."""
        ...

    async def get(self, product_id: uuid.UUID, image_id: uuid.UUID) -> ProductImage | None: ...

    def add(self, image: ProductImage) -> None: ...

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None: ...

    async def delete(self, images: Sequence[ProductImage]) -> None: ...

    async def in_use(self, digest: str) -> bool:
        """Whether any image still shows the picture named `digest`."""
        ...

    async def digests(self) -> set[str]:
        """Every picture some image shows (the garbage collector keeps these)."""
        ...

    async def underived(self, limit: int) -> list[tuple[str, str]]:
        """(digest, extension) of pictures whose sizes are not derived yet."""
        ...

    async def mark_derived(self, digest: str, variants: list[dict[str, Any]]) -> int:
        """Record the derived sizes on every image showing `digest`; how many changed."""
        ...


class StockLevels(Protocol):
    """Each change checks its bound in the same step: None means refused (or unknown)."""

    async def get(self, product_id: uuid.UUID) -> Stock | None: ...

    async def set_available(self, product_id: uuid.UUID, available: int) -> Levels | None: ...

    async def take(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        """Move `quantity` from available to reserved, if that much is available."""
        ...

    async def give_back(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        """Move `quantity` from reserved back to available."""
        ...

    async def restock(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        """Put sold units back on sale (an order cancelled after its sale)."""
        ...

    async def sell(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        """Remove `quantity` from reserved: it has left the warehouse."""
        ...


class Reservations(Protocol):
    async def get(self, order_id: str) -> ReservationState | None:
        """The order's decision as committed (or made in this transaction)."""
        ...

    async def add(self, state: ReservationState) -> bool:
        """Store an order's decision; False if the order already has one.

        A concurrent transaction deciding the same order is waited for, so that
        of two racing decisions exactly one is stored.
        """
        ...

    async def move(
        self, order_id: str, source: ReservationStatus, target: ReservationStatus
    ) -> bool:
        """Change the status only from `source`: of two racing moves, one wins."""
        ...


class CatalogTx(Transaction):
    """One catalog transaction and the repositories that work in it."""

    categories: Categories
    products: Products
    stock: StockLevels
    reservations: Reservations
    images: ProductImages

    def __init__(self, session: AsyncSession, outbox: Outbox | None, *, writable: bool) -> None:
        super().__init__(session, outbox, writable=writable)
        self.categories = SqlCategories(session)
        self.products = SqlProducts(session)
        self.stock = SqlStockLevels(session)
        self.reservations = SqlReservations(session)
        self.images = SqlProductImages(session)


CatalogUoW = UnitOfWork[CatalogTx]


class SqlCategories:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, category_id: uuid.UUID) -> Category | None:
        return await self.session.get(Category, category_id)

    async def slug_taken(self, slug: str, excluding: uuid.UUID | None = None) -> bool:
        query = sa.select(Category.id).where(Category.slug == slug)
        if excluding is not None:
            query = query.where(Category.id != excluding)
        return (await self.session.scalar(query.limit(1))) is not None

    async def list(self, *, offset: int, limit: int) -> tuple[int, list[Category]]:
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(Category))
        rows = await self.session.scalars(
            sa.select(Category).order_by(Category.name, Category.id).offset(offset).limit(limit)
        )
        return int(total or 0), list(rows)

    async def names(self) -> dict[uuid.UUID, str]:
        rows = await self.session.execute(sa.select(Category.id, Category.name))
        return {row.id: row.name for row in rows}

    async def is_within(self, candidate: uuid.UUID, root: uuid.UUID) -> bool:
        tree = subtree(root)
        found = await self.session.scalar(sa.select(tree.c.id).where(tree.c.id == candidate))
        return found is not None

    async def in_use(self, category_id: uuid.UUID) -> str | None:
        if await self.session.scalar(
            sa.select(Category.id).where(Category.parent_id == category_id).limit(1)
        ):
            return "it has sub-categories"
        if await self.session.scalar(
            sa.select(Product.pk).where(Product.category_id == category_id).limit(1)
        ):
            return "products belong to it"
        return None

    async def rename_in_products(self, category_id: uuid.UUID, name: str) -> None:
        await self.session.execute(
            sa.update(Product)
            .where(Product.category_id == category_id)
            .values(search_category=name)
        )

    def add(self, category: Category) -> None:
        self.session.add(category)

    async def delete(self, category: Category) -> None:
        await self.session.delete(category)


def subtree(root: uuid.UUID) -> sa.CTE:
    """The ids of a category and all of its descendants."""
    tree = (
        sa.select(Category.id)
        .where(Category.id == root)
        .cte(f"tree_{root.hex[:8]}", recursive=True)
    )
    return tree.union_all(sa.select(Category.id).where(Category.parent_id == tree.c.id))


class SqlProducts:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, product_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[Product, Stock] | None:
        query = (
            sa.select(Product, Stock)
            .join(Stock, Stock.product_id == Product.id)
            .where(Product.id == product_id)
        )
        if for_update:
            query = query.with_for_update(of=Product)
        row = (await self.session.execute(query)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def sku_taken(self, sku: str, excluding: uuid.UUID | None = None) -> bool:
        query = sa.select(Product.pk).where(Product.sku == sku)
        if excluding is not None:
            query = query.where(Product.id != excluding)
        return (await self.session.scalar(query.limit(1))) is not None

    async def count(self) -> int:
        return int(await self.session.scalar(sa.select(sa.func.count(Product.pk))) or 0)

    async def add(self, product: Product, available: int) -> Stock:
        self.session.add(product)
        await self.session.flush()
        stock = Stock(product_id=product.id, available=available, reserved=0, updated_at=utcnow())
        self.session.add(stock)
        await self.session.flush()
        return stock

    async def add_many(
        self, products: Sequence[dict[str, Any]], stock: Sequence[dict[str, Any]]
    ) -> None:
        await self.session.execute(sa.insert(Product), list(products))
        await self.session.execute(sa.insert(Stock), list(stock))

    async def delete(self, product: Product) -> None:
        await self.session.execute(
            sa.delete(ProductImage)
            .where(ProductImage.product_id == product.id)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(sa.delete(Stock).where(Stock.product_id == product.id))
        await self.session.delete(product)

    async def find(
        self, query: ProductQuery, engine: SearchEngine
    ) -> tuple[int, list[tuple[Product, int]]]:
        if query.search is None:
            return await self._find(query, None)
        matched = engine.matches(query.search)
        if matched is None:
            return 0, []
        total, found = await self._find(query, matched)
        if total == 0:
            # Nothing has every word: perhaps a typo, so try names that look alike.
            similar = engine.resembles(query.search)
            if similar is not None:
                return await self._find(query, similar)
        return total, found

    async def _find(
        self, query: ProductQuery, matched: Matched | None
    ) -> tuple[int, list[tuple[Product, int]]]:
        # Narrow steps instead of one wide query: the exact total, counted on the
        # tables the filters need; the page's keys in order, so indexes can serve
        # them; then the rows of that page only.
        tree = None
        if query.category_id is not None:
            # Ids, not a recursive subquery: planners can estimate how many products
            # a list of categories holds, and choose their index for it.
            tree = list(await self.session.scalars(sa.select(subtree(query.category_id).c.id)))
        page_keys = _page_keys(query, tree, matched)
        if matched is not None and matched.count_while_ranking:
            # No index can count these matches alone: count them in the pass that
            # orders them rather than visiting every matching row twice.
            page = (
                await self.session.execute(
                    page_keys.add_columns(sa.func.count().over())
                    .offset(query.offset)
                    .limit(query.limit)
                )
            ).all()
            if page:
                return int(page[0][1]), await self._rows([row[0] for row in page])
            if not query.offset:
                return 0, []
        total = await self.session.scalar(_count(query, tree, matched))
        if not total or query.offset >= total:
            return int(total or 0), []
        keys = list(await self.session.scalars(page_keys.offset(query.offset).limit(query.limit)))
        return int(total), await self._rows(keys)

    async def _rows(self, keys: Sequence[int]) -> list[tuple[Product, int]]:
        """The products of `keys` with their available stock, in the order of `keys`."""
        if not keys:
            return []
        # Outer join: every product has its stock row, but were one missing, the page
        # would still hold every product counted (as none available), never fewer.
        rows = await self.session.execute(
            sa.select(Product, sa.func.coalesce(Stock.available, 0))
            .outerjoin(Stock, Stock.product_id == Product.id)
            .where(Product.pk.in_(keys))
        )
        found = {row[0].pk: (row[0], int(row[1])) for row in rows}
        return [found[key] for key in keys if key in found]


Tree = list[uuid.UUID] | None
"""The ids of the category asked for and of its descendants; None: any category."""


def _product_filters(query: ProductQuery, tree: Tree) -> list[sa.ColumnElement[bool]]:
    filters: list[sa.ColumnElement[bool]] = []
    if tree is not None:
        filters.append(Product.category_id.in_(tree))
    if query.min_price is not None:
        filters.append(Product.price >= query.min_price)
    if query.max_price is not None:
        filters.append(Product.price <= query.max_price)
    if query.currency is not None:
        filters.append(Product.currency == query.currency)
    return filters


def _stock_filters(query: ProductQuery) -> list[sa.ColumnElement[bool]]:
    filters: list[sa.ColumnElement[bool]] = []
    if query.in_stock is True:
        filters.append(Stock.available > 0)
    elif query.in_stock is False:
        filters.append(Stock.available == 0)
    if query.stock_below is not None:
        filters.append(Stock.available < query.stock_below)
    return filters


def _count(query: ProductQuery, tree: Tree, matched: Matched | None) -> sa.Select[int]:
    """The exact number of matching products, reading only the tables the filters need.

    Every product has exactly one stock row (created in its transaction, deleted
    with it, the foreign key cascading), so a filter on stock alone counts stock
    rows and a filter on products alone never joins stock.
    """
    on_products = _product_filters(query, tree)
    on_stock = _stock_filters(query)
    count = sa.select(sa.func.count())
    if matched is not None:
        if not on_products and not on_stock:
            # The search index alone knows how many rows match.
            return count.select_from(matched.keys)
        on_products.append(matched.where)
    if on_products and on_stock:
        count = count.select_from(Product).join(Stock, Stock.product_id == Product.id)
    elif on_stock:
        return count.select_from(Stock).where(*on_stock)
    else:
        count = count.select_from(Product)
    return count.where(*on_products, *on_stock)


def _page_keys(query: ProductQuery, tree: Tree, matched: Matched | None) -> sa.Select[int]:
    """The matching products' keys in the requested order, not yet cut to a page."""
    sort = query.sort or ("relevance" if matched is not None else "newest")
    on_products = _product_filters(query, tree)
    on_stock = _stock_filters(query)
    key: sa.ColumnElement[Any] = Product.__table__.c.pk
    if matched is not None and sort == "relevance":
        if matched.rank is not None:
            # The engine ranks a products row in place: one table, no join.
            keys = sa.select(Product.pk).where(matched.where)
            rank = matched.rank
        elif on_products or on_stock:
            keys = sa.select(Product.pk).join(matched.ranked, matched.ranked.c.pk == Product.pk)
            rank = matched.ranked.c.rank
        else:
            # Nothing but the words: the search index alone orders the page.
            keys = sa.select(matched.ranked.c.pk)
            rank, key = matched.ranked.c.rank, matched.ranked.c.pk
        order: list[Any] = [rank.desc(), key.desc()]
    elif matched is not None:
        # Search first, then sort the matches by columns carried along.
        found = sa.select(
            Product.pk, Product.id, Product.price, Product.name, Product.created_at
        ).where(matched.where, *on_products)
        hits = (
            found.cte("hits").prefix_with("MATERIALIZED")
            if matched.materialize
            else found.subquery("hits")
        )
        keys = sa.select(hits.c.pk)
        if on_stock or sort == "available":
            keys = keys.join(Stock, Stock.product_id == hits.c.id)
        return keys.where(*on_stock).order_by(*_ordering(sort, hits.c))
    else:
        keys = sa.select(Product.pk)
        # A category tree holds a few thousand products: sorting them from its index
        # beats walking a sort index across the catalog, which SQLite's planner
        # prefers because it cannot tell how many products a tree holds.
        order = _ordering(sort, Product.__table__.c, walk_sort_index=tree is None)
    if on_stock or sort == "available":
        keys = keys.join(Stock, Stock.product_id == Product.id)
    return keys.where(*on_products, *on_stock).order_by(*order)


def _ordering(
    sort: str, columns: sa.ColumnCollection[str, Any], *, walk_sort_index: bool = True
) -> list[Any]:
    """The order of `sort` on `columns` (the products table's, or a search's carried along)."""
    # Every order ends on the key, so that pages never repeat or skip a product.
    # `price + 0` orders the same but keeps a planner from walking the price index.
    pk, price, name = columns["pk"], columns["price"], columns["name"]
    if not walk_sort_index:
        price, name = price + 0, name + ""
    if sort == "price":
        return [price.asc(), pk.asc()]
    if sort == "-price":
        return [price.desc(), pk.desc()]
    if sort == "name":
        return [name.asc(), pk.asc()]
    if sort == "available":
        return [Stock.available.asc(), pk.asc()]
    return [columns["created_at"].desc(), pk.desc()]


class SqlProductImages:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ProductImage]]:
        found: dict[uuid.UUID, list[ProductImage]] = {pid: [] for pid in product_ids}
        if not product_ids:
            return found
        rows = await self.session.scalars(
            sa.select(ProductImage)
            .where(ProductImage.product_id.in_(list(product_ids)))
            .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
        )
        for image in rows:
            found[image.product_id].append(image)
        return found

    async def get(self, product_id: uuid.UUID, image_id: uuid.UUID) -> ProductImage | None:
        image = await self.session.get(ProductImage, image_id)
        return image if image is not None and image.product_id == product_id else None

    def add(self, image: ProductImage) -> None:
        self.session.add(image)

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(sa.insert(ProductImage), list(rows))

    async def delete(self, images: Sequence[ProductImage]) -> None:
        ids = [image.id for image in images]
        if ids:
            await self.session.execute(
                sa.delete(ProductImage)
                .where(ProductImage.id.in_(ids))
                .execution_options(synchronize_session=False)
            )

    async def in_use(self, digest: str) -> bool:
        found = await self.session.scalar(
            sa.select(ProductImage.id).where(ProductImage.digest == digest).limit(1)
        )
        return found is not None

    async def digests(self) -> set[str]:
        return set(await self.session.scalars(sa.select(ProductImage.digest).distinct()))

    async def underived(self, limit: int) -> list[tuple[str, str]]:
        rows = await self.session.execute(
            sa.select(ProductImage.digest, ProductImage.extension)
            .where(ProductImage.variants.is_(None))
            .distinct()
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows]

    async def mark_derived(self, digest: str, variants: list[dict[str, Any]]) -> int:
        result = await self.session.execute(
            sa.update(ProductImage)
            .where(ProductImage.digest == digest, ProductImage.variants.is_(None))
            .values(variants=variants)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class SqlStockLevels:
    """Conditional updates: the database checks the bound in the same statement."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, product_id: uuid.UUID) -> Stock | None:
        # Fresh values: the changes below bypass the session's copies.
        return await self.session.get(Stock, product_id, populate_existing=True)

    async def _change(
        self, product_id: uuid.UUID, condition: sa.ColumnElement[bool], **values: Any
    ) -> Levels | None:
        row = (
            await self.session.execute(
                sa.update(Stock)
                .where(Stock.product_id == product_id, condition)
                .values(updated_at=utcnow(), **values)
                .returning(Stock.available, Stock.reserved)
                .execution_options(synchronize_session=False)
            )
        ).one_or_none()
        return None if row is None else (int(row[0]), int(row[1]))

    async def set_available(self, product_id: uuid.UUID, available: int) -> Levels | None:
        return await self._change(product_id, sa.true(), available=available)

    async def take(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        return await self._change(
            product_id,
            Stock.available >= quantity,
            available=Stock.available - quantity,
            reserved=Stock.reserved + quantity,
        )

    async def give_back(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        return await self._change(
            product_id,
            Stock.reserved >= quantity,
            available=Stock.available + quantity,
            reserved=Stock.reserved - quantity,
        )

    async def restock(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        return await self._change(product_id, sa.true(), available=Stock.available + quantity)

    async def sell(self, product_id: uuid.UUID, quantity: int) -> Levels | None:
        return await self._change(
            product_id, Stock.reserved >= quantity, reserved=Stock.reserved - quantity
        )


class SqlReservations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, order_id: str) -> ReservationState | None:
        # One statement for the decision and its lines (none for a rejection or a mark).
        rows = (
            await self.session.execute(
                sa.select(
                    Reservation.status,
                    Reservation.reason,
                    ReservationLine.product_id,
                    ReservationLine.quantity,
                )
                .outerjoin(ReservationLine, ReservationLine.order_id == Reservation.order_id)
                .where(Reservation.order_id == order_id)
            )
        ).all()
        if not rows:
            return None
        first = rows[0]
        return ReservationState(
            order_id=order_id,
            status=ReservationStatus(first.status),
            lines={row.product_id: int(row.quantity) for row in rows if row.product_id is not None},
            reason=StockRejectionReason(first.reason) if first.reason else None,
        )

    async def add(self, state: ReservationState) -> bool:
        now = utcnow()
        dialect = self.session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Reservation)
        # On PostgreSQL a conflicting insert waits for the other transaction, then does nothing.
        inserted = await self.session.execute(
            insert.values(
                order_id=state.order_id,
                status=state.status,
                reason=state.reason,
                created_at=now,
                updated_at=now,
            ).on_conflict_do_nothing(index_elements=["order_id"])
        )
        if not getattr(inserted, "rowcount", 0):
            return False
        if state.lines:
            await self.session.execute(
                sa.insert(ReservationLine),
                [
                    {"order_id": state.order_id, "product_id": pid, "quantity": qty}
                    for pid, qty in state.lines.items()
                ],
            )
        return True

    async def move(
        self, order_id: str, source: ReservationStatus, target: ReservationStatus
    ) -> bool:
        result = await self.session.execute(
            sa.update(Reservation)
            .where(Reservation.order_id == order_id, Reservation.status == source)
            .values(status=target, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
