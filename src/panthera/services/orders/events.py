"""What the orders service publishes: its orders as event contracts (docs/events.md)."""

from __future__ import annotations

from typing import TypeVar

from panthera.contracts.orders import OrderEvent, OrderItem, OrderReason
from panthera.services.orders.models import Order

E = TypeVar("E", bound=OrderEvent)


def order_event(contract: type[E], order: Order) -> E:
    """`order` as other services may know it: never the payment token."""
    state = order.state
    return contract(
        order_id=order.id,
        user_id=order.user_id,
        status=state.status,
        reason=OrderReason(order.reason) if order.reason else None,
        reason_text=order.reason_text,
        total=order.total,
        currency=order.currency,
        payment_status=state.payment,
        items=[
            OrderItem(
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in order.lines
        ],
        placed_at=order.created_at,
    )
