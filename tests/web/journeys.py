"""What a person does in the browser, step by step, reused by the web tests."""

from __future__ import annotations

from playwright.sync_api import Page, expect

PASSWORD = "StrongPassword123!"
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"

ADDRESS = {
    "Full name": "Ada Walker",
    "Address line 1": "2 Long Road",
    "City": "Leeds",
    "Postal code": "LS1 1AA",
    "Country": "GB",
}


def sign_up(page: Page, name: str) -> str:
    """Create an account from the sign-up page (wherever it was reached from)."""
    email = f"{name}@example.com"
    page.get_by_label("Username").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return email


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def add_to_cart(page: Page, product_id: str, quantity: int = 1) -> None:
    page.goto(f"/products/{product_id}")
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status")).to_contain_text("Added to your cart")


def fill_checkout(page: Page, card: str = CARD_OK) -> None:
    for label, value in ADDRESS.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Card number").fill(card)


def decision(page: Page, expected: str) -> None:
    """The order page shows `expected`, however long the saga takes."""
    expect(page.locator("#order-status .badge")).to_have_text(expected, timeout=60_000)
