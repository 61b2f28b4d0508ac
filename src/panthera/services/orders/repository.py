"""Data access for orders, and the orders service's unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from panthera.contracts.orders import OrderReason, OrderStatus, PaymentStatus
from panthera.kernel.database import utcnow
from panthera.kernel.outbox import Outbox
from panthera.kernel.uow import Transaction, UnitOfWork
from panthera.services.orders.lifecycle import HOLDS_TOKEN, State, Step
from panthera.services.orders.models import Order, PaymentEvent


@dataclass(frozen=True)
class Tally:
    """Orders placed on one UTC day in one currency with one status and reason."""

    day: date
    currency: str
    status: str
    reason: str | None
    count: int
    total: int


@dataclass(frozen=True)
class DueCharge:
    """What the payment worker needs to charge an order, and nothing it must re-read."""

    order_id: uuid.UUID
    amount: int
    currency: str
    token: str | None
    trace_context: dict[str, str] | None


class Orders(Protocol):
    """What the use cases need of stored orders (a fake in unit tests, SQL otherwise)."""

    async def get(self, order_id: uuid.UUID) -> Order | None: ...

    async def by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Order | None: ...

    async def find(
        self, *, user_id: uuid.UUID | None, status: OrderStatus | None, offset: int, limit: int
    ) -> tuple[int, list[Order]]: ...

    async def in_states(
        self,
        states: Collection[State],
        *,
        limit: int,
        created_before: datetime | None = None,
        updated_before: datetime | None = None,
    ) -> list[Order]: ...

    async def by_payment_reference(self, reference: str) -> Order | None: ...

    async def known_references(self, references: Collection[str]) -> set[str]: ...

    def add(self, order: Order) -> None: ...

    async def tally_by_day(self, since: datetime, until: datetime) -> list[Tally]: ...

    async def move(
        self,
        order: Order,
        to: State,
        *,
        reason: OrderReason | None = None,
        reason_text: str | None = None,
        payment_reference: str | None = None,
        client_secret: str | None = None,
    ) -> bool: ...

    async def advance_by_id(self, order_id: uuid.UUID, step: Step) -> DueCharge | None:
        """Apply a step with one source to an order known only by id; None if it stands
        elsewhere (or is not there)."""
        ...


def _move_values(
    to: State,
    *,
    reason: OrderReason | None,
    reason_text: str | None,
    payment_reference: str | None,
    client_secret: str | None,
) -> dict[str, Any]:
    """The columns a move to `to` writes: the state, and what the state keeps or drops."""
    values: dict[str, Any] = {
        "status": to.status.value,
        "payment_status": to.payment.value,
        "updated_at": utcnow(),
    }
    if to.payment not in HOLDS_TOKEN:
        values["payment_token"] = None
    if to.payment != PaymentStatus.REQUIRES_ACTION:
        values["payment_client_secret"] = None
    elif client_secret is not None:
        values["payment_client_secret"] = client_secret
    if reason is not None:
        values["reason"] = reason.value
        values["reason_text"] = reason_text
    if payment_reference is not None:
        values["payment_reference"] = payment_reference
    return values


def _utc_day(session: AsyncSession, column: Any) -> sa.ColumnElement[str]:
    """The UTC calendar day of a timestamp, as `YYYY-MM-DD` on either database."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.date(column)  # SQLite stores UTC text


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, order_id: uuid.UUID) -> Order | None:
        return await self.session.get(Order, order_id, populate_existing=True)

    async def by_idempotency_key(self, user_id: uuid.UUID, key: str) -> Order | None:
        found = await self.session.execute(
            sa.select(Order).where(Order.user_id == user_id, Order.idempotency_key == key)
        )
        return found.scalar_one_or_none()

    async def find(
        self, *, user_id: uuid.UUID | None, status: OrderStatus | None, offset: int, limit: int
    ) -> tuple[int, list[Order]]:
        query = sa.select(Order)
        if user_id is not None:
            query = query.where(Order.user_id == user_id)
        if status is not None:
            query = query.where(Order.status == status.value)
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(Order.created_at.desc(), Order.id).offset(offset).limit(limit)
        )
        return int(total or 0), list(rows)

    async def in_states(
        self,
        states: Collection[State],
        *,
        limit: int,
        created_before: datetime | None = None,
        updated_before: datetime | None = None,
    ) -> list[Order]:
        """Orders standing in one of `states`, oldest first (work due for the workers)."""
        query = sa.select(Order).where(
            sa.or_(
                *(
                    sa.and_(
                        Order.status == state.status.value,
                        Order.payment_status == state.payment.value,
                    )
                    for state in states
                )
            )
        )
        if created_before is not None:
            query = query.where(Order.created_at < created_before)
        if updated_before is not None:
            query = query.where(Order.updated_at < updated_before)
        rows = await self.session.scalars(query.order_by(Order.created_at).limit(limit))
        return list(rows)

    async def by_payment_reference(self, reference: str) -> Order | None:
        found = await self.session.scalars(
            sa.select(Order).where(Order.payment_reference == reference).limit(1)
        )
        return found.first()

    async def known_references(self, references: Collection[str]) -> set[str]:
        """Which of these provider references some order holds."""
        rows = await self.session.scalars(
            sa.select(Order.payment_reference).where(Order.payment_reference.in_(references))
        )
        return {reference for reference in rows if reference is not None}

    def add(self, order: Order) -> None:
        self.session.add(order)

    async def tally_by_day(self, since: datetime, until: datetime) -> list[Tally]:
        day = _utc_day(self.session, Order.created_at)
        rows = await self.session.execute(
            sa.select(
                day,
                Order.currency,
                Order.status,
                Order.reason,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(Order.total), 0),
            )
            .where(Order.created_at >= since, Order.created_at < until)
            .group_by(day, Order.currency, Order.status, Order.reason)
        )
        return [
            Tally(date.fromisoformat(str(d)[:10]), currency, status, reason, int(n), int(total))
            for d, currency, status, reason, n, total in rows
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
        """Move `order` to `to` only if it still stands where it was read; False otherwise.

        The check and the write are one statement, so of two racing steps (two
        cancels, a cancel and a ship, two payment workers) exactly one wins. Every
        step changes the state and neither machine has a cycle, so a match means
        nobody moved the order since it was read: `order` then shows the stored row.
        """
        before = order.state
        values = _move_values(
            to,
            reason=reason,
            reason_text=reason_text,
            payment_reference=payment_reference,
            client_secret=client_secret,
        )
        result = await self.session.execute(
            sa.update(Order)
            .where(
                Order.id == order.id,
                Order.status == before.status.value,
                Order.payment_status == before.payment.value,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        for name, value in values.items():
            set_committed_value(order, name, value)  # already written: nothing to flush
        return True

    async def advance_by_id(self, order_id: uuid.UUID, step: Step) -> DueCharge | None:
        """One conditional `UPDATE ... RETURNING` instead of reading the order (and its
        lines) first: the hot step of the saga needs neither."""
        (before,) = step.sources
        values = _move_values(
            step.after(before),
            reason=None,
            reason_text=None,
            payment_reference=None,
            client_secret=None,
        )
        row = (
            await self.session.execute(
                sa.update(Order)
                .where(
                    Order.id == order_id,
                    Order.status == before.status.value,
                    Order.payment_status == before.payment.value,
                )
                .values(**values)
                .returning(Order.total, Order.currency, Order.payment_token, Order.trace_context)
                .execution_options(synchronize_session=False)
            )
        ).one_or_none()
        if row is None:
            return None
        return DueCharge(
            order_id, int(row.total), row.currency, row.payment_token, row.trace_context
        )


class PaymentEventRepository:
    """Provider events already handled, by their id."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_once(self, event: PaymentEvent) -> bool:
        """Record `event`; False if it was recorded before (a replay)."""
        if await self.session.get(PaymentEvent, event.id) is not None:
            return False
        self.session.add(event)
        await self.session.flush()  # a concurrent replay fails here, not at commit
        return True


class OrdersTx(Transaction):
    """One transaction of the orders database, with its repositories."""

    orders: Orders

    def __init__(self, session: AsyncSession, outbox: Outbox | None, *, writable: bool) -> None:
        super().__init__(session, outbox, writable=writable)
        self.orders = OrderRepository(session)
        self.payment_events = PaymentEventRepository(session)

    async def advance(
        self,
        order: Order,
        step: Step,
        *,
        reason: OrderReason | None = None,
        reason_text: str | None = None,
        payment_reference: str | None = None,
        client_secret: str | None = None,
    ) -> bool:
        """Apply `step` to `order` as it was read here (409 if the step cannot start there);
        False if someone moved the order meanwhile."""
        return await self.orders.move(
            order,
            step.after(order.state),
            reason=reason,
            reason_text=reason_text,
            payment_reference=payment_reference,
            client_secret=client_secret,
        )


OrdersUoW = UnitOfWork[OrdersTx]
