"""Events of the catalog service."""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import Field

from panthera.contracts.base import EventContract


class ProductEvent(EventContract):
    """Enough of a product to show and price it elsewhere."""

    product_id: uuid.UUID
    sku: str
    name: str
    price: int = Field(description="Minor units of `currency`.")
    currency: str
    category_id: uuid.UUID | None = None
    available: int
    version: int

    @property
    def subject(self) -> str:
        return str(self.product_id)


class ProductCreated(ProductEvent):
    TYPE = "catalog.product.created"


class ProductUpdated(ProductEvent):
    TYPE = "catalog.product.updated"

    changed: list[str] = Field(default_factory=list, description="Fields that changed.")


class ProductDeleted(ProductEvent):
    """The product's last values."""

    TYPE = "catalog.product.deleted"


class StockChanged(EventContract):
    TYPE = "catalog.stock.changed"

    product_id: uuid.UUID
    available: int
    reserved: int

    @property
    def subject(self) -> str:
        return str(self.product_id)


class ReservedLine(EventContract):
    product_id: uuid.UUID
    quantity: int


class ReservationEvent(EventContract):
    order_id: str
    lines: list[ReservedLine] = Field(default_factory=list)

    @property
    def subject(self) -> str:
        return self.order_id


class StockRejectionReason(StrEnum):
    """Why the catalog could not hold an order's stock."""

    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_PRODUCT = "unknown_product"
    INVALID_ORDER = "invalid_order"


class StockReserved(ReservationEvent):
    """Every line of the order is held (all or none)."""

    TYPE = "catalog.stock.reserved"


class StockRejected(ReservationEvent):
    """No line is held; `productIds` names the lines at fault."""

    TYPE = "catalog.stock.rejected"

    reason: StockRejectionReason
    product_ids: list[uuid.UUID] = Field(default_factory=list)
    detail: str = ""


class StockReleased(ReservationEvent):
    """Held or sold units of the order are back on sale."""

    TYPE = "catalog.stock.released"


class StockCommitted(ReservationEvent):
    """The held units of the order are sold."""

    TYPE = "catalog.stock.committed"


class ImageEvent(EventContract):
    """One product image; its objects are named by `digest` (docs/media.md)."""

    image_id: uuid.UUID
    product_id: uuid.UUID
    digest: str = Field(description="SHA-256 of the stored original, hex: its objects' name.")
    extension: str = Field(description="`jpg`, `png`, `webp` or `gif`: the original's format.")

    @property
    def subject(self) -> str:
        return str(self.image_id)


class ImageUploaded(ImageEvent):
    """A new original is stored; the media worker derives its sizes."""

    TYPE = "catalog.image.uploaded"

    content_type: str
    width: int
    height: int
    size_bytes: int


class ImageDeleted(ImageEvent):
    """The image (or its product) is gone; its objects go too unless another image
    shows the same picture."""

    TYPE = "catalog.image.deleted"
