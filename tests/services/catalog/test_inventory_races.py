"""Reservations as the order saga will use them: atomic, all-or-none, idempotent per order.

Run directly against the use cases, with real concurrency, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from panthera.kernel.errors import BadRequest, Conflict, NotFound
from panthera.services.catalog import events, service
from panthera.services.catalog.models import outbox
from panthera.services.catalog.schemas import ProductCreate
from panthera.services.catalog.service import CatalogRuntime


async def new_product(rt: CatalogRuntime, stock: int) -> uuid.UUID:
    data = ProductCreate(
        sku=f"INV-{uuid.uuid4().hex[:8]}", name="Widget", price=100, currency="EUR", stock=stock
    )
    return (await service.create_product(rt=rt, data=data)).id


async def levels(rt: CatalogRuntime, product_id: uuid.UUID) -> tuple[int, int]:
    stock = await service.get_stock(rt=rt, product_id=product_id)
    return stock.available, stock.reserved


async def test_fifty_concurrent_reservations_of_one_against_ten(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=10)
    outcomes = await asyncio.gather(
        *(service.reserve(rt=catalog, order_id=f"order-{i}", lines={product: 1}) for i in range(50))
    )
    assert sum(o.ok for o in outcomes) == 10
    assert sum(o.status == "rejected" for o in outcomes) == 40
    assert all("out of stock" in (o.reason or "") for o in outcomes if not o.ok)
    assert await levels(catalog, product) == (0, 10)


async def test_concurrent_multi_line_orders_never_oversell(catalog: CatalogRuntime) -> None:
    a = await new_product(catalog, stock=5)
    b = await new_product(catalog, stock=3)
    outcomes = await asyncio.gather(
        *(service.reserve(rt=catalog, order_id=f"multi-{i}", lines={a: 1, b: 1}) for i in range(12))
    )
    assert sum(o.ok for o in outcomes) == 3
    # All or none: the two units of `a` that b's shortage blocked are still on sale.
    assert await levels(catalog, a) == (2, 3)
    assert await levels(catalog, b) == (0, 3)


async def test_a_reservation_is_all_or_none(catalog: CatalogRuntime) -> None:
    plenty = await new_product(catalog, stock=100)
    scarce = await new_product(catalog, stock=1)
    outcome = await service.reserve(rt=catalog, order_id="greedy", lines={plenty: 10, scarce: 2})
    assert outcome.status == "rejected"
    assert str(scarce) in (outcome.reason or "")
    assert await levels(catalog, plenty) == (100, 0)
    assert await levels(catalog, scarce) == (1, 0)


async def test_an_unknown_product_rejects_the_order(catalog: CatalogRuntime) -> None:
    known = await new_product(catalog, stock=5)
    outcome = await service.reserve(rt=catalog, order_id="ghost", lines={known: 1, uuid.uuid4(): 1})
    assert outcome.status == "rejected"
    assert "unknown product" in (outcome.reason or "")
    assert await levels(catalog, known) == (5, 0)


async def test_reserve_is_idempotent_per_order(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=4)
    first = await service.reserve(rt=catalog, order_id="o-1", lines={product: 3})
    again = await service.reserve(rt=catalog, order_id="o-1", lines={product: 3})
    assert first == again and first.ok
    assert await levels(catalog, product) == (1, 3)
    # A redelivered rejection stays a rejection even after stock comes back.
    rejected = await service.reserve(rt=catalog, order_id="o-2", lines={product: 2})
    await service.set_stock(rt=catalog, product_id=product, available=50)
    retried = await service.reserve(rt=catalog, order_id="o-2", lines={product: 2})
    assert rejected.status == retried.status == "rejected"


async def test_concurrent_duplicates_of_one_order_reserve_once(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=10)
    outcomes = await asyncio.gather(
        *(service.reserve(rt=catalog, order_id="dup", lines={product: 2}) for _ in range(8))
    )
    assert all(o.ok for o in outcomes)
    assert await levels(catalog, product) == (8, 2)


async def test_release_returns_stock_once(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await service.reserve(rt=catalog, order_id="r-1", lines={product: 4})
    results = await asyncio.gather(*(service.release(rt=catalog, order_id="r-1") for _ in range(5)))
    assert all(r is not None and r.status == "released" for r in results)
    assert await levels(catalog, product) == (5, 0)
    assert await service.release(rt=catalog, order_id="never-reserved") is None
    rejected = await service.reserve(rt=catalog, order_id="r-2", lines={product: 99})
    assert (await service.release(rt=catalog, order_id="r-2")) == rejected
    with pytest.raises(Conflict):
        await service.commit(rt=catalog, order_id="r-1")


async def test_an_order_ended_before_its_reservation_never_holds_stock(
    catalog: CatalogRuntime,
) -> None:
    product = await new_product(catalog, stock=5)
    assert await service.release(rt=catalog, order_id="late-1") is None
    late = await service.reserve(rt=catalog, order_id="late-1", lines={product: 2})
    assert not late.ok and late.status == "released"
    assert await levels(catalog, product) == (5, 0)


async def test_commit_sells_reserved_stock_once(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await service.reserve(rt=catalog, order_id="c-1", lines={product: 2})
    results = await asyncio.gather(*(service.commit(rt=catalog, order_id="c-1") for _ in range(5)))
    assert all(r.status == "committed" for r in results)
    assert await levels(catalog, product) == (3, 0)
    with pytest.raises(NotFound):
        await service.commit(rt=catalog, order_id="unknown")


async def test_releasing_a_sold_order_puts_its_units_back(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await service.reserve(rt=catalog, order_id="c-2", lines={product: 2})
    await service.commit(rt=catalog, order_id="c-2")
    released = await asyncio.gather(
        *(service.release(rt=catalog, order_id="c-2") for _ in range(3))
    )
    assert all(r is not None and r.status == "released" for r in released)
    assert await levels(catalog, product) == (5, 0)


async def test_release_and_commit_racing_end_with_the_stock_right(
    catalog: CatalogRuntime,
) -> None:
    product = await new_product(catalog, stock=5)
    await service.reserve(rt=catalog, order_id="race", lines={product: 5})
    results = await asyncio.gather(
        service.release(rt=catalog, order_id="race"),
        service.commit(rt=catalog, order_id="race"),
        return_exceptions=True,
    )
    # Release first: the commit is refused. Commit first: the release returns the units.
    assert not any(isinstance(r, Exception) and not isinstance(r, Conflict) for r in results)
    assert await levels(catalog, product) == (5, 0)


async def test_set_stock_keeps_reservations(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await service.reserve(rt=catalog, order_id="k-1", lines={product: 2})
    await service.set_stock(rt=catalog, product_id=product, available=10)
    await service.release(rt=catalog, order_id="k-1")
    assert await levels(catalog, product) == (12, 0)


@pytest.mark.parametrize(
    ("order_id", "quantity"), [("", 1), ("x" * 65, 1), ("ok", 0), ("ok", -1), ("ok", 10**6)]
)
async def test_bad_reservations_are_refused(
    catalog: CatalogRuntime, order_id: str, quantity: int
) -> None:
    product = await new_product(catalog, stock=5)
    with pytest.raises(BadRequest):
        await service.reserve(rt=catalog, order_id=order_id, lines={product: quantity})
    with pytest.raises(BadRequest):
        await service.reserve(rt=catalog, order_id="empty", lines={})


async def test_every_stock_change_is_an_outbox_event(catalog: CatalogRuntime) -> None:
    product = await new_product(catalog, stock=5)
    await service.reserve(rt=catalog, order_id="e-1", lines={product: 2})
    await service.commit(rt=catalog, order_id="e-1")
    await service.reserve(rt=catalog, order_id="e-2", lines={product: 9})
    async with catalog.db.transaction() as session:
        rows = (
            await session.execute(sa.select(outbox.c.type, outbox.c.envelope).order_by("position"))
        ).all()
    types = [row.type for row in rows]
    assert types == [
        events.PRODUCT_CREATED,
        events.STOCK_CHANGED,
        events.STOCK_RESERVED,
        events.STOCK_CHANGED,
        events.STOCK_COMMITTED,
        events.STOCK_RESERVATION_REJECTED,
    ]
    reserved = rows[2].envelope
    assert reserved["source"] == "catalog"
    assert reserved["data"] == {
        "orderId": "e-1",
        "lines": [{"productId": str(product), "quantity": 2}],
    }
    assert rows[1].envelope["data"] == {"productId": str(product), "available": 3, "reserved": 2}
