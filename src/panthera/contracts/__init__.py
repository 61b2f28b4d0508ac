"""The events services exchange: one typed, versioned payload per event type.

Every service may import this package; it imports no service and nothing of the
kernel (import-linter checks both), so it is the one place where a publisher and
its consumers agree. The catalogue with meanings is docs/events.md.
"""

from __future__ import annotations

from panthera.contracts import catalog, orders, users
from panthera.contracts.base import EventContract

ALL: tuple[type[EventContract], ...] = (
    users.UserRegistered,
    users.UserUpdated,
    users.UserDeleted,
    users.SessionsRevoked,
    catalog.ProductCreated,
    catalog.ProductUpdated,
    catalog.ProductDeleted,
    catalog.StockChanged,
    catalog.StockReserved,
    catalog.StockRejected,
    catalog.StockReleased,
    catalog.StockCommitted,
    catalog.ImageUploaded,
    catalog.ImageDeleted,
    orders.OrderPlaced,
    orders.OrderConfirmed,
    orders.OrderRejected,
    orders.OrderCancelled,
    orders.OrderShipped,
    orders.OrderDelivered,
)
"""Every event type published today, at its current version."""

__all__ = ["ALL", "EventContract", "catalog", "orders", "users"]
