"""Request and response bodies of the orders API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

from panthera.contracts.orders import (
    MAX_PRODUCTS_PER_ORDER,
    MAX_UNITS_PER_PRODUCT,
    OrderReason,
    OrderStatus,
    PaymentStatus,
)
from panthera.kernel.schemas import ApiInput, ApiModel, Country, JsonInt

Line = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class OrderItemIn(ApiInput):
    product_id: uuid.UUID
    quantity: JsonInt = Field(
        ge=1,
        le=MAX_UNITS_PER_PRODUCT,
        description=f"At most {MAX_UNITS_PER_PRODUCT} units of a product in one order, "
        "once lines of the same product are added up",
    )


class AddressIn(ApiInput):
    name: Line
    line1: Line
    line2: Line | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: Country


class PaymentIn(ApiInput):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="A payment provider token; sandbox: tok_visa, tok_chargeDeclined; "
        "Stripe: a PaymentMethod id (`pm_...`) obtained by Stripe.js"
    )


class OrderCreate(ApiInput):
    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_PRODUCTS_PER_ORDER)
    shipping_address: AddressIn
    payment: PaymentIn


class OrderLineRead(ApiModel):
    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    unit_price: int


class PaymentRead(ApiModel):
    status: PaymentStatus = Field(
        description="`pending` until the stock is held, `processing` while charging, "
        "`requires_action` while the card waits for the customer's 3-D Secure, then "
        "`captured` or `declined`; `voided` when nothing will be charged; "
        "`refund_pending` then `refunded` when a cancelled order's charge is given back"
    )
    provider: str = Field(description="Who charges the order: `sandbox` or `stripe`")
    reference: str | None = Field(
        default=None,
        description="The provider's id of the payment: a sandbox charge (`ch_...`) or a "
        "Stripe PaymentIntent (`pi_...`)",
    )
    client_secret: str | None = Field(
        default=None,
        description="Only while `status` is `requires_action`: the PaymentIntent's client "
        "secret, for Stripe.js to let the customer authenticate (`handleNextAction`)",
    )

    # Unannotated on purpose: the documented schema stays the model's own.
    @model_serializer(mode="wrap")
    def _secret_only_when_needed(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        shown: dict[str, Any] = handler(self)
        if self.client_secret is None:
            shown.pop("clientSecret", None)
            shown.pop("client_secret", None)
        return shown


class Address(ApiModel):
    name: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


class OrderRead(ApiModel):
    id: uuid.UUID
    user_id: uuid.UUID
    status: OrderStatus
    reason: OrderReason | None = Field(
        description="Why the order was rejected or cancelled, a stable code to act on: "
        "`out_of_stock`, `unknown_product`, `invalid_order`, `payment_declined`, `expired`, "
        "`cancelled_by_customer`, `cancelled_by_admin`; null otherwise. New codes may be added."
    )
    reason_text: str | None = Field(
        description="The same reason for a person, e.g. "
        '"Sorry, Trail running shoe is out of stock"; null when `reason` is null.'
    )
    items: list[OrderLineRead]
    total: int
    currency: str
    shipping_address: Address
    payment: PaymentRead
    created_at: datetime
    updated_at: datetime


class OrderList(ApiModel):
    total: int
    page: int
    limit: int
    orders: list[OrderRead]


class DayStatsRead(ApiModel):
    start: date = Field(description="The UTC day")
    currency: str | None = Field(description="null only when the range has no order at all")
    orders: int = Field(description="Orders placed that day, whatever became of them")
    revenue: int = Field(description="Minor units taken: confirmed, shipped and delivered orders")
    confirmed: int = Field(description="Orders placed that day and now confirmed or beyond")
    rejected: int
    cancelled: int
    rejected_by_reason: dict[str, int] = Field(description="Rejections by `reason` code")


class OrderStats(ApiModel):
    series: list[DayStatsRead]
