"""In-memory stand-ins for the orders service's ports: its store, the catalog, the provider.

The store hands out copies, as a database does, so a use case sees only what it
read and a conditional move fails when the stored order changed meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from panthera.contracts.orders import OrderReason, OrderStatus, PaymentStatus
from panthera.kernel.database import utcnow
from panthera.kernel.fakes import FakeUnitOfWork
from panthera.kernel.outbox import Outbox
from panthera.kernel.uow import Transaction
from panthera.services.orders.catalog import Product
from panthera.services.orders.lifecycle import HOLDS_TOKEN, State, Step
from panthera.services.orders.models import Order, OrderLine
from panthera.services.orders.payments import DECLINES, Capture, ChargeResult
from panthera.services.orders.repository import DueCharge, OrdersTx, Tally
from panthera.services.orders.runtime import OrdersRuntime
from panthera.services.orders.settings import OrdersSettings


def _copy(order: Order) -> Order:
    columns = {attr.key: getattr(order, attr.key) for attr in Order.__mapper__.column_attrs}
    lines = [
        OrderLine(
            **{attr.key: getattr(line, attr.key) for attr in OrderLine.__mapper__.column_attrs}
        )
        for line in order.lines
    ]
    return Order(**columns, lines=lines)


class FakeOrders:
    """Orders kept in a dict; the `Orders` port of repository.py."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Order] = {}
        self.before_move: Callable[[Order], None] | None = None
        """Runs on the stored order just before a move: lets a test race a use case."""

    def put(self, order: Order) -> Order:
        self.rows[order.id] = _copy(order)
        return order

    async def get(self, order_id: uuid.UUID) -> Order | None:
        found = self.rows.get(order_id)
        return _copy(found) if found is not None else None

    async def by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Order | None:
        for order in self.rows.values():
            if order.user_id == user_id and order.idempotency_key == key:
                return _copy(order)
        return None

    async def find(
        self, *, user_id: uuid.UUID | None, status: OrderStatus | None, offset: int, limit: int
    ) -> tuple[int, list[Order]]:
        found = [
            order
            for order in self.rows.values()
            if (user_id is None or order.user_id == user_id)
            and (status is None or order.status == status)
        ]
        found.sort(key=lambda order: (order.created_at, str(order.id)), reverse=True)
        return len(found), [_copy(order) for order in found[offset : offset + limit]]

    async def in_states(
        self,
        states: Collection[State],
        *,
        limit: int,
        created_before: datetime | None = None,
        updated_before: datetime | None = None,
    ) -> list[Order]:
        found = [
            order
            for order in self.rows.values()
            if order.state in states
            and (created_before is None or order.created_at < created_before)
            and (updated_before is None or order.updated_at < updated_before)
        ]
        found.sort(key=lambda order: order.created_at)
        return [_copy(order) for order in found[:limit]]

    async def by_payment_reference(self, reference: str) -> Order | None:
        for order in self.rows.values():
            if order.payment_reference == reference:
                return _copy(order)
        return None

    async def known_references(self, references: Collection[str]) -> set[str]:
        held = {order.payment_reference for order in self.rows.values()}
        return {reference for reference in references if reference in held}

    def add(self, order: Order) -> None:
        if order.idempotency_key is not None and any(
            other.user_id == order.user_id and other.idempotency_key == order.idempotency_key
            for other in self.rows.values()
        ):
            raise IntegrityError("INSERT INTO orders", {}, Exception("uq_orders_idempotency"))
        self.put(order)

    async def tally_by_day(self, since: datetime, until: datetime) -> list[Tally]:
        counts: dict[tuple[date, str, str, str | None], list[int]] = {}
        for order in self.rows.values():
            if since <= order.created_at < until:
                key = (order.created_at.date(), order.currency, order.status, order.reason)
                tally = counts.setdefault(key, [0, 0])
                tally[0] += 1
                tally[1] += order.total
        return [
            Tally(day, currency, status, reason, n, total)
            for (day, currency, status, reason), (n, total) in counts.items()
        ]

    async def move(
        self,
        order: Order,
        to: State,
        *,
        reason: OrderReason | None = None,
        reason_text: str | None = None,
        payment_reference: str | None = None,
        client_secret: str | None = None,
    ) -> bool:
        stored = self.rows[order.id]
        if self.before_move is not None:
            self.before_move(stored)
        if stored.state != order.state:
            return False
        stored.status, stored.payment_status = to.status.value, to.payment.value
        if to.payment not in HOLDS_TOKEN:
            stored.payment_token = None
        if to.payment != PaymentStatus.REQUIRES_ACTION:
            stored.payment_client_secret = None
        elif client_secret is not None:
            stored.payment_client_secret = client_secret
        if reason is not None:
            stored.reason, stored.reason_text = reason.value, reason_text
        if payment_reference is not None:
            stored.payment_reference = payment_reference
        fresh = _copy(stored)
        for attr in Order.__mapper__.column_attrs:
            setattr(order, attr.key, getattr(fresh, attr.key))
        return True

    async def advance_by_id(self, order_id: uuid.UUID, step: Step) -> DueCharge | None:
        found = await self.get(order_id)
        if found is None or not step.allows(found.state):
            return None
        if not await self.move(found, step.after(found.state)):
            return None
        return DueCharge(
            found.id, found.total, found.currency, found.payment_token, found.trace_context
        )


