"""The purchase journey with Stripe as the payment provider, over real HTTP.

`panthera up` with `PANTHERA_ORDERS__PAYMENT_PROVIDER=stripe`, Stripe's API
served by localstripe, which also sends its signed webhooks to the platform's
edge, as Stripe would: a card that needs 3-D Secure is confirmed by the webhook
that follows the customer's authentication.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from panthera.testing.shop import Platform, Shopper, platform, wait_for
from tests.services.orders.localstripe import (
    API_KEY,
    THREE_D_SECURE_CARD,
    WEBHOOK_SECRET,
    authenticate,
    card,
    fresh_localstripe,
    get,
)

__all__ = ["fresh_localstripe"]  # a fixture, used by name

pytestmark = pytest.mark.e2e


@pytest.fixture
def stripe_platform(tmp_path: Path, fresh_localstripe: str) -> Iterator[Platform]:
    env = {
        "PANTHERA_ORDERS__PAYMENT_PROVIDER": "stripe",
        "PANTHERA_ORDERS__STRIPE_API_KEY": API_KEY,
        "PANTHERA_ORDERS__STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PANTHERA_ORDERS__STRIPE_API_BASE": fresh_localstripe,
    }
    with platform(tmp_path, "embedded", env=env) as running:
        hooked = httpx.post(
            f"{fresh_localstripe}/_config/webhooks/panthera",
            data={
                "url": f"{running.base}/v1/payments/stripe/webhook",
                "secret": WEBHOOK_SECRET,
            },
        )
        assert hooked.status_code == 200, hooked.text
        yield running


async def test_buy_with_stripe_and_pass_three_d_secure(
    stripe_platform: Platform, fresh_localstripe: str
) -> None:
    shop = Shopper(stripe_platform.base)
    admin = shop.admin()
    product = shop.product(admin, stock=3)
    me = shop.sign_up("payer")

    paid = shop.order(me, product, token="pm_card_visa")
    assert shop.settle(me, paid) == "confirmed"
    payment = shop.http.get(f"/v1/orders/{paid}", headers=me).json()["payment"]
    assert payment["provider"] == "stripe" and payment["reference"].startswith("pi_")

    secure = shop.order(me, product, token=await card(fresh_localstripe, THREE_D_SECURE_CARD))

    def waiting() -> dict[str, str] | None:
        found: dict[str, str] = shop.http.get(f"/v1/orders/{secure}", headers=me).json()["payment"]
        return found if found["status"] == "requires_action" else None

    action = wait_for(waiting)
    assert shop.status(me, secure) == "pending" and action["clientSecret"]
    await authenticate(fresh_localstripe, action["reference"], action["clientSecret"], success=True)
    # localstripe sends payment_intent.succeeded a second later; the webhook confirms.
    assert shop.settle(me, secure) == "confirmed"

    cancelled = shop.http.post(f"/v1/orders/{paid}/cancel", headers=me)
    assert cancelled.status_code == 200, cancelled.text

    def refunded() -> bool:
        found = shop.http.get(f"/v1/orders/{paid}", headers=me).json()["payment"]
        return bool(found["status"] == "refunded")

    assert wait_for(refunded)
    intent = await get(fresh_localstripe, f"/v1/payment_intents/{payment['reference']}")
    assert intent["latest_charge"]["amount_refunded"] == 8990

    def stock_back() -> bool:
        stock = shop.http.get(f"/v1/products/{product}/stock").json()
        return bool((stock["available"], stock["reserved"]) == (2, 0))

    assert wait_for(stock_back)
