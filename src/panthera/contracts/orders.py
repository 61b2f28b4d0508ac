"""Events of the orders service, and the rules of an order's shape that services share."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from panthera.contracts.base import EventContract

MAX_UNITS_PER_PRODUCT = 1000
"""At most this many units of one product in an order, once its lines are merged."""
MAX_PRODUCTS_PER_ORDER = 100
"""At most this many distinct products in one order."""


class OrderReason(StrEnum):
    """Why an order was rejected or cancelled: a stable code clients and services rely on."""

    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_PRODUCT = "unknown_product"
    INVALID_ORDER = "invalid_order"
    PAYMENT_DECLINED = "payment_declined"
    EXPIRED = "expired"
    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
    CANCELLED_BY_ADMIN = "cancelled_by_admin"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    """The card asks the customer to authenticate (3-D Secure) before it is charged."""
    CAPTURED = "captured"
    DECLINED = "declined"
    VOIDED = "voided"
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


class OrderItem(EventContract):
    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    unit_price: int


class OrderEvent(EventContract):
    """An order as other services may know it: never the payment token."""

    order_id: uuid.UUID
    user_id: uuid.UUID
    status: OrderStatus
    reason: OrderReason | None = None
    reason_text: str | None = Field(
        default=None, description="The reason for a person, e.g. in an email."
    )
    total: int = Field(description="Minor units of `currency`.")
    currency: str
    payment_status: PaymentStatus
    items: list[OrderItem]
    placed_at: datetime | None = Field(
        default=None, description="When the order was placed (absent from older events)."
    )

    @property
    def subject(self) -> str:
        return str(self.order_id)


class OrderPlaced(OrderEvent):
    """A pending order awaits its stock and its payment."""

    TYPE = "orders.order.placed"


class OrderConfirmed(OrderEvent):
    """Stock reserved and payment captured."""

    TYPE = "orders.order.confirmed"


class OrderRejected(OrderEvent):
    """Out of stock, declined, or expired; nothing is held or charged any more."""

    TYPE = "orders.order.rejected"


class OrderCancelled(OrderEvent):
    """Cancelled before shipping: stock released, payment voided or refunded."""

    TYPE = "orders.order.cancelled"


class OrderShipped(OrderEvent):
    TYPE = "orders.order.shipped"


class OrderDelivered(OrderEvent):
    TYPE = "orders.order.delivered"
