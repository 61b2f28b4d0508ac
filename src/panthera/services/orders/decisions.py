"""Requests waiting for an order's decision, woken when it is decided.

`GET /v1/orders/{id}?waitFor=decision` holds the request while the order is
pending. Every replica observes the orders service's own decision events
(`observers` in the spec: every process hears them, not one of a queue group),
so whichever replica decided, the one holding the request wakes at once; nothing
polls the database while waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from panthera.contracts.orders import OrderCancelled, OrderConfirmed, OrderEvent, OrderRejected
from panthera.kernel.events import Received

DECISIVE: tuple[type[OrderEvent], ...] = (OrderConfirmed, OrderRejected, OrderCancelled)
"""Events after which an order is no longer pending."""


class DecisionWatch:
    """Waiting requests by order id, in this process."""

    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, list[asyncio.Event]] = {}

    @asynccontextmanager
    async def watching(self, order_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set once `order_id` is decided; enter it BEFORE reading the order, so a
        decision landing between the read and the wait is not missed."""
        decided = asyncio.Event()
        self._waiting.setdefault(order_id, []).append(decided)
        try:
            yield decided
        finally:
            waiters = self._waiting.get(order_id, [])
            if decided in waiters:
                waiters.remove(decided)
            if not waiters:
                self._waiting.pop(order_id, None)

    def announce(self, order_id: uuid.UUID) -> None:
        for decided in self._waiting.get(order_id, ()):
            decided.set()

    @property
    def waiting(self) -> int:
        return sum(len(waiters) for waiters in self._waiting.values())


async def on_decided(received: Received[OrderEvent], watch: DecisionWatch) -> None:
    watch.announce(received.data.order_id)
