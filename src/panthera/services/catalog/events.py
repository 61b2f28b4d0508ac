"""The events the catalog publishes, built from its own records (contracts.catalog).

The catalogue of every event is docs/events.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic.alias_generators import to_camel

from panthera.contracts.catalog import (
    ImageEvent,
    ProductCreated,
    ProductEvent,
    ProductUpdated,
    ReservationEvent,
    ReservedLine,
    StockChanged,
    StockRejected,
    StockRejectionReason,
)
from panthera.services.catalog.models import Product, ProductImage
from panthera.services.catalog.repository import Levels

P = TypeVar("P", bound=ProductEvent)
R = TypeVar("R", bound=ReservationEvent)
I = TypeVar("I", bound=ImageEvent)  # noqa: E741 (a type variable, named like its siblings)


def _product_fields(product: Product, available: int) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "sku": product.sku,
        "name": product.name,
        "price": product.price,
        "currency": product.currency,
        "category_id": product.category_id,
        "available": available,
        "version": product.version,
    }


def product_event(kind: type[P], product: Product, available: int) -> P:
    """`ProductCreated` or `ProductDeleted` of a product with `available` units on sale."""
    return kind(**_product_fields(product, available))


def product_imported(row: Mapping[str, Any], available: int) -> ProductCreated:
    """`ProductCreated` of a product bulk-inserted from `row`, its column values."""
    return ProductCreated(
        product_id=row["id"],
        sku=row["sku"],
        name=row["name"],
        price=row["price"],
        currency=row["currency"],
        category_id=row["category_id"],
        available=available,
        version=row["version"],
    )


def product_updated(product: Product, available: int, changed: Iterable[str]) -> ProductUpdated:
    """`changed` names the product's attributes; the event names them as its own fields."""
    return ProductUpdated(
        **_product_fields(product, available), changed=sorted(to_camel(name) for name in changed)
    )


def stock_changed(product_id: uuid.UUID, levels: Levels) -> StockChanged:
    available, reserved = levels
    return StockChanged(product_id=product_id, available=available, reserved=reserved)


def _lines(lines: Mapping[uuid.UUID, int]) -> list[ReservedLine]:
    return [ReservedLine(product_id=pid, quantity=qty) for pid, qty in lines.items()]


def reservation_event(kind: type[R], order_id: str, lines: Mapping[uuid.UUID, int]) -> R:
    """`StockReserved`, `StockReleased` or `StockCommitted` of an order's lines."""
    return kind(order_id=order_id, lines=_lines(lines))


def stock_rejected(
    order_id: str,
    lines: Mapping[uuid.UUID, int],
    reason: StockRejectionReason,
    product_ids: Iterable[uuid.UUID],
    detail: str,
) -> StockRejected:
    return StockRejected(
        order_id=order_id,
        lines=_lines(lines),
        reason=reason,
        product_ids=list(product_ids),
        detail=detail,
    )


def image_event(kind: type[I], image: ProductImage) -> I:
    """`ImageUploaded` or `ImageDeleted` of a stored image."""
    fields: dict[str, Any] = {
        "image_id": image.id,
        "product_id": image.product_id,
        "digest": image.digest,
        "extension": image.extension,
    }
    if "content_type" in kind.model_fields:
        fields.update(
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            size_bytes=image.size_bytes,
        )
    return kind(**fields)
