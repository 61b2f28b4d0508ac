"""Use cases of stock: levels, and the order saga's reservations.

An order placed reserves its lines, all or none; a confirmed order commits
(sells) them; a rejected or cancelled order releases them. Each decision is
stored per order id, so a redelivered or repeated event gets the answer
already given, and events of one order arriving out of order never hold
stock for an order that has ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import structlog

from panthera.contracts.catalog import (
    StockCommitted,
    StockRejectionReason,
    StockReleased,
    StockReserved,
)
from panthera.contracts.orders import MAX_PRODUCTS_PER_ORDER, MAX_UNITS_PER_PRODUCT
from panthera.kernel.cache import Cache
from panthera.kernel.errors import NotFound
from panthera.services.catalog import events
from panthera.services.catalog.models import ReservationStatus, Stock
from panthera.services.catalog.products import forget_after_commit
from panthera.services.catalog.repository import CatalogTx, Levels, ReservationState
from panthera.services.catalog.runtime import CatalogRuntime

log = structlog.get_logger("panthera.catalog")

Lines = dict[uuid.UUID, int]


async def get_stock(*, rt: CatalogRuntime, product_id: uuid.UUID) -> Stock:
    """A product's available and reserved stock."""
    async with rt.uow.read() as tx:
        stock = await tx.stock.get(product_id)
    if stock is None:
        raise NotFound("Product not found")
    return stock


async def set_stock(*, rt: CatalogRuntime, product_id: uuid.UUID, available: int) -> Stock:
    """Set what can be sold now (a stock count); reservations already held are kept."""
    async with rt.uow.write() as tx:
        levels = await tx.stock.set_available(product_id, available)
        if levels is None:
            raise NotFound("Product not found")
        tx.record(events.stock_changed(product_id, levels))
        forget_after_commit(tx, rt.cache, [product_id])
    return Stock(product_id=product_id, available=levels[0], reserved=levels[1])


