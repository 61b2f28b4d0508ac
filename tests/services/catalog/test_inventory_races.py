"""Reservations as the order saga uses them: atomic, all-or-none, idempotent per order.

Run against the use cases the event handlers call, each in its own unit of work
(as a consumer does), with real concurrency, on SQLite and PostgreSQL. The rules
themselves are unit-tested on in-memory repositories in test_inventory.py.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa

from panthera.contracts import EventContract
from panthera.contracts.catalog import (
    ProductCreated,
    StockCommitted,
    StockRejected,
    StockRejectionReason,
    StockReserved,
)
from panthera.services.catalog import inventory, products
from panthera.services.catalog.models import ReservationStatus, outbox
from panthera.services.catalog.repository import ReservationState
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.schemas import ProductCreate

RESERVED, REJECTED, RELEASED, COMMITTED = (
    ReservationStatus.RESERVED,
    ReservationStatus.REJECTED,
    ReservationStatus.RELEASED,
    ReservationStatus.COMMITTED,
)


async def new_product(rt: CatalogRuntime, stock: int) -> uuid.UUID:
    data = ProductCreate(
        sku=f"INV-{uuid.uuid4().hex[:8]}", name="Widget", price=100, currency="EUR", stock=stock
    )
    return (await products.create_product(rt=rt, data=data)).id


async def levels(rt: CatalogRuntime, product_id: uuid.UUID) -> tuple[int, int]:
    stock = await inventory.get_stock(rt=rt, product_id=product_id)
    return stock.available, stock.reserved


async def reserve(
    rt: CatalogRuntime, order_id: str, lines: dict[uuid.UUID, int]
) -> ReservationState:
    async with rt.uow.write() as tx:
        return await inventory.reserve(
            tx=tx, cache=rt.cache, order_id=order_id, lines=lines.items()
        )


async def release(rt: CatalogRuntime, order_id: str) -> ReservationState | None:
    async with rt.uow.write() as tx:
        return await inventory.release(tx=tx, cache=rt.cache, order_id=order_id)


async def commit(rt: CatalogRuntime, order_id: str) -> ReservationState | None:
    async with rt.uow.write() as tx:
        return await inventory.commit(tx=tx, cache=rt.cache, order_id=order_id)


async def recorded(rt: CatalogRuntime, kind: type[EventContract]) -> list[dict[str, Any]]:
    """The payloads of one event type in the outbox, oldest first."""
    async with rt.uow.read() as tx:
        rows = await tx.session.scalars(
            sa.select(outbox.c.envelope)
            .where(outbox.c.type == kind.TYPE)
            .order_by(outbox.c.position)
        )
        return [row["data"] for row in rows]


def status(state: ReservationState | None) -> ReservationStatus | None:
    return None if state is None else state.status


async def test_fifty_concurrent_reservations_of_one_against_ten(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=10)
    outcomes = await asyncio.gather(
        *(reserve(catalog, f"order-{i}", {product: 1}) for i in range(50))
    )
    assert sum(o.status == RESERVED for o in outcomes) == 10
    assert sum(o.status == REJECTED for o in outcomes) == 40
    assert all(
        o.reason == StockRejectionReason.OUT_OF_STOCK for o in outcomes if o.status != RESERVED
    )
    assert await levels(catalog, product) == (0, 10)


async def test_concurrent_multi_line_orders_never_oversell(catalog: CatalogRuntime) -> None:
    a = await new_product(catalog, stock=5)
    b = await new_product(catalog, stock=3)
    outcomes = await asyncio.gather(
        *(reserve(catalog, f"multi-{i}", {a: 1, b: 1}) for i in range(12))
    )
    assert sum(o.status == RESERVED for o in outcomes) == 3
    # All or none: the two units of `a` that b's shortage blocked are still on sale.
    assert await levels(catalog, a) == (2, 3)
    assert await levels(catalog, b) == (0, 3)


async def test_a_reservation_is_all_or_none(catalog: CatalogRuntime) -> None:
    plenty = await new_product(catalog, stock=100)
    scarce = await new_product(catalog, stock=1)
    outcome = await reserve(catalog, "greedy", {plenty: 10, scarce: 2})
    assert outcome.status == REJECTED
    assert outcome.reason == StockRejectionReason.OUT_OF_STOCK
    assert (await recorded(catalog, StockRejected))[0]["productIds"] == [str(scarce)]
    assert await levels(catalog, plenty) == (100, 0)
    assert await levels(catalog, scarce) == (1, 0)


async def test_an_unknown_product_rejects_the_order(catalog: CatalogRuntime) -> None:
    known = await new_product(catalog, stock=5)
    outcome = await reserve(catalog, "ghost", {known: 1, uuid.uuid4(): 1})
    assert outcome.status == REJECTED
    assert outcome.reason == StockRejectionReason.UNKNOWN_PRODUCT
    assert await levels(catalog, known) == (5, 0)


async def test_reserve_is_idempotent_per_order(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=4)
    first = await reserve(catalog, "o-1", {product: 3})
    again = await reserve(catalog, "o-1", {product: 3})
    assert first == again and first.status == RESERVED
    assert await levels(catalog, product) == (1, 3)
    # A redelivered rejection stays a rejection even after stock comes back.
    rejected = await reserve(catalog, "o-2", {product: 2})
    await inventory.set_stock(rt=catalog, product_id=product, available=50)
    retried = await reserve(catalog, "o-2", {product: 2})
    assert rejected == retried and rejected.status == REJECTED


async def test_concurrent_duplicates_of_one_order_reserve_once(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=10)
    outcomes = await asyncio.gather(*(reserve(catalog, "dup", {product: 2}) for _ in range(8)))
    assert all(o.status == RESERVED for o in outcomes)
    assert await levels(catalog, product) == (8, 2)


async def test_release_returns_stock_once(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await reserve(catalog, "r-1", {product: 4})
    results = await asyncio.gather(*(release(catalog, "r-1") for _ in range(5)))
    assert all(status(r) == RELEASED for r in results)
    assert await levels(catalog, product) == (5, 0)
    assert await release(catalog, "never-reserved") is None
    rejected = await reserve(catalog, "r-2", {product: 99})
    assert (await release(catalog, "r-2")) == rejected
    # Confirmed after it was released: refused, the units stay on sale.
    assert status(await commit(catalog, "r-1")) == RELEASED
    assert await levels(catalog, product) == (5, 0)


async def test_an_order_ended_before_its_reservation_never_holds_stock(
    catalog: CatalogRuntime,
) -> None:
    product = await new_product(catalog, stock=5)
    assert await release(catalog, "late-1") is None
    late = await reserve(catalog, "late-1", {product: 2})
    assert late.status == RELEASED
    assert await levels(catalog, product) == (5, 0)


async def test_commit_sells_reserved_stock_once(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await reserve(catalog, "c-1", {product: 2})
    results = await asyncio.gather(*(commit(catalog, "c-1") for _ in range(5)))
    assert all(status(r) == COMMITTED for r in results)
    assert await levels(catalog, product) == (3, 0)
    assert await commit(catalog, "unknown") is None


async def test_releasing_a_sold_order_puts_its_units_back(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await reserve(catalog, "c-2", {product: 2})
    await commit(catalog, "c-2")
    released = await asyncio.gather(*(release(catalog, "c-2") for _ in range(3)))
    assert all(status(r) == RELEASED for r in released)
    assert await levels(catalog, product) == (5, 0)


async def test_release_and_commit_racing_end_with_the_stock_right(
    catalog: CatalogRuntime,
) -> None:
    product = await new_product(catalog, stock=5)
    await reserve(catalog, "race", {product: 5})
    released, _ = await asyncio.gather(release(catalog, "race"), commit(catalog, "race"))
    # Release first: the commit is refused. Commit first: the release returns the units.
    assert status(released) == RELEASED
    assert await levels(catalog, product) == (5, 0)


async def test_set_stock_keeps_reservations(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await reserve(catalog, "k-1", {product: 2})
    await inventory.set_stock(rt=catalog, product_id=product, available=10)
    await release(catalog, "k-1")
    assert await levels(catalog, product) == (12, 0)


async def test_every_stock_change_is_an_outbox_event(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await reserve(catalog, "e-1", {product: 2})
    await commit(catalog, "e-1")
    await reserve(catalog, "e-2", {product: 9})
    async with catalog.uow.read() as tx:
        rows = (
            await tx.session.execute(
                sa.select(outbox.c.type, outbox.c.envelope).order_by(outbox.c.position)
            )
        ).all()
    types = [row.type for row in rows]
    # The reservation events carry the lines; no product sold out, so no level of its own.
    assert types == [
        ProductCreated.TYPE,
        StockReserved.TYPE,
        StockCommitted.TYPE,
        StockRejected.TYPE,
    ]
    reserved = rows[1].envelope
    assert reserved["source"] == "catalog"
    assert reserved["data"] == {
        "orderId": "e-1",
        "lines": [{"productId": str(product), "quantity": 2}],
    }
    assert await levels(catalog, product) == (3, 0)  # what the lines of the events imply
    assert rows[3].envelope["data"] == {
        "orderId": "e-2",
        "lines": [{"productId": str(product), "quantity": 9}],
        "reason": "out_of_stock",
        "productIds": [str(product)],
        "detail": f"out of stock: {product}",
    }


async def test_concurrent_duplicates_of_a_refused_order_reject_once(
    catalog: CatalogRuntime,
) -> None:
    product = await new_product(catalog, stock=1)
    outcomes = await asyncio.gather(*(reserve(catalog, "dup-r", {product: 5}) for _ in range(8)))
    assert {o.status for o in outcomes} == {REJECTED}
    assert {o.reason for o in outcomes} == {StockRejectionReason.OUT_OF_STOCK}
    assert len(await recorded(catalog, StockRejected)) == 1
    assert await levels(catalog, product) == (1, 0)


async def test_a_release_racing_the_first_reservation_leaves_nothing_held(
    catalog: CatalogRuntime,
) -> None:
    product = await new_product(catalog, stock=50)
    for n in range(10):
        order = f"ended-{n}"
        await asyncio.gather(reserve(catalog, order, {product: 2}), release(catalog, order))
        # Whichever came first, the order ends released and holds nothing.
        assert status(await release(catalog, order)) == RELEASED
    assert await levels(catalog, product) == (50, 0)


async def test_reserving_releasing_and_selling_refresh_the_cached_product(
    catalog: CatalogRuntime,
) -> None:
    product = await new_product(catalog, stock=5)

    async def on_sale() -> int:
        return (await products.get_product(rt=catalog, product_id=product)).available

    assert await on_sale() == 5  # now cached
    await reserve(catalog, "cached-1", {product: 2})
    assert await on_sale() == 3
    await release(catalog, "cached-1")
    assert await on_sale() == 5
    await reserve(catalog, "cached-2", {product: 4})
    await commit(catalog, "cached-2")
    assert await on_sale() == 1  # cached again, before the return below
    await release(catalog, "cached-2")  # a sold order returned
    assert await on_sale() == 5


async def test_orders_listing_products_in_opposite_orders_do_not_deadlock(
    catalog: CatalogRuntime,
) -> None:
    """Rows are locked in one order whatever the order's line order (PostgreSQL would
    otherwise abort one of two transactions waiting on each other)."""
    a = await new_product(catalog, stock=100)
    b = await new_product(catalog, stock=100)
    orders = [
        reserve(catalog, f"cross-{i}", {a: 1, b: 1} if i % 2 else {b: 1, a: 1}) for i in range(24)
    ]
    outcomes = await asyncio.gather(*orders)
    assert {o.status for o in outcomes} == {RESERVED}
    assert await levels(catalog, a) == (76, 24)
    assert await levels(catalog, b) == (76, 24)
