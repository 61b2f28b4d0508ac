"""The order events the catalog reacts to: its side of the checkout saga.

Each handler runs in the consumer's transaction, next to the inbox row, and
calls one inventory use case; those are idempotent per order id besides.
"""

from __future__ import annotations

from collections.abc import Mapping

from panthera.contracts import EventContract
from panthera.contracts.orders import OrderCancelled, OrderConfirmed, OrderPlaced, OrderRejected
from panthera.kernel.consumer import Handler
from panthera.kernel.events import Received
from panthera.services.catalog import inventory
from panthera.services.catalog.repository import CatalogTx
from panthera.services.catalog.runtime import CatalogRuntime


async def on_order_placed(
    received: Received[OrderPlaced], tx: CatalogTx, rt: CatalogRuntime
) -> None:
    """Reserve every line of the order, or none, and say which in an event."""
    order = received.data
    await inventory.reserve(
        tx=tx,
        cache=rt.cache,
        order_id=str(order.order_id),
        lines=[(item.product_id, item.quantity) for item in order.items],
    )


async def on_order_confirmed(
    received: Received[OrderConfirmed], tx: CatalogTx, rt: CatalogRuntime
) -> None:
    """Stock reserved and payment captured: the reserved units are sold."""
    await inventory.commit(tx=tx, cache=rt.cache, order_id=str(received.data.order_id))


async def on_order_ended(
    received: Received[OrderRejected] | Received[OrderCancelled],
    tx: CatalogTx,
    rt: CatalogRuntime,
) -> None:
    """A rejected or cancelled order gives its units back."""
    await inventory.release(tx=tx, cache=rt.cache, order_id=str(received.data.order_id))


HANDLERS: Mapping[type[EventContract], Handler] = {
    OrderPlaced: on_order_placed,
    OrderConfirmed: on_order_confirmed,
    OrderRejected: on_order_ended,
    OrderCancelled: on_order_ended,
}
