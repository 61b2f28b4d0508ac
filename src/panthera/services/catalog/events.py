"""Events the catalog publishes and the order events it consumes (catalogue: docs/events.md).

The saga's side of the catalog: an order placed reserves its lines (all or
none), a rejected or cancelled order releases them, a confirmed order commits
(sells) them. Each handler runs in the consumer's transaction, next to the
inbox row, and the use cases are idempotent per order id besides.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.errors import BadRequest, Conflict
from panthera.kernel.events import Event
from panthera.services.catalog.models import Product

if TYPE_CHECKING:
    from panthera.services.catalog.service import CatalogRuntime

log = structlog.get_logger("panthera.catalog.events")

PRODUCT_CREATED = "catalog.product.created"
PRODUCT_UPDATED = "catalog.product.updated"
PRODUCT_DELETED = "catalog.product.deleted"
STOCK_CHANGED = "catalog.stock.changed"
STOCK_RESERVED = "catalog.stock.reserved"
STOCK_RESERVATION_REJECTED = "catalog.stock.rejected"
STOCK_RELEASED = "catalog.stock.released"
STOCK_COMMITTED = "catalog.stock.committed"

ORDER_PLACED = "orders.order.placed"
ORDER_CONFIRMED = "orders.order.confirmed"
ORDER_REJECTED = "orders.order.rejected"
ORDER_CANCELLED = "orders.order.cancelled"


def product_data(product: Product, available: int) -> dict[str, Any]:
    """What other services may keep of a product: enough to show and price it."""
    return {
        "productId": str(product.id),
        "sku": product.sku,
        "name": product.name,
        "price": product.price,
        "currency": product.currency,
        "categoryId": str(product.category_id) if product.category_id else None,
        "available": available,
        "version": product.version,
    }


def stock_data(product_id: uuid.UUID, available: int, reserved: int) -> dict[str, Any]:
    return {"productId": str(product_id), "available": available, "reserved": reserved}


def reservation_data(
    order_id: str, lines: dict[uuid.UUID, int], reason: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "orderId": order_id,
        "lines": [{"productId": str(pid), "quantity": qty} for pid, qty in lines.items()],
    }
    if reason is not None:
        data["reason"] = reason
    return data


def _order_lines(data: Mapping[str, Any]) -> dict[uuid.UUID, int]:
    lines: dict[uuid.UUID, int] = {}
    for item in data.get("items") or ():
        product_id = uuid.UUID(str(item["productId"]))
        quantity = item["quantity"]
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise ValueError(f"quantity of {product_id} is not an integer")
        lines[product_id] = lines.get(product_id, 0) + quantity
    return lines


def _order_id(event: Event) -> str:
    return str(event.data.get("orderId") or event.subject)


_pending: set[asyncio.Task[None]] = set()


def _forget_after_commit(session: AsyncSession, rt: CatalogRuntime, ids: list[uuid.UUID]) -> None:
    # Invalidated once the consumer's transaction commits, so no reader re-caches old stock.
    if not ids:
        return

    def after_commit(_session: Any) -> None:
        task = asyncio.get_running_loop().create_task(
            rt.cache.delete(*(f"product:{pid}" for pid in ids))
        )
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    sa_event.listen(session.sync_session, "after_commit", after_commit, once=True)


async def on_order_placed(event: Event, session: AsyncSession, rt: CatalogRuntime) -> None:
    """Reserve every line of the order, or none, and say which in an event."""
    from panthera.services.catalog import service

    order_id = _order_id(event)
    try:
        lines = _order_lines(event.data)
        outcome = await service.reserve_in(session, rt=rt, order_id=order_id, lines=lines)
    except (BadRequest, KeyError, TypeError, ValueError) as exc:
        # Malformed lines will never succeed: a rejection ends the saga instead of retries.
        detail = exc.detail if isinstance(exc, BadRequest) else str(exc)
        await service.reject_in(
            session, rt=rt, order_id=order_id, reason=f"invalid order: {detail}"
        )
        return
    _forget_after_commit(session, rt, list(outcome.lines))


async def _settle(event: Event, session: AsyncSession, rt: CatalogRuntime, target: str) -> None:
    from panthera.services.catalog import service

    order_id = _order_id(event)
    try:
        outcome = await service.settle_in(
            session,
            rt=rt,
            order_id=order_id,
            target="committed" if target == "committed" else "released",
        )
    except Conflict as exc:  # e.g. confirmed after a cancellation already released it
        log.warning("reservation_not_settled", order_id=order_id, target=target, detail=exc.detail)
        return
    if outcome is not None:
        _forget_after_commit(session, rt, list(outcome.lines))


async def on_order_confirmed(event: Event, session: AsyncSession, rt: CatalogRuntime) -> None:
    """Stock reserved and payment captured: the reserved units are sold."""
    await _settle(event, session, rt, "committed")


async def on_order_ended(event: Event, session: AsyncSession, rt: CatalogRuntime) -> None:
    """A rejected or cancelled order gives its units back."""
    await _settle(event, session, rt, "released")


HANDLERS: dict[str, Any] = {
    ORDER_PLACED: on_order_placed,
    ORDER_CONFIRMED: on_order_confirmed,
    ORDER_REJECTED: on_order_ended,
    ORDER_CANCELLED: on_order_ended,
}
