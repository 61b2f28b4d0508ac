"""Checkout with the Stripe provider, in Chromium, on a real `panthera up`.

The platform runs with `PANTHERA_ORDERS__PAYMENT_PROVIDER=stripe` against
localstripe (which also sends its signed webhooks to the platform) and the web
with `PANTHERA_WEB__PAYMENT_PROVIDER=stripe`. Stripe.js itself cannot be
fetched here: every request to js.stripe.com is answered as unreachable, so
these tests prove the page around it (the script tag, the policy that allows
it and only it, the labels, axe) and the server's side of the flow, with the
PaymentMethod id put into the form field where Stripe.js would put it.
What Stripe.js does in between is not tested (docs/web.md says so).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from panthera.testing.shop import platform
from panthera.web.payments import STRIPE_JS
from tests.services.orders.localstripe import (
    API_KEY,
    PUBLISHABLE_KEY,
    THREE_D_SECURE_CARD,
    WEBHOOK_SECRET,
    authenticate,
    card,
    serve_localstripe,
)
from tests.web.browser import Watched, accessibility_violations
from tests.web.conftest import Shop, in_thread, unique
from tests.web.journeys import ADDRESS, PASSWORD, add_to_cart, decision, sign_up

pytestmark = pytest.mark.e2e

STRIPE_HOST = "https://js.stripe.com/"


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    """This module's own: the webhook it is given points at this module's platform."""
    with serve_localstripe() as base:
        yield base


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, localstripe: str) -> Iterator[Shop]:
    """Overrides the module's shop: the embedded platform, paying with Stripe."""
    env = {
        "PANTHERA_ORDERS__PAYMENT_PROVIDER": "stripe",
        "PANTHERA_ORDERS__STRIPE_API_KEY": API_KEY,
        "PANTHERA_ORDERS__STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PANTHERA_ORDERS__STRIPE_API_BASE": localstripe,
        "PANTHERA_WEB__PAYMENT_PROVIDER": "stripe",
        "PANTHERA_WEB__STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
    }
    context = platform(tmp_path_factory.mktemp("web-stripe"), "embedded", env=env)
    running = in_thread(context.__enter__)
    try:
        hooked = httpx.post(
            f"{localstripe}/_config/webhooks/panthera-web",
            data={"url": f"{running.base}/v1/payments/stripe/webhook", "secret": WEBHOOK_SECRET},
        )
        assert hooked.status_code == 200, hooked.text
        yield Shop(running.base, "embedded", _no_expiry)
    finally:
        in_thread(lambda: context.__exit__(None, None, None))


def _no_expiry(session_id: str) -> None:
    raise AssertionError("sessions live in the platform's process here")


def stripe_unreachable(page: Page) -> list[str]:
    """Answer every request to js.stripe.com as a network failure, as it is here; the
    list fills with the URLs the browser asked for (the policy let it ask)."""
    asked: list[str] = []

    def refuse(route: Route) -> None:
        asked.append(route.request.url)
        route.abort("internetdisconnected")

    page.route(f"{STRIPE_HOST}**", refuse)
    return asked


def to_checkout(page: Page, shop: Shop, name: str) -> str:
    product = shop.product(f"Lamp {name}", price=4500, stock=10)
    page.goto("/signup")
    sign_up(page, name)
    add_to_cart(page, product)
    page.goto("/checkout")
    for label, value in ADDRESS.items():
        page.get_by_label(label, exact=True).fill(value)
    return product


def test_the_checkout_page_loads_stripe_js_allowed_by_name_and_nothing_else_external(
    shop: Shop, visitor: Watched
) -> None:
    page = visitor.new_page()
    asked = stripe_unreachable(page)
    to_checkout(page, shop, unique("stripe"))
    answer = page.reload()
    assert answer is not None
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in answer.headers["content-security-policy"].split(";")
    )
    external = {word for value in policy.values() for word in value.split() if "//" in word}
    # Stripe's published origins, each only where Stripe.js needs it.
    assert external == {
        "https://js.stripe.com",
        "https://hooks.stripe.com",
        "https://api.stripe.com",
    }
    assert "https://js.stripe.com" in policy["script-src"].split()
    assert set(policy["frame-src"].split()) == {"https://js.stripe.com", "https://hooks.stripe.com"}
    assert "https://api.stripe.com" in policy["connect-src"].split()
    assert "'unsafe-inline'" not in policy["script-src"]
    expect(page.locator(f'script[src="{STRIPE_JS}"]')).to_have_count(1)
    assert any(url.startswith(STRIPE_JS) for url in asked), "the browser never asked for it"

    expect(page.locator('input[name="cardNumber"]')).to_have_count(0)  # no sandbox field
    expect(page.get_by_role("group", name="Card number")).to_be_visible()
    expect(page.locator('input[name="paymentMethod"]')).to_have_value("")
    expect(page.get_by_text("Card payment needs JavaScript")).to_be_hidden()
    # Stripe.js did not load: the customer is told, not left with an empty box.
    expect(page.locator("#f-cardNumber-live")).to_have_text(re.compile("could not load"))
    assert accessibility_violations(page) == []


