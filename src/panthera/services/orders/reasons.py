"""Why an order was rejected or cancelled: the stable code, and the sentence for a person.

Clients and services act on the code (`OrderReason`); emails and pages show the
sentence, which names the products at fault by the names the order recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

from panthera.contracts.catalog import StockRejectionReason
from panthera.contracts.orders import OrderReason

NAMED_AT_MOST = 3
"""A sentence names this many products; the rest are counted."""

FROM_STOCK: dict[StockRejectionReason, OrderReason] = {
    StockRejectionReason.OUT_OF_STOCK: OrderReason.OUT_OF_STOCK,
    StockRejectionReason.UNKNOWN_PRODUCT: OrderReason.UNKNOWN_PRODUCT,
    StockRejectionReason.INVALID_ORDER: OrderReason.INVALID_ORDER,
}

_DECLINES = {
    "insufficient_funds": "Your card was declined for insufficient funds",
    "expired_card": "Your card was declined because it has expired",
}


def text(reason: OrderReason, *, products: Sequence[str] = (), decline: str | None = None) -> str:
    """The sentence for `reason`; `products` names the items at fault, `decline` the card's."""
    match reason:
        case OrderReason.OUT_OF_STOCK:
            return _about_items(products, "is out of stock", "are out of stock")
        case OrderReason.UNKNOWN_PRODUCT:
            return _about_items(products, "is no longer sold", "are no longer sold")
        case OrderReason.INVALID_ORDER:
            return "Sorry, this order could not be accepted"
        case OrderReason.PAYMENT_DECLINED:
            return _DECLINES.get(decline or "", "Your card was declined")
        case OrderReason.EXPIRED:
            return "The order was not completed in time"
        case OrderReason.CANCELLED_BY_CUSTOMER:
            return "Cancelled at your request"
        case OrderReason.CANCELLED_BY_ADMIN:
            return "Cancelled by the shop"


def _about_items(products: Sequence[str], one: str, many: str) -> str:
    names = list(dict.fromkeys(products))  # once each, in the order's own order
    if not names:
        return f"Sorry, an item of your order {one}"
    shown = names[:NAMED_AT_MOST]
    hidden = len(names) - len(shown)
    if hidden:
        listed = f"{', '.join(shown)} and {hidden} more {'item' if hidden == 1 else 'items'}"
    elif len(shown) == 1:
        listed = shown[0]
    else:
        listed = f"{', '.join(shown[:-1])} and {shown[-1]}"
    return f"Sorry, {listed} {one if len(names) == 1 else many}"
