"""How checkout turns what the customer typed into a payment token for the API.

With the sandbox provider, the well-known test card numbers map to the
sandbox's tokens here, in the web application: the number itself is never
stored, logged, echoed back into a page or sent to the API.

Integration point for Stripe: a second `CheckoutPayment` whose template renders
Stripe's card element, whose `script_origins` (``https://js.stripe.com``) join
the Content-Security-Policy, and whose `token_from` reads the payment method id
the element posts. Select it from `WebSettings.payment_provider`.
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
    """Origins whose scripts the payment fields need (added to the CSP)."""

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


def checkout_payment(provider: str) -> CheckoutPayment:
    if provider == "sandbox":
        return SandboxCards(template="_payment_sandbox.html")
    raise ValueError(f"unknown payment provider {provider!r}")
