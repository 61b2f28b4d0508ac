"""The catalog service's tables, on its own metadata.

Products have an integer key for the search index (SQLite FTS5 rows are
integers and a table's implicit rowid may change on VACUUM) and a UUID, the
only id that leaves the service.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from panthera.kernel.database import UtcDateTime, utcnow
from panthera.kernel.outbox import inbox_table, outbox_table

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(100))
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid(), sa.ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Product(Base):
    __tablename__ = "products"

    pk: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), unique=True, default=uuid.uuid4)
    sku: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text())
    price: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid(), sa.ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    # The category's name, copied so the search index covers it without a join.
    search_category: Mapped[str] = mapped_column(sa.String(100), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    images: Mapped[list[str]] = mapped_column(sa.JSON(), default=list)
    version: Mapped[int] = mapped_column(sa.Integer(), default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        sa.Index("ix_products_created_at", "created_at"),
        sa.Index("ix_products_price", "price"),
        sa.Index("ix_products_name", "name"),
    )


class ProductImage(Base):
    """An uploaded picture of a product. Its objects are named by `digest` (content
    addressing): products showing the same picture share them. `variants` stays null
    until the media worker has written the derived sizes."""

    __tablename__ = "product_images"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True, default=uuid.uuid4)
    product_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid(), sa.ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(sa.Integer())
    digest: Mapped[str] = mapped_column(sa.String(64), index=True)
    extension: Mapped[str] = mapped_column(sa.String(8))
    content_type: Mapped[str] = mapped_column(sa.String(32))
    width: Mapped[int] = mapped_column(sa.Integer())
    height: Mapped[int] = mapped_column(sa.Integer())
    size_bytes: Mapped[int] = mapped_column(sa.Integer())
    variants: Mapped[list[dict[str, Any]] | None] = mapped_column(
        sa.JSON(none_as_null=True), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Stock(Base):
    """What can be sold now (`available`) and what orders hold (`reserved`)."""

    __tablename__ = "stock"

    product_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid(), sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    available: Mapped[int] = mapped_column(sa.Integer(), default=0)
    reserved: Mapped[int] = mapped_column(sa.Integer(), default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("available >= 0", name="ck_stock_available"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_reserved"),
    )


class ReservationStatus(StrEnum):
    """Where an order's hold on stock stands: `reserved`, then `committed` (sold) or
    `released`. `rejected` remembers that the order could not be served, so that a
    redelivered request gets the same answer instead of a second attempt."""

    RESERVED = "reserved"
    REJECTED = "rejected"
    RELEASED = "released"
    COMMITTED = "committed"


class Reservation(Base):
    """One order's decision, a `ReservationStatus`; `reason` is a rejection's code."""

    __tablename__ = "reservations"

    order_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ReservationLine(Base):
    __tablename__ = "reservation_lines"

    # No foreign key to products: a reservation stays on record after its product goes.
    order_id: Mapped[str] = mapped_column(
        sa.String(64),
        sa.ForeignKey("reservations.order_id", ondelete="CASCADE"),
        primary_key=True,
    )
    product_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid(), primary_key=True)
    quantity: Mapped[int] = mapped_column(sa.Integer())


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
