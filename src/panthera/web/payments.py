"""How checkout turns what the customer typed into a payment token for the API.

With the sandbox provider, the well-known test card numbers map to the
sandbox's tokens here, in the web application: the number itself is never
stored, logged, echoed back into a page or sent to the API.

With Stripe, the card never reaches this application at all: Stripe's card
element (Stripe.js, the one script this site loads from elsewhere, named in
the Content-Security-Policy) turns it into a PaymentMethod in the browser, and
the form posts only its id (`pm_...`), which becomes the order's token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

SANDBOX_CARDS = {
    "4242424242424242": "tok_visa",
    "4000000000000002": "tok_chargeDeclined",
}
_SEPARATORS = re.compile(r"[\s-]")
STRIPE_JS = "https://js.stripe.com/v3/"
# Stripe's published CSP for Stripe.js: its script (which also draws the card fields in
# frames of its own), its API for creating the PaymentMethod, and its 3-D Secure pages.
STRIPE_ORIGINS = {
    "script": ("https://js.stripe.com",),
    "frame": ("https://js.stripe.com", "https://hooks.stripe.com"),
    "connect": ("https://api.stripe.com",),
}
_PAYMENT_METHOD = re.compile(r"pm_[A-Za-z0-9_]{1,200}")


class PaymentInputError(ValueError):
    """What the customer typed cannot pay; the message says why, for the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CheckoutPayment:
    template: str
    """The checkout form's payment fields."""
    script_origins: tuple[str, ...] = ()
    """Origins whose scripts the payment fields need (added to the CSP's script-src)."""
    frame_origins: tuple[str, ...] = ()
    """Origins the payment fields frame (frame-src)."""
    connect_origins: tuple[str, ...] = ()
    """Origins the payment script calls (connect-src)."""

    def token_from(self, form: Mapping[str, str]) -> str:
        raise NotImplementedError


class SandboxCards(CheckoutPayment):
    """A "Card number" field; 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined."""

    def token_from(self, form: Mapping[str, str]) -> str:
        number = _SEPARATORS.sub("", form.get("cardNumber", ""))
        if not number:
            raise PaymentInputError("cardNumber", "Enter a card number")
        token = SANDBOX_CARDS.get(number)
        if token is None:
            raise PaymentInputError(
                "cardNumber",
                "This shop takes test cards only: 4242 4242 4242 4242 (succeeds) "
                "or 4000 0000 0000 0002 (declined)",
            )
        return token


@dataclass(frozen=True)
class StripeCards(CheckoutPayment):
    """Stripe's card element; the form carries the PaymentMethod id Stripe.js made."""

    publishable_key: str = ""
    script_url: str = STRIPE_JS

    def token_from(self, form: Mapping[str, str]) -> str:
        method = form.get("paymentMethod", "").strip()
        if not method:
            raise PaymentInputError(
                "cardNumber",
                "Enter your card details (card payment needs JavaScript in your browser)",
            )
        if not _PAYMENT_METHOD.fullmatch(method):
            raise PaymentInputError("cardNumber", "Your card could not be read; enter it again")
        return method


def checkout_payment(
    provider: str, *, stripe_publishable_key: str | None = None
) -> CheckoutPayment:
    if provider == "sandbox":
        return SandboxCards(template="_payment_sandbox.html")
    if provider == "stripe":
        if not stripe_publishable_key:
            raise ValueError("the Stripe card element needs a publishable key")
        return StripeCards(
            template="_payment_stripe.html",
            script_origins=STRIPE_ORIGINS["script"],
            frame_origins=STRIPE_ORIGINS["frame"],
            connect_origins=STRIPE_ORIGINS["connect"],
            publishable_key=stripe_publishable_key,
        )
    raise ValueError(f"unknown payment provider {provider!r}")