class FakeOrdersTx(OrdersTx):
    def __init__(
        self, session: Any, outbox: Outbox | None, *, writable: bool, orders: FakeOrders
    ) -> None:
        Transaction.__init__(self, session, outbox, writable=writable)
        self.orders = orders


def fake_uow(orders: FakeOrders) -> FakeUnitOfWork[OrdersTx]:
    return FakeUnitOfWork[OrdersTx](functools.partial(FakeOrdersTx, orders=orders))


class FakeCatalog:
    def __init__(self, *products: Product) -> None:
        self.products = {product.product_id: product for product in products}
        self.asked: list[uuid.UUID] = []

    async def product(self, product_id: uuid.UUID) -> Product | None:
        self.asked.append(product_id)
        return self.products.get(product_id)


class FakePayments:
    """Charges once per idempotency key, like a real provider; `tok_visa` succeeds."""

    name = "fake"

    def __init__(self) -> None:
        self.charges: dict[str, ChargeResult] = {}
        self.tokens: dict[str, str] = {}
        self.refunds: list[str] = []

    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, token: str
    ) -> ChargeResult:
        if idempotency_key not in self.charges:
            self.tokens[idempotency_key] = token
            reference = f"ch_{len(self.charges) + 1}"
            self.charges[idempotency_key] = (
                ChargeResult("captured", reference)
                if token == "tok_visa"
                else ChargeResult("declined", reference, DECLINES.get(token, "invalid_token"))
            )
        return self.charges[idempotency_key]

    async def refund(self, *, reference: str) -> None:
        if reference not in self.refunds:
            self.refunds.append(reference)

    async def outcome(self, *, idempotency_key: str) -> ChargeResult | None:
        return self.charges.get(idempotency_key)

    async def captures_since(self, since: datetime) -> list[Capture]:
        return [
            Capture(result.reference, key)
            for key, result in self.charges.items()
            if result.status == "captured" and result.reference is not None
        ]


def runtime(
    orders: FakeOrders,
    *,
    catalog: FakeCatalog | None = None,
    payments: FakePayments | None = None,
) -> OrdersRuntime:
    return OrdersRuntime(
        uow=fake_uow(orders),
        settings=OrdersSettings(),
        catalog=catalog or FakeCatalog(),
        payments=payments or FakePayments(),
        payments_due=asyncio.Event(),
    )


SHOE = Product(uuid.uuid4(), "SKU-SHOE", "Trail running shoe", 1999, "EUR")
SOCKS = Product(uuid.uuid4(), "SKU-SOCK", "Wool socks", 500, "EUR")


def an_order(
    *,
    user_id: uuid.UUID | None = None,
    status: str = "pending",
    payment: str = "pending",
    products: Collection[Product] = (SHOE,),
    created_at: datetime | None = None,
    payment_reference: str | None = None,
) -> Order:
    """An order as checkout records it, then moved to `status` and `payment`."""
    when = created_at or utcnow()
    return Order(
        id=uuid.uuid4(),
        user_id=user_id or uuid.uuid4(),
        status=status,
        total=sum(product.price for product in products),
        currency="EUR",
        shipping_address={"name": "Alice"},
        payment_token="tok_visa" if payment in HOLDS_TOKEN else None,
        payment_status=payment,
        payment_reference=payment_reference,
        created_at=when,
        updated_at=when,
        lines=[
            OrderLine(
                position=i,
                product_id=product.product_id,
                sku=product.sku,
                name=product.name,
                quantity=1,
                unit_price=product.price,
            )
            for i, product in enumerate(products)
        ],
    )
