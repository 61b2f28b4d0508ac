"""The orders service's tables, on its own metadata."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from panthera.contracts.orders import OrderStatus, PaymentStatus
from panthera.kernel.database import UtcDateTime, utcnow
from panthera.kernel.outbox import inbox_table, outbox_table
from panthera.services.orders.lifecycle import State


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default=OrderStatus.PENDING.value)
    # A code of `OrderReason` once rejected or cancelled, and its sentence for a person.
    reason: Mapped[str | None] = mapped_column(sa.String(300))
    reason_text: Mapped[str | None] = mapped_column(sa.String(1000))
    total: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    shipping_address: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    # The provider's token is kept only until the charge is made, and never shown.
    payment_token: Mapped[str | None] = mapped_column(sa.String(200))
    payment_status: Mapped[str] = mapped_column(sa.String(20), default=PaymentStatus.PENDING.value)
    payment_reference: Mapped[str | None] = mapped_column(sa.String(100))
    payment_provider: Mapped[str] = mapped_column(sa.String(20), default="sandbox")
    # Shown to the customer only while the card waits for their 3-D Secure.
    payment_client_secret: Mapped[str | None] = mapped_column(sa.String(300))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255))
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # The checkout's trace (`traceparent`): the payment worker and the expiry job continue it.
    trace_context: Mapped[dict[str, str] | None] = mapped_column(sa.JSON())

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.position", lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def state(self) -> State:
        """Where the order stands on its two state machines."""
        return State.of(self.status, self.payment_status)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_orders_idempotency"),
        sa.Index("ix_orders_status_created", "status", "created_at"),
        sa.Index("ix_orders_payment_status", "payment_status"),
        sa.Index("ix_orders_created_at", "created_at"),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid(), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(sa.Integer(), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    sku: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[int] = mapped_column(sa.Integer())
    unit_price: Mapped[int] = mapped_column(sa.BigInteger())


class SandboxCharge(Base):
    """The sandbox payment provider's ledger (embedded topology and tests)."""

    __tablename__ = "sandbox_charges"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(20))
    decline_code: Mapped[str | None] = mapped_column(sa.String(50))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    refunded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class StripePayment(Base):
    """The Stripe provider's ledger: the one PaymentIntent of each order, recorded before
    it is confirmed, so that no retry ever confirms a second one."""

    __tablename__ = "stripe_payments"

    idempotency_key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    intent_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PaymentEvent(Base):
    """Provider events (webhooks) handled once each; disputes are kept here for people."""

    __tablename__ = "payment_events"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    type: Mapped[str] = mapped_column(sa.String(100))
    reference: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
