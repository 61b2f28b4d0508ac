"""The catalog's answers to an order, handled inside the consumer's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import structlog

from panthera.contracts.catalog import StockRejected, StockReserved
from panthera.kernel.consumer import Handler
from panthera.kernel.events import Received
from panthera.services.orders import reasons, saga
from panthera.services.orders.repository import OrdersTx
from panthera.services.orders.runtime import OrdersRuntime

log = structlog.get_logger("panthera.orders.handlers")


def _order_id(order_id: str) -> uuid.UUID | None:
    # The catalog reserves for any order id; only a UUID can be one of ours.
    try:
        return uuid.UUID(order_id)
    except ValueError:
        log.warning("reservation_for_unknown_order", order_id=order_id)
        return None


async def on_stock_reserved(
    received: Received[StockReserved], tx: OrdersTx, rt: OrdersRuntime
) -> None:
    order_id = _order_id(received.data.order_id)
    if order_id is not None:
        await saga.stock_reserved(tx=tx, order_id=order_id, payments_due=rt.payments_due)


async def on_stock_rejected(
    received: Received[StockRejected], tx: OrdersTx, rt: OrdersRuntime
) -> None:
    order_id = _order_id(received.data.order_id)
    if order_id is not None:
        await saga.stock_rejected(
            tx=tx,
            order_id=order_id,
            reason=reasons.FROM_STOCK[received.data.reason],
            product_ids=received.data.product_ids,
        )


HANDLERS: Mapping[Any, Handler] = {
    StockReserved: on_stock_reserved,
    StockRejected: on_stock_rejected,
}
