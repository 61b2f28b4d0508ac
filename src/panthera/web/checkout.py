"""Checkout and the customer's orders: placing, watching the decision, history, cancelling."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from panthera.web.api import ApiError
from panthera.web.pages import Page, PageDep, SignInRequired, api_field_errors, parse_uuid
from panthera.web.payments import PaymentInputError
from panthera.web.storefront import cart_lines

router = APIRouter()

ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postalCode", "country")
STATUS_LABELS = {
    "pending": "Pending",
    "confirmed": "Confirmed",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "shipped": "Shipped",
    "delivered": "Delivered",
}
# Said to a person when the API does not (yet) send `reasonText`.
REASONS = {
    "out_of_stock": "Sorry, an item in this order was out of stock.",
    "payment_declined": "Your card was declined. No money was taken.",
    "expired": "We could not confirm this order in time. No money was taken.",
    "cancelled_by_customer": "You cancelled this order.",
    "cancelled_by_admin": "The shop cancelled this order.",
}
CANCELLABLE = ("pending", "confirmed")


def order_view(order: dict[str, Any]) -> dict[str, Any]:
    reason = order.get("reason")
    text = order.get("reasonText") or (
        REASONS.get(reason, reason.replace("_", " ")) if reason else None
    )
    return {
        **order,
        "status_label": STATUS_LABELS.get(order["status"], order["status"].title()),
        "reason_label": text,
        "cancellable": order["status"] in CANCELLABLE,
    }


async def _checkout_page(
    page: Page,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    general: str | None = None,
) -> Response:
    lines, total, currency, _missing = await cart_lines(page)
    if not lines:
        return page.redirect("/cart")
    current = await page.require_user()
    default_name = " ".join(
        filter(None, (current.user.get("firstName"), current.user.get("lastName")))
    )
    return await page.render(
        "checkout.html",
        status=status,
        lines=lines,
        total=total,
        currency=currency,
        values=values or {"name": default_name},
        errors=errors or {},
        general=general,
        idempotency_key=uuid.uuid4().hex,
        payment_template=page.site.payment.template,
    )


@router.get("/checkout")
async def checkout(page: PageDep) -> Response:
    """Shipping address and payment; signing in (or up) first, keeping the cart."""
    if page.visit.cart.count and await page.session() is None:
        raise SignInRequired("/checkout", notice="sign_in_to_checkout")
    return await _checkout_page(page)


@router.post("/checkout")
async def place_order(page: PageDep) -> Response:
    """Place the order; the order page then shows its decision."""
    await page.require_user()
    values = {name: page.form.get(name, "").strip() for name in ADDRESS_FIELDS}
    values["country"] = values["country"].upper()
    try:
        token = page.site.payment.token_from(page.form)
    except PaymentInputError as exc:
        return await _checkout_page(page, status=400, values=values, errors={exc.field: str(exc)})
    cart = page.visit.cart
    if not cart.lines:
        return page.redirect("/cart")
    address = {k: v for k, v in values.items() if k != "line2" or v}
    key = page.form.get("idempotencyKey", "")[:64] or uuid.uuid4().hex
    try:
        order = await page.api(
            "POST",
            "/v1/orders",
            auth=True,
            headers={"Idempotency-Key": key},
            json={
                "items": [{"productId": pid, "quantity": qty} for pid, qty in cart.lines.items()],
                "shippingAddress": address,
                "payment": {"token": token},
            },
        )
    except ApiError as exc:
        errors, general = api_field_errors(exc)
        general = errors.pop("items", None) or general  # the cart's fault, not a field's
        return await _checkout_page(
            page, status=exc.status, values=values, errors=errors, general=general
        )
    cart.clear()
    return page.redirect(f"/orders/{order['id']}")


@router.get("/orders")
async def orders(page: PageDep) -> Response:
    """The customer's orders, newest first."""
    await page.require_user()
    try:
        number = max(1, min(int(page.request.query_params.get("page", "1")), 10_000))
    except ValueError:
        number = 1
    found = await page.api("GET", "/v1/orders", auth=True, params={"page": number, "limit": 20})
    return await page.render(
        "orders.html",
        orders=[order_view(o) for o in found["orders"]],
        number=number,
        pages=max(1, -(-found["total"] // 20)),
    )


@router.get("/orders/{order_id}")
async def order_page(page: PageDep, order_id: str) -> Response:
    """One order; while pending, the page watches for its decision."""
    await page.require_user()
    order = await page.api("GET", f"/v1/orders/{parse_uuid(order_id)}", auth=True)
    return await page.render("order.html", order=order_view(order))


@router.get("/orders/{order_id}/status")
async def order_status(page: PageDep, order_id: str) -> Response:
    """The order's status panel, once decided or after a wait: what the page swaps in.

    The API holds the request until the order is decided (`waitFor=decision`); one that
    answers at once only makes the page ask again a little later.
    """
    await page.require_user()
    wait = page.site.settings.decision_wait_seconds
    order = await page.api(
        "GET",
        f"/v1/orders/{parse_uuid(order_id)}",
        auth=True,
        params={"waitFor": "decision", "timeout": f"{wait:g}"},
    )
    response = await page.render("_order_status.html", order=order_view(order))
    response.headers["X-Order-Status"] = order["status"]
    return response


@router.post("/orders/{order_id}/cancel")
async def cancel(page: PageDep, order_id: str) -> Response:
    """Cancel an order that has not shipped."""
    await page.require_user()
    oid = parse_uuid(order_id)
    try:
        await page.api("POST", f"/v1/orders/{oid}/cancel", auth=True)
    except ApiError as exc:
        if exc.status != 409:
            raise
        order = await page.api("GET", f"/v1/orders/{oid}", auth=True)
        return await page.render(
            "order.html", status=409, order=order_view(order), general=exc.detail
        )
    return page.redirect(f"/orders/{oid}", notice="order_cancelled")
