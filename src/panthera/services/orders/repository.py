"""Data access for orders."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.kernel.database import utcnow
from panthera.services.orders.models import Order


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
        self, *, user_id: uuid.UUID | None, status: str | None, offset: int, limit: int
    ) -> tuple[int, list[Order]]:
        query = sa.select(Order)
        if user_id is not None:
            query = query.where(Order.user_id == user_id)
        if status is not None:
            query = query.where(Order.status == status)
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(Order.created_at.desc(), Order.id).offset(offset).limit(limit)
        )
        return int(total or 0), list(rows)

    def add(self, order: Order) -> None:
        self.session.add(order)

    async def transition(
        self,
        order_id: uuid.UUID,
        *,
        sources: Iterable[str],
        target: str,
        where: dict[str, Any] | None = None,
        **values: Any,
    ) -> bool:
        """Move an order to `target` only if it is still in one of `sources`.

        The check and the write are one statement, so of two racing
        transitions (two cancels, a cancel and a ship) exactly one wins.
        """
        conditions = [Order.id == order_id, Order.status.in_(list(sources))]
        conditions += [getattr(Order, name) == value for name, value in (where or {}).items()]
        result = await self.session.execute(
            sa.update(Order)
            .where(*conditions)
            .values(status=target, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def due_for_payment(self, limit: int) -> list[Order]:
        rows = await self.session.scalars(
            sa.select(Order)
            .where(Order.status == "pending", Order.payment_status == "processing")
            .order_by(Order.created_at)
            .limit(limit)
        )
        return list(rows)

    async def due_for_refund(self, limit: int) -> list[Order]:
        rows = await self.session.scalars(
            sa.select(Order).where(Order.payment_status == "refund_pending").limit(limit)
        )
        return list(rows)

    async def set_refunded(self, order_id: uuid.UUID) -> None:
        await self.session.execute(
            sa.update(Order)
            .where(Order.id == order_id, Order.payment_status == "refund_pending")
            .values(payment_status="refunded", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def expired(self, before: datetime, limit: int) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            sa.select(Order.id)
            .where(
                Order.status == "pending",
                Order.payment_status == "pending",
                Order.created_at < before,
            )
            .limit(limit)
        )
        return list(rows)

    async def mark_payment(self, order_id: uuid.UUID, **values: Any) -> bool:
        result = await self.session.execute(
            sa.update(Order)
            .where(
                Order.id == order_id, Order.status == "pending", Order.payment_status == "pending"
            )
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
