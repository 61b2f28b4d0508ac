"""The web's small parts: money, the cart cookie, test cards, CSRF tokens, the secret."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from panthera.web.cart import MAX_QUANTITY, Cart
from panthera.web.money import format_money, parse_major, to_major
from panthera.web.pages import safe_next
from panthera.web.payments import (
    PaymentInputError,
    SandboxCards,
    StripeCards,
    checkout_payment,
)
from panthera.web.security import content_security_policy
from panthera.web.sessions import Csrf, load_or_create_secret
from panthera.web.settings import WebSettings


@pytest.mark.parametrize(
    ("amount", "currency", "shown", "field"),
    [
        (1999, "EUR", "€19.99", "19.99"),
        (123456789, "USD", "$1,234,567.89", "1234567.89"),
        (1500, "JPY", "¥1,500", "1500"),
        (12345, "KWD", "12.345 KWD", "12.345"),
        (5, "CHF", "0.05 CHF", "0.05"),
    ],
)
def test_money_is_shown_and_edited_in_the_currencys_major_unit(
    amount: int, currency: str, shown: str, field: str
) -> None:
    assert format_money(amount, currency) == shown
    assert to_major(amount, currency) == field
    assert parse_major(field, currency) == amount


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a price"),
        ("19,99", "Use a dot"),
        ("abc", "Enter a price like 19.99"),
        ("-1", "Enter a price like"),
        ("1.999", "at most 2 decimal places"),
        ("Infinity", "Enter a price like"),
    ],
)
def test_a_mistyped_price_says_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_major(text, "EUR")


def test_the_cart_cookie_round_trips_and_ignores_what_it_cannot_trust() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    cart = Cart()
    cart.add(first, 2)
    cart.add(second, 1)
    cart.add(first, 500)
    again = Cart.from_cookie(cart.to_cookie())
    assert again.lines == {str(first): MAX_QUANTITY, str(second): 1}
    assert again.count == MAX_QUANTITY + 1
    tampered = f"{first.hex}-5.nonsense.{second.hex}-0.{'z' * 32}-1.{uuid.uuid4().hex}-100"
    assert Cart.from_cookie(tampered).lines == {str(first): 5}
    assert Cart.from_cookie(None).lines == {}


def test_the_sandbox_maps_the_well_known_test_cards_and_refuses_the_rest() -> None:
    cards = SandboxCards(template="_payment_sandbox.html")
    assert cards.token_from({"cardNumber": "4242 4242 4242 4242"}) == "tok_visa"
    assert cards.token_from({"cardNumber": "4000-0000-0000-0002"}) == "tok_chargeDeclined"
    for number in ("", "4111 1111 1111 1111"):
        with pytest.raises(PaymentInputError) as refused:
            cards.token_from({"cardNumber": number})
        assert refused.value.field == "cardNumber"
        assert number.replace(" ", "") not in str(refused.value) or not number


def test_stripe_mode_takes_only_a_payment_method_id_and_names_stripe_js_alone() -> None:
    cards = checkout_payment("stripe", stripe_publishable_key="pk_test_abc")
    assert isinstance(cards, StripeCards) and cards.publishable_key == "pk_test_abc"
    assert cards.token_from({"paymentMethod": "pm_1QabcDEF"}) == "pm_1QabcDEF"
    for form in (
        {},
        {"paymentMethod": ""},
        {"cardNumber": "4242 4242 4242 4242"},  # a card number is never a token here
        {"paymentMethod": "tok_visa"},
        {"paymentMethod": "pm_x<script>"},
    ):
        with pytest.raises(PaymentInputError) as refused:
            cards.token_from(form)
        assert refused.value.field == "cardNumber"
    policy = content_security_policy(
        script_origins=cards.script_origins,
        frame_origins=cards.frame_origins,
        connect_origins=cards.connect_origins,
    )
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self' https://js.stripe.com"
    assert directives["frame-src"] == "https://js.stripe.com https://hooks.stripe.com"
    assert directives["connect-src"] == "'self' https://api.stripe.com"
    assert "https://js.stripe.com" not in content_security_policy()
    assert "frame-src 'none'" in content_security_policy()


def test_the_sandbox_is_the_default_and_stripe_needs_its_publishable_key() -> None:
    assert WebSettings().payment_provider == "sandbox"
    assert isinstance(checkout_payment("sandbox"), SandboxCards)
    with pytest.raises(ValueError, match="STRIPE_PUBLISHABLE_KEY"):
        WebSettings(payment_provider="stripe")
    with pytest.raises(ValueError, match="pk_"):
        WebSettings(payment_provider="stripe", stripe_publishable_key="sk_test_secret")
    stripe = WebSettings(payment_provider="stripe", stripe_publishable_key="pk_live_abc123")
    assert stripe.stripe_publishable_key == "pk_live_abc123"


def test_csrf_tokens_are_bound_to_the_session_and_the_key() -> None:
    csrf = Csrf(b"k" * 32)
    token = csrf.token("a" * 44)
    assert csrf.valid("a" * 44, token)
    assert not csrf.valid("s" * 44, token)
    assert not Csrf(b"other").valid("a" * 44, token)
    assert not csrf.valid("a" * 44, None)
    assert not csrf.valid("a" * 44, "")


def test_the_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "web-secret"
    first = load_or_create_secret(path)
    assert len(first) == 64
    assert load_or_create_secret(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("/checkout", "/checkout"),
        ("/orders?page=2", "/orders?page=2"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_only_paths_of_this_site_are_followed_after_signing_in(
    offered: str | None, kept: str
) -> None:
    assert safe_next(offered) == kept
