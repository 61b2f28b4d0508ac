"""What the orders service's use cases work with, built once when the service starts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from panthera.services.orders.catalog import Catalog
from panthera.services.orders.decisions import DecisionWatch
from panthera.services.orders.metrics import count_payments
from panthera.services.orders.payments import PaymentProvider
from panthera.services.orders.payments_due import PaymentsDue
from panthera.services.orders.repository import OrdersUoW
from panthera.services.orders.settings import OrdersSettings


@dataclass(frozen=True)
class OrdersRuntime:
    uow: OrdersUoW
    settings: OrdersSettings
    catalog: Catalog
    payments: PaymentProvider
    payments_due: asyncio.Event = field(default_factory=PaymentsDue)
    """Set after a commit that made a charge or a refund due: wakes the payment worker
    (a `PaymentsDue` also carries the charges this process's reservations hand over)."""
    decisions: DecisionWatch = field(default_factory=DecisionWatch)
    """Requests of this process waiting for an order's decision."""

    def __post_init__(self) -> None:
        count_payments(self.payments)
