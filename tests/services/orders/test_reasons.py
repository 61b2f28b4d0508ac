"""The sentence that goes with each reason code."""

from __future__ import annotations

import pytest

from panthera.contracts.catalog import StockRejectionReason
from panthera.contracts.orders import OrderReason
from panthera.services.orders import reasons


@pytest.mark.parametrize(
    ("products", "sentence"),
    [
        ([], "Sorry, an item of your order is out of stock"),
        (["Shoe"], "Sorry, Shoe is out of stock"),
        (["Shoe", "Shoe"], "Sorry, Shoe is out of stock"),
        (["Shoe", "Socks"], "Sorry, Shoe and Socks are out of stock"),
        (["Shoe", "Socks", "Cap"], "Sorry, Shoe, Socks and Cap are out of stock"),
        (
            ["Shoe", "Socks", "Cap", "Bag"],
            "Sorry, Shoe, Socks, Cap and 1 more item are out of stock",
        ),
        (["A", "B", "C", "D", "E"], "Sorry, A, B, C and 2 more items are out of stock"),
    ],
)
def test_out_of_stock_names_the_products(products: list[str], sentence: str) -> None:
    assert reasons.text(OrderReason.OUT_OF_STOCK, products=products) == sentence


@pytest.mark.parametrize(
    ("decline", "sentence"),
    [
        (None, "Your card was declined"),
        ("card_declined", "Your card was declined"),
        ("insufficient_funds", "Your card was declined for insufficient funds"),
        ("expired_card", "Your card was declined because it has expired"),
        ("invalid_token", "Your card was declined"),
    ],
)
def test_a_declined_card_says_why_when_the_provider_does(
    decline: str | None, sentence: str
) -> None:
    assert reasons.text(OrderReason.PAYMENT_DECLINED, decline=decline) == sentence


@pytest.mark.parametrize("reason", list(OrderReason))
def test_every_code_has_a_sentence(reason: OrderReason) -> None:
    sentence = reasons.text(reason)
    assert sentence and sentence[0].isupper() and not sentence.endswith(".")


def test_every_stock_rejection_maps_to_an_order_reason() -> None:
    assert set(reasons.FROM_STOCK) == set(StockRejectionReason)
    assert {code.value for code in reasons.FROM_STOCK.values()} == {
        code.value for code in StockRejectionReason
    }
