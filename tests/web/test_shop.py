"""The storefront and the admin console in a real browser, on both topologies.

Each test is a person's journey; together they cover the issue's list: a whole
purchase with sign-up during checkout, a declined card, the last unit bought
in two browsers at once, an admin creating a product and shipping an order,
CSRF refusal and session expiry. Every page also runs axe-core and must show
no console error (a Content-Security-Policy violation is one).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from panthera.testing.shop import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.browser import Watched, accessibility_violations, screenshot, screenshots_dir
from tests.web.conftest import Shop, session_id, unique
from tests.web.journeys import (
    CARD_DECLINED,
    add_to_cart,
    decision,
    fill_checkout,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.e2e


def shots(shop: Shop) -> Path | None:
    """Screenshots from one topology are enough."""
    return screenshots_dir() if shop.topology == "embedded" else None


def test_a_customer_browses_signs_up_at_checkout_pays_and_sees_the_order_confirmed(
    shop: Shop, visitor: Watched
) -> None:
    footwear = shop.category("Footwear")
    boots = shop.product("Trail Boot", price=8990, stock=5, category=footwear)
    socks = shop.product("Merino Wool Socks", price=1250, stock=20, category=footwear)
    page = visitor.new_page()

    page.goto("/")
    expect(page.get_by_role("heading", name="New in")).to_be_visible()
    shot = shots(shop)
    screenshot(page, "home", shot)
    page.get_by_label("Search products").fill("trail boot")
    page.get_by_label("Search products").press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=trail"))
    screenshot(page, "search", shot)
    page.locator(f'a[href="/products/{boots}"]').first.click()
    expect(page.locator("h1")).to_contain_text("Trail Boot")
    expect(page.locator(".buy-box .price")).to_have_text("€89.90")
    expect(page.locator(".buy-box .stock")).to_have_text("Only 5 left")
    screenshot(page, "product", shot)
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status")).to_contain_text("Added to your cart")

    page.locator(".breadcrumbs a").last.click()  # to the category page
    page.locator(f'a[href="/products/{socks}"]').first.click()
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("link", name="Cart")).to_contain_text("(3)")

    page.get_by_role("link", name="Cart").click()
    expect(page.locator("tfoot .total")).to_have_text("€114.90")
    screenshot(page, "cart", shot)
    page.get_by_role("button", name="Checkout").click()
    expect(page.get_by_role("status")).to_contain_text("Sign in, or create an account")
    page.get_by_role("link", name="Create an account").click()
    sign_up(page, unique("walker"))
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator(".summary-total")).to_contain_text("€114.90")  # the cart was kept
    fill_checkout(page)
    screenshot(page, "checkout", shot)

    navigations: list[str] = []
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    decision(page, "Confirmed")
    assert navigations == [], "the order page reloaded instead of updating itself"
    expect(page.locator("#order-status")).to_contain_text("confirmed and paid")
    screenshot(page, "order", shot)
    expect(page.get_by_role("link", name="Cart")).not_to_contain_text("(")

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody .badge")).to_have_text("Confirmed")

    def told() -> bool:
        page.goto("/notifications")
        return page.locator(".messages h2", has_text=re.compile("confirmed")).count() > 0

    _eventually(told)
    expect(page.locator(".messages")).to_contain_text("Welcome")
    screenshot(page, "messages", shot)


def test_a_declined_card_and_a_wrong_field_are_explained_where_they_happened(
    shop: Shop, visitor: Watched
) -> None:
    product = shop.product(unique("Rain Jacket "), price=12900, stock=4)
    page = visitor.new_page()
    page.goto("/signup")
    sign_up(page, unique("decline"))
    add_to_cart(page, product)
    page.goto("/checkout")

    fill_checkout(page, card="1234 5678")
    page.get_by_role("button", name="Place order").click()
    card_error = page.locator("#f-cardNumber-error")
    expect(card_error).to_contain_text("test cards only")
    expect(page.get_by_label("Card number")).to_have_value("")  # never echoed back
    expect(page.get_by_label("City")).to_have_value("Leeds")

    fill_checkout(page, card=CARD_DECLINED)
    page.get_by_label("Country", exact=True).fill("G1")  # the API refuses it
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#f-country-error")).to_be_visible()
    expect(page.get_by_label("Country", exact=True)).to_have_attribute("aria-invalid", "true")

    fill_checkout(page, card=CARD_DECLINED)
    page.get_by_role("button", name="Place order").click()
    decision(page, "Rejected")
    expect(page.locator("#order-status .reason")).to_contain_text(
        re.compile("declined", re.IGNORECASE)
    )
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)


def test_the_last_unit_bought_in_two_browsers_at_once_goes_to_one_of_them(
    shop: Shop, browser: Browser
) -> None:
    product = shop.product(unique("Last Lamp "), price=4500, stock=1)
    buyers = [Watched(browser, shop.base) for _ in range(2)]
    try:
        pages = [buyer.new_page() for buyer in buyers]
        for page in pages:
            page.goto("/signup")
            sign_up(page, unique("rival"))
            add_to_cart(page, product)
            page.goto("/checkout")
            fill_checkout(page)

        for page in pages:  # both carts hold the last unit; both orders are placed
            page.get_by_role("button", name="Place order").click()
        outcomes = []
        for page in pages:
            expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"), timeout=30_000)
            expect(page.locator("#order-status")).not_to_have_attribute(
                "data-status", "pending", timeout=60_000
            )
            outcomes.append(page.locator("#order-status .badge").inner_text())
        assert sorted(outcomes) == ["Confirmed", "Rejected"]
        loser = pages[outcomes.index("Rejected")]
        expect(loser.locator("#order-status .reason")).to_contain_text(
            re.compile("out of stock", re.IGNORECASE)
        )
        for buyer in buyers:
            assert not buyer.errors, buyer.errors
    finally:
        for buyer in buyers:
            buyer.close()


def test_an_admin_creates_a_product_and_ships_an_order(shop: Shop, visitor: Watched) -> None:
    page = visitor.new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto("/admin")
    page.get_by_role("link", name="Products", exact=True).click()
    page.get_by_role("button", name="New product").click()
    sku = unique("LAMP-").upper()
    name = "Brass Desk Lamp"
    page.get_by_label("SKU").fill(sku)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Description").fill("Warm light, heavy base.")
    page.get_by_label("Price").fill("19.99")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_label("Stock").fill("3")
    screenshot(page, "admin-product-form", shots(shop))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("The product was created")
    product_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    shopper = visitor.context.browser.new_context(base_url=shop.base)  # type: ignore[union-attr]
    try:
        storefront = shopper.new_page()
        storefront.goto(f"/products/{product_id}")
        expect(storefront.locator(".buy-box .price")).to_have_text("€19.99")
        expect(storefront.locator(".buy-box .stock")).to_have_text("Only 3 left")
    finally:
        shopper.close()

    # Two admins edit at once: the second save is refused, not silently lost.
    other = visitor.new_page()
    other.goto(f"/admin/products/{product_id}")
    page.get_by_label("Price").fill("21.50")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("The product was saved")
    other.get_by_label("Name", exact=True).fill(name + " (renamed)")
    other.get_by_role("button", name="Save").click()
    expect(other.get_by_role("alert").first).to_contain_text("Someone else changed this product")

    _, customer = shop.customer(unique("buyer"))
    order = shop.http.post(
        "/v1/orders",
        headers={**customer, "Idempotency-Key": unique("k")},
        json={
            "items": [{"productId": product_id, "quantity": 1}],
            "shippingAddress": {
                "name": "Bea Buyer",
                "line1": "1 Main St",
                "city": "York",
                "postalCode": "YO1 1AA",
                "country": "GB",
            },
            "payment": {"token": "tok_visa"},
        },
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    page.get_by_role("link", name="Orders", exact=True).click()
    page.locator(f'a[href="/admin/orders/{order_id}"]').click()

    def confirmed() -> bool:
        page.reload()
        return page.get_by_role("button", name="Ship").count() == 1

    _eventually(confirmed)
    screenshot(page, "admin-order", shots(shop))
    page.get_by_role("button", name="Ship").click()
    expect(page.locator(".status-line .badge")).to_have_text("Shipped")
    page.get_by_role("button", name="Mark delivered").click()
    expect(page.locator(".status-line .badge")).to_have_text("Delivered")
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)

    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Search users").fill("buyer")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Notifications", exact=True).click()

    def shipped_told() -> bool:
        page.reload()
        return page.locator("tbody", has_text="order_shipped").count() > 0

    _eventually(shipped_told)


def test_the_dashboard_draws_orders_revenue_and_rejections(shop: Shop, visitor: Watched) -> None:
    """Needs GET /v1/orders/stats (../shared/API.md)."""
    low = shop.product(unique("Scarce Scarf "), price=3000, stock=2)
    page = visitor.new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto("/admin")
    expect(page.locator("#chart-orders")).to_be_visible()
    expect(page.locator(f'a[href="/admin/products/{low}"]')).to_be_visible()
    drawn = page.evaluate(
        "() => { const c = document.getElementById('chart-orders');"
        " return !!window.Chart && !!window.Chart.getChart(c); }"
    )
    assert drawn
    screenshot(page, "admin-dashboard", shots(shop))


def test_a_form_from_another_site_or_with_a_forged_token_is_refused(
    shop: Shop, visitor: Watched, browser: Browser
) -> None:
    product = shop.product(unique("Guarded Mug "), price=900, stock=9)
    page = visitor.new_page()
    page.goto(f"/products/{product}")
    page.locator('form.add-to-cart input[name="csrfToken"]').evaluate("e => e.value = 'forged'")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This form could not be accepted")
    page.goto("/cart")
    expect(page.get_by_text("Your cart is empty")).to_be_visible()

    # A page elsewhere posts to the shop: the browser sends no session cookie along
    # (SameSite=Lax), so no token can match.
    attacker = visitor.new_page()
    attacker.set_content(
        f'<form method="post" action="{shop.base}/cart/add">'
        f'<input name="productId" value="{product}"><input name="csrfToken" value="x">'
        "<button>Win a prize</button></form>"
    )
    attacker.get_by_role("button", name="Win a prize").click()
    expect(attacker.get_by_role("heading", level=1)).to_have_text("This form could not be accepted")
    page.goto("/cart")
    expect(page.get_by_text("Your cart is empty")).to_be_visible()


def test_an_expired_session_asks_to_sign_in_again_and_comes_back(
    shop: Shop, visitor: Watched
) -> None:
    page = visitor.new_page()
    page.goto("/signup?next=/account")
    sign_up(page, unique("sleepy"))
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    email = page.locator(".facts dd").nth(1).inner_text()

    shop.expire(session_id(visitor))
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/signin\?next=/account"))
    expect(page.get_by_role("status")).to_contain_text("Your session has expired")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("StrongPassword123!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def test_a_new_visitor_never_inherits_anothers_session(shop: Shop, browser: Browser) -> None:
    first, second = Watched(browser, shop.base), Watched(browser, shop.base)
    try:
        page = first.new_page()
        page.goto("/signup")
        sign_up(page, unique("owner"))
        stranger = second.new_page()
        for _ in range(4):  # every web replica, in turn
            stranger.goto("/account")
            expect(stranger).to_have_url(re.compile(r"/signin\?next=/account$"))
            expect(stranger.get_by_role("link", name="Sign in")).to_be_visible()
    finally:
        first.close()
        second.close()


def test_every_page_type_passes_axe(shop: Shop, visitor: Watched) -> None:
    """No serious or critical accessibility violation, storefront and console alike."""
    category_name = unique("Lighting ")
    category = shop.category(category_name)
    product = shop.product(unique("Axe Lamp "), price=2500, stock=3, category=category)
    page = visitor.new_page()
    checked: dict[str, list[str]] = {}

    def check(path: str) -> None:
        page.goto(path)
        checked[path] = accessibility_violations(page)

    slug = shop.http.get(f"/v1/categories/{category}").json()["slug"]
    for path in [
        "/",
        "/search?q=lamp",
        f"/categories/{slug}",
        f"/products/{product}",
        "/signin",
        "/signup",
        "/cart",
        "/nowhere",
    ]:
        check(path)
    page.goto("/signup")
    sign_up(page, unique("axe"))
    add_to_cart(page, product)
    check("/cart")
    check("/checkout")
    fill_checkout(page)
    page.get_by_label("Card number").fill("0000")
    page.get_by_role("button", name="Place order").click()  # a form showing its errors
    checked["/checkout (errors)"] = accessibility_violations(page)
    fill_checkout(page)
    page.get_by_role("button", name="Place order").click()
    decision(page, "Confirmed")
    checked["/orders/{id}"] = accessibility_violations(page)
    order_path = page.url.split(shop.base, 1)[-1]
    for path in ["/orders", "/notifications", "/account"]:
        check(path)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    order_id = order_path.rsplit("/", 1)[-1]
    for path in [
        "/admin",
        "/admin/products",
        "/admin/products/new",
        f"/admin/products/{product}",
        "/admin/categories",
        "/admin/orders",
        f"/admin/orders/{order_id}",
        "/admin/users",
        "/admin/notifications",
    ]:
        check(path)
    screenshot(page, "admin-orders", None)
    failures = {path: found for path, found in checked.items() if found}
    assert not failures, failures


def _eventually(probe: Callable[[], bool], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not probe():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.5)
