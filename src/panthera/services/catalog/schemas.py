"""Request and response bodies of the catalog API (camelCase on the wire)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, HttpUrl, StrictInt, StringConstraints, field_validator

from panthera.kernel.schemas import ApiInput, ApiModel, BoundedJson, Currency, WholeNumber

MAX_PRICE = 100_000_000_00  # minor units: a hundred million in the major unit
MAX_STOCK = 10_000_000


def _slug(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value):
        raise ValueError("a slug is lower-case letters and digits separated by single hyphens")
    return value


Price = Annotated[
    StrictInt,
    Field(ge=0, le=MAX_PRICE, description="Integer amount in minor units (cents)."),
    WholeNumber,
]
Quantity = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK), WholeNumber]
Sku = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", to_upper=True
    ),
]
ProductName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
CategoryName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Slug = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_slug)]
Attributes = Annotated[BoundedJson, Field(max_length=50)]
Images = Annotated[list[HttpUrl], Field(max_length=20)]
SortOrder = Literal["relevance", "price", "-price", "newest", "name", "available"]


def _small_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if any(len(key) > 100 for key in value):
        raise ValueError("attribute names are at most 100 characters")
    if len(repr(value)) > 10_000:
        raise ValueError("attributes are at most 10 000 characters in all")
    return value


class CategoryCreate(ApiInput):
    name: CategoryName = Field(examples=["Running shoes"])
    slug: Slug | None = Field(default=None, description="Derived from the name when omitted.")
    parent_id: uuid.UUID | None = None


class CategoryUpdate(ApiInput):
    """Partial update: only the fields sent change; `parentId: null` makes it a root."""

    name: CategoryName | None = None
    slug: Slug | None = None
    parent_id: uuid.UUID | None = None


class Category(ApiModel):
    id: uuid.UUID
    name: str
    slug: str
    parent_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class CategoryList(ApiModel):
    total: int
    page: int
    limit: int
    categories: list[Category]


class ProductCreate(ApiInput):
    sku: Sku = Field(examples=["SHOE-TRAIL-42"])
    name: ProductName = Field(examples=["Trail running shoe"])
    description: Description = ""
    price: Price = Field(examples=[8999])
    currency: Currency = Field(examples=["EUR"])
    category_id: uuid.UUID | None = None
    attributes: Attributes = Field(default_factory=dict)
    images: Images = Field(default_factory=list)
    stock: Quantity = Field(default=0, description="Initial available stock.")

    _attributes = field_validator("attributes")(_small_attributes)


class ProductUpdate(ApiInput):
    """Partial update: only the fields sent change. Stock changes through `/stock`."""

    sku: Sku | None = None
    name: ProductName | None = None
    description: Description | None = None
    price: Price | None = None
    currency: Currency | None = None
    category_id: uuid.UUID | None = None
    attributes: Attributes | None = None
    images: Images | None = None

    _attributes = field_validator("attributes")(
        lambda value: None if value is None else _small_attributes(value)
    )


class ImageVariant(ApiModel):
    """A derived size of an image, written by the media worker."""

    size: Literal["thumbnail", "medium"]
    content_type: str = Field(examples=["image/webp"])
    url: str
    width: int
    height: int


class Image(ApiModel):
    """An uploaded product image. Its URLs never change and may be cached forever."""

    id: uuid.UUID
    url: str = Field(description="The original, metadata stripped.")
    thumbnail_url: str = Field(
        description="The thumbnail in the original's format; the original until it exists."
    )
    width: int
    height: int
    content_type: str = Field(examples=["image/jpeg"])
    size_bytes: int
    variants: list[ImageVariant] = Field(
        default_factory=list,
        description="Derived sizes (thumbnail, medium; WebP and the original's format), "
        "empty until the media worker has made them.",
    )


class ImageOrder(ApiInput):
    image_ids: list[uuid.UUID] = Field(
        max_length=100, description="Every image of the product, once each, in the new order."
    )


class Product(ApiModel):
    id: uuid.UUID
    sku: str
    name: str
    description: str
    price: int = Field(description="Integer amount in minor units.")
    currency: str
    category_id: uuid.UUID | None
    attributes: dict[str, Any]
    images: list[str] = Field(
        description="URLs of the uploaded images in order (`media`), then those set by hand."
    )
    media: list[Image] = Field(default_factory=list, description="The uploaded images, in order.")
    available: int = Field(description="Stock that can be ordered now.")
    version: int = Field(description="Increases with every change; the `ETag` carries it.")
    created_at: datetime
    updated_at: datetime


class ProductList(ApiModel):
    total: int
    page: int
    limit: int
    products: list[Product]


class StockUpdate(ApiInput):
    available: Quantity


class StockLevel(ApiModel):
    product_id: uuid.UUID
    available: int
    reserved: int
