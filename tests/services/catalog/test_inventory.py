"""Stock and reservations on in-memory repositories: the saga's rules, fast and without a DB.

The same use cases under real concurrency, on SQLite and PostgreSQL, are in
test_inventory_races.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TypeVar

import pytest

from panthera.contracts.catalog import (
    StockChanged,
    StockCommitted,
    StockRejected,
    StockRejectionReason,
    StockReleased,
    StockReserved,
)
from panthera.contracts.orders import (
    MAX_PRODUCTS_PER_ORDER,
    MAX_UNITS_PER_PRODUCT,
    OrderCancelled,
    OrderConfirmed,
    OrderEvent,
    OrderItem,
    OrderPlaced,
    OrderStatus,
    PaymentStatus,
)
from panthera.kernel.events import Event, Received
from panthera.services.catalog import handlers, inventory
from panthera.services.catalog.models import Product, ReservationStatus
from panthera.services.catalog.repository import ReservationState
from tests.services.catalog.fakes import FakeCatalog, FakeReservations, Store, fake_catalog

RESERVED, REJECTED, RELEASED, COMMITTED = (
    ReservationStatus.RESERVED,
    ReservationStatus.REJECTED,
    ReservationStatus.RELEASED,
    ReservationStatus.COMMITTED,
)


def stocked(catalog: FakeCatalog, available: int) -> uuid.UUID:
    product_id = uuid.uuid4()
    catalog.store.products[product_id] = Product(id=product_id, sku=f"S-{product_id.hex[:6]}")
    catalog.store.levels[product_id] = (available, 0)
    return product_id


async def reserve(
    catalog: FakeCatalog, order_id: str, lines: Iterable[tuple[uuid.UUID, int]]
) -> ReservationState:
    async with catalog.uow.write() as tx:
        return await inventory.reserve(
            tx=tx, cache=catalog.rt.cache, order_id=order_id, lines=lines
        )


async def release(catalog: FakeCatalog, order_id: str) -> ReservationState | None:
    async with catalog.uow.write() as tx:
        return await inventory.release(tx=tx, cache=catalog.rt.cache, order_id=order_id)


async def commit(catalog: FakeCatalog, order_id: str) -> ReservationState | None:
    async with catalog.uow.write() as tx:
        return await inventory.commit(tx=tx, cache=catalog.rt.cache, order_id=order_id)


def status(state: ReservationState | None) -> ReservationStatus | None:
    return None if state is None else state.status


def published_types(catalog: FakeCatalog) -> list[str]:
    return [event.type for event in catalog.uow.published]


@pytest.fixture
def catalog() -> FakeCatalog:
    return fake_catalog()


async def test_a_reservation_holds_every_line_and_says_so(catalog: FakeCatalog) -> None:
    a, b = stocked(catalog, 5), stocked(catalog, 3)
    await catalog.rt.cache.set(f"product:{a}", b"cached", ttl_seconds=60)
    state = await reserve(catalog, "o-1", [(a, 2), (b, 3)])
    assert state == ReservationState("o-1", RESERVED, {a: 2, b: 3})
    assert catalog.store.levels[a] == (3, 2) and catalog.store.levels[b] == (0, 3)
    # The reservation names its lines; a level of its own only for the product sold out.
    assert published_types(catalog) == [StockChanged.TYPE, StockReserved.TYPE]
    assert catalog.uow.of_type(StockChanged) == [
        {"productId": str(b), "available": 0, "reserved": 3}
    ]
    lines = catalog.uow.of_type(StockReserved)[0]["lines"]
    assert sorted((line["productId"], line["quantity"]) for line in lines) == sorted(
        [(str(a), 2), (str(b), 3)]
    )
    # Read again after the commit, not the stale entry.
    assert await catalog.rt.cache.get(f"product:{a}") is None


async def test_a_shortage_holds_nothing_and_names_every_product_at_fault(
    catalog: FakeCatalog,
) -> None:
    plenty, scarce, gone = stocked(catalog, 100), stocked(catalog, 1), stocked(catalog, 0)
    state = await reserve(catalog, "greedy", [(plenty, 10), (scarce, 2), (gone, 1)])
    assert state == ReservationState("greedy", REJECTED, reason=StockRejectionReason.OUT_OF_STOCK)
    assert catalog.store.levels == {plenty: (100, 0), scarce: (1, 0), gone: (0, 0)}
    # The lines taken before the shortage were given back, and nothing else was said.
    assert published_types(catalog) == [StockRejected.TYPE]
    rejected = catalog.uow.of_type(StockRejected)[0]
    assert rejected["reason"] == "out_of_stock"
    assert sorted(rejected["productIds"]) == sorted([str(scarce), str(gone)])
    assert len(rejected["lines"]) == 3


async def test_an_unknown_product_is_named(catalog: FakeCatalog) -> None:
    known, ghost = stocked(catalog, 5), uuid.uuid4()
    state = await reserve(catalog, "ghost", [(known, 1), (ghost, 1)])
    assert state.status == REJECTED and state.reason == "unknown_product"
    assert catalog.uow.of_type(StockRejected)[0]["productIds"] == [str(ghost)]
    assert catalog.store.levels[known] == (5, 0)


@pytest.mark.parametrize(
    ("quantities", "at_fault"),
    [
        ([0], [0]),
        ([-1], [0]),
        ([MAX_UNITS_PER_PRODUCT + 1], [0]),
        ([2, 0], [1]),
        ([10**6, 1], [0]),
    ],
)
async def test_lines_outside_the_shared_order_rules_are_an_invalid_order(
    catalog: FakeCatalog, quantities: list[int], at_fault: list[int]
) -> None:
    products = [stocked(catalog, 5_000) for _ in quantities]
    state = await reserve(catalog, "bad", list(zip(products, quantities, strict=True)))
    assert state.status == REJECTED and state.reason == "invalid_order"
    rejected = catalog.uow.of_type(StockRejected)[0]
    assert rejected["productIds"] == [str(products[i]) for i in at_fault]
    assert rejected["detail"]
    assert all(catalog.store.levels[p] == (5_000, 0) for p in products)
    assert published_types(catalog) == [StockRejected.TYPE]


async def test_lines_of_one_product_are_merged_before_the_bound(catalog: FakeCatalog) -> None:
    product = stocked(catalog, 5_000)
    half = MAX_UNITS_PER_PRODUCT // 2
    assert (await reserve(catalog, "fits", [(product, half), (product, half)])).lines == {
        product: 2 * half
    }
    over = await reserve(catalog, "over", [(product, half), (product, half + 1)])
    assert over.reason == "invalid_order"
    assert catalog.store.levels[product] == (5_000 - 2 * half, 2 * half)


async def test_an_order_has_lines_and_a_bounded_number_of_products(catalog: FakeCatalog) -> None:
    assert (await reserve(catalog, "empty", [])).reason == "invalid_order"
    many = [(stocked(catalog, 1), 1) for _ in range(MAX_PRODUCTS_PER_ORDER + 1)]
    assert (await reserve(catalog, "many", many)).reason == "invalid_order"
    assert (await reserve(catalog, "most", many[:MAX_PRODUCTS_PER_ORDER])).status == RESERVED


async def test_a_decision_is_given_once_per_order(catalog: FakeCatalog) -> None:
    product = stocked(catalog, 4)
    first = await reserve(catalog, "o-1", [(product, 3)])
    assert await reserve(catalog, "o-1", [(product, 3)]) == first
    assert catalog.store.levels[product] == (1, 3)
    rejected = await reserve(catalog, "o-2", [(product, 2)])
    catalog.store.levels[product] = (50, 3)
    # A redelivered rejection stays a rejection even after stock comes back.
    assert await reserve(catalog, "o-2", [(product, 2)]) == rejected
    assert published_types(catalog).count(StockReserved.TYPE) == 1
    assert published_types(catalog).count(StockRejected.TYPE) == 1


async def test_commit_sells_and_release_afterwards_restocks(catalog: FakeCatalog) -> None:
    product = stocked(catalog, 5)
    await reserve(catalog, "c-1", [(product, 2)])
    assert (await commit(catalog, "c-1")) == ReservationState("c-1", COMMITTED, {product: 2})
    assert catalog.store.levels[product] == (3, 0)
    assert status(await commit(catalog, "c-1")) == COMMITTED
    assert catalog.store.levels[product] == (3, 0)
    assert (await release(catalog, "c-1")) == ReservationState("c-1", RELEASED, {product: 2})
    assert catalog.store.levels[product] == (5, 0)
    assert status(await release(catalog, "c-1")) == RELEASED
    assert catalog.store.levels[product] == (5, 0)
    assert published_types(catalog).count(StockCommitted.TYPE) == 1
    assert published_types(catalog).count(StockReleased.TYPE) == 1


async def test_release_gives_held_units_back(catalog: FakeCatalog) -> None:
    product = stocked(catalog, 5)
    await reserve(catalog, "r-1", [(product, 4)])
    assert status(await release(catalog, "r-1")) == RELEASED
    assert catalog.store.levels[product] == (5, 0)
    released = catalog.uow.of_type(StockReleased)[0]
    assert released["lines"] == [{"productId": str(product), "quantity": 4}]


async def test_what_cannot_be_settled_is_left_as_it_is(catalog: FakeCatalog) -> None:
    product = stocked(catalog, 1)
    rejected = await reserve(catalog, "r-2", [(product, 9)])
    assert await release(catalog, "r-2") == rejected
    assert await commit(catalog, "r-2") == rejected
    await reserve(catalog, "r-3", [(product, 1)])
    await release(catalog, "r-3")
    # Confirmed after a cancellation released it: the units stay on sale.
    assert status(await commit(catalog, "r-3")) == RELEASED
    assert catalog.store.levels[product] == (1, 0)
    assert await commit(catalog, "unknown") is None
    assert StockCommitted.TYPE not in published_types(catalog)


async def test_an_order_ended_before_its_reservation_never_holds_stock(
    catalog: FakeCatalog,
) -> None:
    product = stocked(catalog, 5)
    assert await release(catalog, "late-1") is None
    late = await reserve(catalog, "late-1", [(product, 2)])
    assert late.status == RELEASED
    assert catalog.store.levels[product] == (5, 0)
    assert catalog.uow.published == []


class ReleasedMeanwhile(FakeReservations):
    """A release of the same order stores its mark between the read and the insert."""

    async def add(self, state: ReservationState) -> bool:
        self.store.reservations.setdefault(
            state.order_id, ReservationState(state.order_id, RELEASED)
        )
        return await super().add(state)


async def test_a_reservation_decided_meanwhile_gives_back_what_it_took(
    catalog: FakeCatalog,
) -> None:
    product = stocked(catalog, 5)
    async with catalog.uow.write() as tx:
        tx.reservations = ReleasedMeanwhile(catalog.store)
        state = await inventory.reserve(
            tx=tx, cache=catalog.rt.cache, order_id="meanwhile", lines=[(product, 5)]
        )
    assert state == ReservationState("meanwhile", RELEASED)
    assert catalog.store.levels[product] == (5, 0)
    assert catalog.uow.published == []


async def test_stock_levels_are_announced_when_a_product_sells_out_or_comes_back(
    catalog: FakeCatalog,
) -> None:
    product = stocked(catalog, 3)
    await reserve(catalog, "a", [(product, 1)])
    await reserve(catalog, "b", [(product, 2)])  # the last units
    await commit(catalog, "a")
    await release(catalog, "b")  # on sale again
    await release(catalog, "a")  # already on sale: the release event is enough
    changed = catalog.uow.of_type(StockChanged)
    assert changed == [
        {"productId": str(product), "available": 0, "reserved": 3},
        {"productId": str(product), "available": 2, "reserved": 0},
    ]
    assert published_types(catalog).count(StockChanged.TYPE) == 2
    assert catalog.store.levels[product] == (3, 0)


class RacedReservations(FakeReservations):
    """The first move loses to a concurrent commit of the same order."""

    async def move(
        self, order_id: str, source: ReservationStatus, target: ReservationStatus
    ) -> bool:
        if not getattr(self, "raced", False):
            self.raced = True
            state = self.store.reservations[order_id]
            self.store.reservations[order_id] = ReservationState(order_id, COMMITTED, state.lines)
            self.store.levels = {
                pid: (available, reserved - state.lines.get(pid, 0))
                for pid, (available, reserved) in self.store.levels.items()
            }
            return False
        return await super().move(order_id, source, target)


async def test_a_release_that_loses_a_race_to_a_commit_returns_the_sold_units() -> None:
    catalog = fake_catalog(Store())
    product = stocked(catalog, 5)
    await reserve(catalog, "race", [(product, 5)])
    async with catalog.uow.write() as tx:
        tx.reservations = RacedReservations(catalog.store)
        state = await inventory.release(tx=tx, cache=catalog.rt.cache, order_id="race")
    assert state == ReservationState("race", RELEASED, {product: 5})
    assert catalog.store.levels[product] == (5, 0)


async def test_set_stock_keeps_reservations(catalog: FakeCatalog) -> None:
    product = stocked(catalog, 5)
    await reserve(catalog, "k-1", [(product, 2)])
    await catalog.rt.cache.set(f"product:{product}", b"cached", ttl_seconds=60)
    stock = await inventory.set_stock(rt=catalog.rt, product_id=product, available=10)
    assert (stock.available, stock.reserved) == (10, 2)
    assert catalog.uow.of_type(StockChanged)[-1] == {
        "productId": str(product),
        "available": 10,
        "reserved": 2,
    }
    assert await catalog.rt.cache.get(f"product:{product}") is None
    await release(catalog, "k-1")
    assert catalog.store.levels[product] == (12, 0)


E = TypeVar("E", bound=OrderEvent)


def order(kind: type[E], order_id: uuid.UUID, items: list[tuple[uuid.UUID, int]]) -> Received[E]:
    data = kind(
        order_id=order_id,
        user_id=uuid.uuid4(),
        status=OrderStatus.PENDING,
        total=0,
        currency="EUR",
        payment_status=PaymentStatus.PENDING,
        items=[
            OrderItem(product_id=pid, sku="S", name="Thing", quantity=qty, unit_price=100)
            for pid, qty in items
        ],
    )
    return Received(Event.of(data), data)


async def test_the_handlers_drive_the_saga(catalog: FakeCatalog) -> None:
    product = stocked(catalog, 5)
    order_id = uuid.uuid4()
    levels = []
    async with catalog.uow.write() as tx:
        placed = order(OrderPlaced, order_id, [(product, 1), (product, 1)])
        await handlers.on_order_placed(placed, tx, catalog.rt)
    levels.append(catalog.store.levels[product])
    async with catalog.uow.write() as tx:
        await handlers.on_order_confirmed(order(OrderConfirmed, order_id, []), tx, catalog.rt)
    levels.append(catalog.store.levels[product])
    async with catalog.uow.write() as tx:
        await handlers.on_order_ended(order(OrderCancelled, order_id, []), tx, catalog.rt)
    levels.append(catalog.store.levels[product])
    assert levels == [(3, 2), (3, 0), (5, 0)]
    assert catalog.store.reservations[str(order_id)].status == RELEASED
    assert published_types(catalog)[-2:] == [StockCommitted.TYPE, StockReleased.TYPE]