def test_without_javascript_checkout_says_card_payment_needs_it_and_places_nothing(
    shop: Shop, browser: Browser
) -> None:
    context = browser.new_context(base_url=shop.base, java_script_enabled=False)
    try:
        page = context.new_page()
        name = unique("nojs")
        to_checkout(page, shop, name)
        expect(page.get_by_text("Card payment needs JavaScript")).to_be_visible()
        page.get_by_role("button", name="Place order").click()
        expect(page.locator(".error-summary")).to_contain_text(
            "card payment needs JavaScript in your browser"
        )
        expect(page).to_have_url(re.compile(r"/checkout$"))
    finally:
        context.close()
    assert orders_of(shop, name) == 0


def signed_in(shop: Shop, name: str) -> dict[str, str]:
    """The API's bearer header for the customer `name` the browser signed up."""
    answer = shop.http.post(
        "/v1/auth/login", json={"email": f"{name}@example.com", "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


def orders_of(shop: Shop, name: str) -> int:
    found: int = shop.http.get("/v1/orders", headers=signed_in(shop, name)).json()["total"]
    return found


def test_the_payment_method_the_form_carries_pays_for_the_order(
    shop: Shop, visitor: Watched, localstripe: str
) -> None:
    page = visitor.new_page()
    stripe_unreachable(page)
    name = unique("payer")
    to_checkout(page, shop, name)
    # Where Stripe.js puts the PaymentMethod it made from the card element.
    page.locator('input[name="paymentMethod"]').evaluate(
        "field => { field.value = 'pm_card_visa' }"
    )
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    decision(page, "Confirmed")

    order_id = page.url.rsplit("/", 1)[1]
    headers = signed_in(shop, name)
    payment = shop.http.get(f"/v1/orders/{order_id}", headers=headers).json()["payment"]
    assert payment["provider"] == "stripe" and payment["status"] == "captured"
    intent = httpx.get(
        f"{localstripe}/v1/payment_intents/{payment['reference']}", auth=(API_KEY, "")
    ).json()
    assert intent["status"] == "succeeded" and intent["amount"] == 4500
    assert intent["payment_method"] == "pm_card_visa"


def test_a_form_with_anything_but_a_payment_method_id_is_refused(
    shop: Shop, visitor: Watched
) -> None:
    page = visitor.new_page()
    stripe_unreachable(page)
    name = unique("forger")
    to_checkout(page, shop, name)
    page.locator('input[name="paymentMethod"]').evaluate(
        "field => { field.value = '4242424242424242' }"
    )
    page.get_by_role("button", name="Place order").click()
    expect(page.locator(".error-summary")).to_contain_text("Your card could not be read")
    assert orders_of(shop, name) == 0


def test_a_card_asking_for_3d_secure_is_handed_to_stripe_js_and_the_decision_shown(
    shop: Shop, visitor: Watched, localstripe: str
) -> None:
    page = visitor.new_page()
    asked = stripe_unreachable(page)
    to_checkout(page, shop, unique("secure"))
    method = in_thread(lambda: asyncio.run(card(localstripe, THREE_D_SECURE_CARD)))
    page.locator('input[name="paymentMethod"]').evaluate(
        "(field, id) => { field.value = id }", method
    )
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    action = page.locator("[data-client-secret]")
    expect(action).to_contain_text("Your bank asks you to confirm", timeout=60_000)
    secret = action.get_attribute("data-client-secret")
    assert secret and secret.startswith("pi_")
    assert action.get_attribute("data-stripe-key") == PUBLISHABLE_KEY
    # The page tried to hand the secret to Stripe.js, and says it could not.
    expect(page.locator("#payment-action-problem")).to_contain_text("could not load")
    assert any(url.startswith(STRIPE_JS) for url in asked)
    assert accessibility_violations(page) == []

    # What Stripe.js would have done with the customer: authenticate the intent.
    intent_id = secret.split("_secret_")[0]
    in_thread(lambda: asyncio.run(authenticate(localstripe, intent_id, secret, success=True)))
    decision(page, "Confirmed")  # localstripe's webhook decides; the page shows it
    expect(page.locator("[data-client-secret]")).to_have_count(0)
