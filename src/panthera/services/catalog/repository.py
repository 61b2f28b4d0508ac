"""Data access for categories, products, stock and reservations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.database import utcnow
from panthera.services.catalog.models import (
    Category,
    Product,
    Reservation,
    ReservationLine,
    Stock,
)
from panthera.services.catalog.search import Matched, SearchEngine


@dataclass(frozen=True)
class ProductQuery:
    """What a shopper asks of the catalog; validated by the API before it gets here."""

    search: str | None = None
    category_id: uuid.UUID | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    currency: str | None = None
    sort: str | None = None
    offset: int = 0
    limit: int = 20


class CategoryRepository:
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

    def subtree(self, root: uuid.UUID) -> sa.CTE:
        """The ids of a category and all of its descendants."""
        tree = (
            sa.select(Category.id)
            .where(Category.id == root)
            .cte(f"tree_{root.hex[:8]}", recursive=True)
        )
        return tree.union_all(sa.select(Category.id).where(Category.parent_id == tree.c.id))

    async def is_within(self, candidate: uuid.UUID, root: uuid.UUID) -> bool:
        tree = self.subtree(root)
        found = await self.session.scalar(sa.select(tree.c.id).where(tree.c.id == candidate))
        return found is not None

    async def in_use(self, category_id: uuid.UUID) -> str | None:
        """What still depends on a category, if anything."""
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
        # Keeps the search index's copy of the category name current.
        await self.session.execute(
            sa.update(Product)
            .where(Product.category_id == category_id)
            .values(search_category=name)
        )

    def add(self, category: Category) -> None:
        self.session.add(category)

    async def delete(self, category: Category) -> None:
        await self.session.delete(category)


class ProductRepository:
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
        await self.session.execute(sa.delete(Stock).where(Stock.product_id == product.id))
        await self.session.delete(product)

    async def find(
        self, query: ProductQuery, engine: SearchEngine
    ) -> tuple[int, list[tuple[Product, int]]]:
        if query.search is None:
            return await self._find(query, None)
        total, found = await self._find(query, engine.matches(query.search))
        if total == 0:
            # Nothing has every word: perhaps a typo, so try names that look alike.
            similar = engine.resembles(query.search)
            if similar is not None:
                return await self._find(query, similar)
        return total, found

    async def _find(
        self, query: ProductQuery, matched: Matched | None
    ) -> tuple[int, list[tuple[Product, int]]]:
        select = sa.select(Product, Stock.available).join(Stock, Stock.product_id == Product.id)
        rank: sa.ColumnElement[Any] | None = None
        if query.search is not None:
            if matched is None:
                return 0, []
            select = select.join(matched, matched.c.pk == Product.pk)
            rank = matched.c.rank
        if query.category_id is not None:
            tree = CategoryRepository(self.session).subtree(query.category_id)
            select = select.where(Product.category_id.in_(sa.select(tree.c.id)))
        if query.min_price is not None:
            select = select.where(Product.price >= query.min_price)
        if query.max_price is not None:
            select = select.where(Product.price <= query.max_price)
        if query.currency is not None:
            select = select.where(Product.currency == query.currency)
        if query.in_stock is True:
            select = select.where(Stock.available > 0)
        elif query.in_stock is False:
            select = select.where(Stock.available == 0)
        ordered = select.order_by(*_ordering(query.sort, rank))
        if rank is None:
            # Without a search, counting apart lets the page itself walk an index and stop early.
            total = await self._count(select)
            rows = await self.session.execute(ordered.offset(query.offset).limit(query.limit))
            return total, [(row[0], int(row[1])) for row in rows]
        # A search ranks every match anyway: counting in the same pass saves a second one.
        page = (
            await self.session.execute(
                ordered.add_columns(sa.func.count().over().label("total"))
                .offset(query.offset)
                .limit(query.limit)
            )
        ).all()
        if page:
            return int(page[0][2]), [(row[0], int(row[1])) for row in page]
        return (await self._count(select) if query.offset else 0), []

    async def _count(self, select: sa.Select[Product, int]) -> int:
        total = await self.session.scalar(
            sa.select(sa.func.count()).select_from(select.with_only_columns(Product.pk).subquery())
        )
        return int(total or 0)


def _ordering(sort: str | None, rank: sa.ColumnElement[Any] | None) -> list[Any]:
    # Every order ends on the key, so that pages never repeat or skip a product.
    if sort is None:
        sort = "relevance" if rank is not None else "newest"
    if sort == "relevance" and rank is not None:
        return [rank.desc(), Product.pk.desc()]
    if sort == "price":
        return [Product.price.asc(), Product.pk.asc()]
    if sort == "-price":
        return [Product.price.desc(), Product.pk.desc()]
    if sort == "name":
        return [Product.name.asc(), Product.pk.asc()]
    return [Product.created_at.desc(), Product.pk.desc()]


class StockRepository:
    """Conditional updates: the database checks the bound in the same statement."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, product_id: uuid.UUID) -> Stock | None:
        return await self.session.get(Stock, product_id)

    async def _change(
        self, product_id: uuid.UUID, condition: sa.ColumnElement[bool], **values: Any
    ) -> tuple[int, int] | None:
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

    async def set_available(self, product_id: uuid.UUID, available: int) -> tuple[int, int] | None:
        return await self._change(product_id, sa.true(), available=available)

    async def take(self, product_id: uuid.UUID, quantity: int) -> tuple[int, int] | None:
        """Move `quantity` from available to reserved; None if there is not enough."""
        return await self._change(
            product_id,
            Stock.available >= quantity,
            available=Stock.available - quantity,
            reserved=Stock.reserved + quantity,
        )

    async def give_back(self, product_id: uuid.UUID, quantity: int) -> tuple[int, int] | None:
        """Move `quantity` from reserved back to available."""
        return await self._change(
            product_id,
            Stock.reserved >= quantity,
            available=Stock.available + quantity,
            reserved=Stock.reserved - quantity,
        )

    async def restock(self, product_id: uuid.UUID, quantity: int) -> tuple[int, int] | None:
        """Put sold units back on sale (an order cancelled after its sale)."""
        return await self._change(product_id, sa.true(), available=Stock.available + quantity)

    async def sell(self, product_id: uuid.UUID, quantity: int) -> tuple[int, int] | None:
        """Remove `quantity` from reserved: it has left the warehouse."""
        return await self._change(
            product_id, Stock.reserved >= quantity, reserved=Stock.reserved - quantity
        )


class ReservationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, order_id: str) -> tuple[Reservation, dict[uuid.UUID, int]] | None:
        reservation = await self.session.get(Reservation, order_id)
        if reservation is None:
            return None
        lines = await self.session.execute(
            sa.select(ReservationLine.product_id, ReservationLine.quantity).where(
                ReservationLine.order_id == order_id
            )
        )
        return reservation, {row[0]: int(row[1]) for row in lines}

    async def add(
        self, order_id: str, status: str, lines: dict[uuid.UUID, int], reason: str | None = None
    ) -> Reservation:
        now = utcnow()
        reservation = Reservation(
            order_id=order_id, status=status, reason=reason, created_at=now, updated_at=now
        )
        self.session.add(reservation)
        await self.session.flush()
        if lines:
            await self.session.execute(
                sa.insert(ReservationLine),
                [
                    {"order_id": order_id, "product_id": pid, "quantity": qty}
                    for pid, qty in lines.items()
                ],
            )
        return reservation

    async def move(self, order_id: str, source: str, target: str, when: datetime) -> bool:
        """Change the status only from `source`: of two racing requests, one wins."""
        result = await self.session.execute(
            sa.update(Reservation)
            .where(Reservation.order_id == order_id, Reservation.status == source)
            .values(status=target, updated_at=when)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