class _Refused(Exception):
    """The order cannot be served: why, which products, and a sentence for operators."""

    def __init__(
        self, reason: StockRejectionReason, product_ids: Iterable[uuid.UUID], detail: str
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.product_ids = sorted(product_ids, key=str)
        self.detail = detail


class _AlreadyDecided(Exception):
    """A concurrent transaction stored this order's decision first."""


def _order_lines(lines: Iterable[tuple[uuid.UUID, int]]) -> Lines:
    """An order's lines merged by product, checked against the order rules all services share.

    Raises `_Refused` (`invalid_order`) for an empty order, a quantity below one, more than
    MAX_UNITS_PER_PRODUCT of a product or more than MAX_PRODUCTS_PER_ORDER products.
    """
    merged: Lines = {}
    not_positive: set[uuid.UUID] = set()
    for product_id, quantity in lines:
        if quantity < 1:
            not_positive.add(product_id)
        merged[product_id] = merged.get(product_id, 0) + quantity
    if not merged:
        raise _Refused(StockRejectionReason.INVALID_ORDER, (), "the order has no lines")
    if not_positive:
        raise _Refused(
            StockRejectionReason.INVALID_ORDER, not_positive, "a quantity is less than 1"
        )
    too_many = [pid for pid, quantity in merged.items() if quantity > MAX_UNITS_PER_PRODUCT]
    if too_many:
        raise _Refused(
            StockRejectionReason.INVALID_ORDER,
            too_many,
            f"more than {MAX_UNITS_PER_PRODUCT} units of a product",
        )
    if len(merged) > MAX_PRODUCTS_PER_ORDER:
        raise _Refused(
            StockRejectionReason.INVALID_ORDER,
            (),
            f"{len(merged)} products, more than {MAX_PRODUCTS_PER_ORDER}",
        )
    # One lock order for every order: sorted ids keep two orders from deadlocking.
    return dict(sorted(merged.items(), key=lambda line: str(line[0])))


async def reserve(
    *, tx: CatalogTx, cache: Cache, order_id: str, lines: Iterable[tuple[uuid.UUID, int]]
) -> ReservationState:
    """Hold stock for every line of an order, or for none; `StockReserved` or `StockRejected`.

    A shortage is an outcome (`rejected`, with a reason and the products at fault), not an
    error: the saga reacts to it. The decision is stored, so a repeated call never reserves
    twice nor turns a rejection into a late success; an order already ended stays ended.
    """
    existing = await tx.reservations.get(order_id)
    if existing is not None:
        return existing
    wanted: Lines = {}
    try:
        wanted = _order_lines(lines)
        taken = await _take(tx, order_id, wanted)
    except _Refused as refused:
        return await _reject(tx, order_id, wanted, refused)
    except _AlreadyDecided:
        return await _decided(tx, order_id)
    for product_id, levels in taken.items():
        _announce_if_sold_out(tx, product_id, levels)
    tx.record(events.reservation_event(StockReserved, order_id, wanted))
    forget_after_commit(tx, cache, wanted)
    return ReservationState(order_id, ReservationStatus.RESERVED, wanted)


async def _take(tx: CatalogTx, order_id: str, wanted: Lines) -> dict[uuid.UUID, Levels]:
    """Take every line and store the reservation; the levels after each line.

    No savepoint (two more statements on every order): a refusal gives back, in this
    same transaction, the lines it had taken, and nothing was recorded before the end.
    """
    taken: dict[uuid.UUID, Levels] = {}
    short: list[uuid.UUID] = []
    unknown: list[uuid.UUID] = []
    for product_id, quantity in wanted.items():
        levels = await tx.stock.take(product_id, quantity)
        if levels is not None:
            taken[product_id] = levels
        elif await tx.stock.get(product_id) is None:
            unknown.append(product_id)
        else:
            short.append(product_id)
    # Every line is tried, so that a rejection names all the products at fault.
    refusal: _Refused | _AlreadyDecided | None = None
    if unknown:
        refusal = _Refused(
            StockRejectionReason.UNKNOWN_PRODUCT,
            unknown,
            "unknown product: " + ", ".join(map(str, unknown)),
        )
    elif short:
        refusal = _Refused(
            StockRejectionReason.OUT_OF_STOCK,
            short,
            "out of stock: " + ", ".join(map(str, short)),
        )
    elif not await tx.reservations.add(
        ReservationState(order_id, ReservationStatus.RESERVED, wanted)
    ):
        refusal = _AlreadyDecided()
    if refusal is not None:
        for product_id in taken:
            await tx.stock.give_back(product_id, wanted[product_id])
        raise refusal
    return taken


def _announce_if_sold_out(tx: CatalogTx, product_id: uuid.UUID, levels: Levels) -> None:
    """`catalog.stock.changed` when a reservation took the last units on sale.

    The reservation events carry each order's lines; a level of its own is announced
    only when a product's availability crosses zero (and on every stock count, see
    `set_stock`), which is what an observer of "sold out" needs.
    """
    if levels[0] == 0:
        tx.record(events.stock_changed(product_id, levels))


def _announce_if_back(tx: CatalogTx, product_id: uuid.UUID, levels: Levels, returned: int) -> None:
    """`catalog.stock.changed` when units given back put a sold-out product on sale again."""
    if 0 < levels[0] <= returned:
        tx.record(events.stock_changed(product_id, levels))


async def _reject(
    tx: CatalogTx, order_id: str, wanted: Lines, refused: _Refused
) -> ReservationState:
    state = ReservationState(order_id, ReservationStatus.REJECTED, reason=refused.reason)
    if not await tx.reservations.add(state):
        return await _decided(tx, order_id)
    tx.record(
        events.stock_rejected(order_id, wanted, refused.reason, refused.product_ids, refused.detail)
    )
    return state


async def _decided(tx: CatalogTx, order_id: str) -> ReservationState:
    state = await tx.reservations.get(order_id)
    assert state is not None, "a stored decision is never deleted"
    return state


_SETTLE_FROM: dict[ReservationStatus, tuple[ReservationStatus, ...]] = {
    ReservationStatus.RELEASED: (ReservationStatus.RESERVED, ReservationStatus.COMMITTED),
    ReservationStatus.COMMITTED: (ReservationStatus.RESERVED,),
}
"""Where a reservation may come from to be released or committed."""


async def release(*, tx: CatalogTx, cache: Cache, order_id: str) -> ReservationState | None:
    """Give an order's units back (`StockReleased`); None if it never reserved any.

    Held units go back from reserved; units already sold come back as a return.
    Releasing twice, or releasing a rejected order, changes nothing. An order
    released before its reservation arrives leaves a mark, so that the late
    reservation is answered `released` and never holds stock.
    """
    current = await tx.reservations.get(order_id)
    if current is None:
        if await tx.reservations.add(ReservationState(order_id, ReservationStatus.RELEASED)):
            return None
        current = await _decided(tx, order_id)  # a reservation was stored meanwhile
    return await _settle(tx, cache, current, ReservationStatus.RELEASED)


async def commit(*, tx: CatalogTx, cache: Cache, order_id: str) -> ReservationState | None:
    """Sell an order's reserved units (`StockCommitted`); None if it never reserved any."""
    current = await tx.reservations.get(order_id)
    if current is None:
        log.warning("reservation_not_found", order_id=order_id)
        return None
    return await _settle(tx, cache, current, ReservationStatus.COMMITTED)


async def _settle(
    tx: CatalogTx, cache: Cache, current: ReservationState, target: ReservationStatus
) -> ReservationState:
    order_id = current.order_id
    # A move fails only when a concurrent call changed the status first; statuses only
    # move forward (reserved -> committed -> released), so this loop ends.
    while True:
        if current.status == target:
            return current
        if current.status not in _SETTLE_FROM[target]:
            if current.status != ReservationStatus.REJECTED:  # a rejection holds nothing
                log.warning(
                    "reservation_not_settled",
                    order_id=order_id,
                    status=current.status,
                    target=target,
                )
            return current
        if await tx.reservations.move(order_id, current.status, target):
            break
        current = await _decided(tx, order_id)
    for product_id, quantity in current.lines.items():
        if target == ReservationStatus.COMMITTED:
            levels = await tx.stock.sell(product_id, quantity)
        elif current.status == ReservationStatus.COMMITTED:
            levels = await tx.stock.restock(product_id, quantity)
        else:
            levels = await tx.stock.give_back(product_id, quantity)
        if levels is not None and target == ReservationStatus.RELEASED:
            # None: the product was deleted meanwhile, nothing moved. Selling leaves
            # what is on sale as it was: only a release can end a sell-out.
            _announce_if_back(tx, product_id, levels, quantity)
    kind = StockReleased if target == ReservationStatus.RELEASED else StockCommitted
    tx.record(events.reservation_event(kind, order_id, current.lines))
    forget_after_commit(tx, cache, current.lines)
    return ReservationState(order_id, target, current.lines, current.reason)
