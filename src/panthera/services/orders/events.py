"""Events the orders service publishes, and the catalog events it consumes.

The catalogue of every event is docs/events.md.
"""

from __future__ import annotations

from typing import Any

from panthera.services.orders.models import Order

ORDER_PLACED = "orders.order.placed"
ORDER_CONFIRMED = "orders.order.confirmed"
ORDER_REJECTED = "orders.order.rejected"
ORDER_CANCELLED = "orders.order.cancelled"
ORDER_SHIPPED = "orders.order.shipped"
ORDER_DELIVERED = "orders.order.delivered"

STOCK_RESERVED = "catalog.stock.reserved"
STOCK_REJECTED = "catalog.stock.rejected"


def order_data(order: Order, *, stock_reserved: bool | None = None) -> dict[str, Any]:
    """What other services learn of an order: never the payment token."""
    data: dict[str, Any] = {
        "orderId": str(order.id),
        "userId": str(order.user_id),
        "status": order.status,
        "reason": order.reason,
        "total": order.total,
        "currency": order.currency,
        "paymentStatus": order.payment_status,
        "items": [
            {
                "productId": str(line.product_id),
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unitPrice": line.unit_price,
            }
            for line in order.lines
        ],
    }
    if stock_reserved is not None:
        data["stockReserved"] = stock_reserved
    return data
