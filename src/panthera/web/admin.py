"""The admin console: dashboard, products and categories, orders, users, notifications."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from panthera.web import catalog
from panthera.web.api import ApiError, error_of
from panthera.web.checkout import STATUS_LABELS, order_view
from panthera.web.money import format_money, parse_major, to_major
from panthera.web.pages import Page, PageDep, PageNotFound, api_field_errors, parse_uuid

router = APIRouter(prefix="/admin")
PAGE_SIZE = 20
PRODUCT_FIELDS = ("sku", "name", "description", "price", "currency", "categoryId", "stock")
ORDER_ACTIONS = {"ship": "ship", "deliver": "deliver", "cancel": "cancel"}


def _number(page: Page) -> int:
    try:
        return max(1, min(int(page.request.query_params.get("page", "1")), 10_000))
    except ValueError:
        return 1


# -- dashboard


@router.get("")
async def dashboard(page: PageDep) -> Response:
    """Orders and revenue per day, rejections by reason, low stock, recent orders."""
    await page.require_admin()
    today = datetime.now(UTC).date()
    first = today - timedelta(days=29)
    stats = await page.api(
        "GET",
        "/v1/orders/stats",
        auth=True,
        params={
            "from": first.isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
            "interval": "day",
        },
        expect=(400, 404, 405),
    )
    chart = _chart_data(stats if isinstance(stats, dict) and "series" in stats else None, first)
    threshold = page.site.settings.low_stock_threshold
    low = await _low_stock(page, threshold)
    recent = await page.api("GET", "/v1/orders", auth=True, params={"limit": 8})
    return await page.render(
        "admin/dashboard.html",
        chart=chart,
        low_stock=low,
        threshold=threshold,
        recent=[order_view(o) for o in recent["orders"]],
    )


def _chart_data(stats: dict[str, Any] | None, first: date) -> dict[str, Any] | None:
    if stats is None:
        return None
    days = [first + timedelta(days=i) for i in range(30)]
    by_day = {str(point.get("start", ""))[:10]: point for point in stats["series"]}
    currency = next((p["currency"] for p in stats["series"] if p.get("currency")), "EUR")
    reasons: dict[str, int] = {}
    rows = []
    revenue = 0
    for day in days:
        point = by_day.get(day.isoformat(), {})
        revenue += int(point.get("revenue", 0))
        for code, count in (point.get("rejectedByReason") or {}).items():
            reasons[code] = reasons.get(code, 0) + int(count)
        rows.append(
            {
                "day": day.isoformat(),
                "orders": int(point.get("orders", 0)),
                "revenue": float(to_major(int(point.get("revenue", 0)), currency)),
            }
        )
    return {
        "currency": currency,
        "days": [r["day"] for r in rows],
        "orders": [r["orders"] for r in rows],
        "revenue": [r["revenue"] for r in rows],
        "reasons": {code.replace("_", " "): count for code, count in sorted(reasons.items())},
        "totalOrders": sum(r["orders"] for r in rows),
        "totalRevenueText": format_money(revenue, currency),
    }


async def _low_stock(page: Page, threshold: int) -> list[dict[str, Any]]:
    params = {"stockBelow": threshold, "sort": "available", "limit": 10}
    try:
        found = await page.api("GET", "/v1/products", auth=True, params=params)
    except ApiError as exc:
        if exc.status != 400:
            raise
        params.pop("sort")
        found = await page.api("GET", "/v1/products", auth=True, params=params)
    # Filtered here too, so that an API without the filter cannot pass off a full list.
    return [p for p in found["products"] if int(p.get("available", 0)) < threshold]


# -- products


@router.get("/products")
async def products(page: PageDep) -> Response:
    """Products with search."""
    await page.require_admin()
    q = page.request.query_params.get("q", "").strip()[:200]
    number = _number(page)
    found = await catalog.products(
        page,
        search=q or None,
        sort="relevance" if q else "newest",
        page=number,
        limit=PAGE_SIZE,
    )
    return await page.render(
        "admin/products.html",
        products=found["products"],
        q=q,
        total=found["total"],
        number=number,
        pages=max(1, math.ceil(found["total"] / PAGE_SIZE)),
    )


async def _product_form(
    page: Page,
    *,
    product: dict[str, Any] | None,
    values: dict[str, str],
    status: int = 200,
    errors: dict[str, str] | None = None,
    general: str | None = None,
    etag: str | None = None,
    conflict: bool = False,
) -> Response:
    forest = await catalog.categories(page)
    return await page.render(
        "admin/product_form.html",
        status=status,
        product=product,
        values=values,
        errors=errors or {},
        general=general,
        etag=etag,
        conflict=conflict,
        categories=catalog.flatten(forest),
    )


@router.get("/products/new")
async def new_product(page: PageDep) -> Response:
    """The form of a new product."""
    await page.require_admin()
    return await _product_form(page, product=None, values={"currency": "EUR", "stock": "0"})


def _product_body(
    values: dict[str, str], *, with_stock: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        "sku": values["sku"],
        "name": values["name"],
        "description": values["description"],
        "currency": values["currency"].upper(),
        "categoryId": values["categoryId"] or None,
    }
    try:
        body["price"] = parse_major(values["price"], values["currency"] or "EUR")
    except ValueError as exc:
        errors["price"] = str(exc)
    if with_stock:
        try:
            body["stock"] = int(values["stock"] or "0")
            if body["stock"] < 0:
                raise ValueError
        except ValueError:
            errors["stock"] = "Enter a whole number of 0 or more"
    return body, errors


def _product_values(page: Page) -> dict[str, str]:
    return {name: page.form.get(name, "").strip() for name in PRODUCT_FIELDS}


@router.post("/products")
async def create_product(page: PageDep) -> Response:
    """Create a product with its initial stock."""
    await page.require_admin()
    values = _product_values(page)
    body, errors = _product_body(values, with_stock=True)
    if errors:
        return await _product_form(page, product=None, values=values, status=400, errors=errors)
    try:
        created = await page.api("POST", "/v1/products", auth=True, json=body)
    except ApiError as exc:
        errors, general = api_field_errors(exc)
        if exc.status == 409:
            errors, general = {"sku": exc.detail}, None
        return await _product_form(
            page, product=None, values=values, status=exc.status, errors=errors, general=general
        )
    return page.redirect(f"/admin/products/{created['id']}", notice="product_created")


def _values_of(product: dict[str, Any]) -> dict[str, str]:
    return {
        "sku": product["sku"],
        "name": product["name"],
        "description": product.get("description") or "",
        "price": to_major(product["price"], product["currency"]),
        "currency": product["currency"],
        "categoryId": product.get("categoryId") or "",
        "stock": str(product.get("available", 0)),
    }


async def _load_product(page: Page, product_id: str) -> tuple[dict[str, Any], str | None]:
    response = await page.api_response("GET", f"/v1/products/{parse_uuid(product_id)}", auth=True)
    if response.status_code >= 400:
        raise error_of(response)
    product: dict[str, Any] = response.json()
    return product, response.headers.get("etag")


@router.get("/products/{product_id}")
async def edit_product(page: PageDep, product_id: str) -> Response:
    """A product's form, stock and images."""
    await page.require_admin()
    product, etag = await _load_product(page, product_id)
    return await _product_form(page, product=product, values=_values_of(product), etag=etag)


@router.post("/products/{product_id}")
async def save_product(page: PageDep, product_id: str) -> Response:
    """Save a product; if someone changed it meanwhile, say so and change nothing."""
    await page.require_admin()
    current, _ = await _load_product(page, product_id)
    values = _product_values(page)
    body, errors = _product_body(values, with_stock=False)
    etag = page.form.get("etag") or None
    if errors:
        return await _product_form(
            page, product=current, values=values, status=400, errors=errors, etag=etag
        )
    headers = {"If-Match": etag} if etag else {}
    try:
        await page.api(
            "PUT", f"/v1/products/{current['id']}", auth=True, json=body, headers=headers
        )
    except ApiError as exc:
        if exc.status == 412:
            return await _product_form(
                page,
                product=current,
                values=values,
                status=409,
                general="Someone else changed this product after you opened it, so your "
                "changes were not saved. Reload it to see the current version, then make "
                "your changes again.",
                etag=etag,
                conflict=True,
            )
        errors, general = api_field_errors(exc)
        if exc.status == 409:
            errors, general = {"sku": exc.detail}, None
        return await _product_form(
            page,
            product=current,
            values=values,
            status=exc.status,
            errors=errors,
            general=general,
            etag=etag,
        )
    return page.redirect(f"/admin/products/{current['id']}", notice="product_saved")


@router.post("/products/{product_id}/stock")
async def set_stock(page: PageDep, product_id: str) -> Response:
    """Set the stock available for ordering."""
    await page.require_admin()
    pid = parse_uuid(product_id)
    try:
        available = int(page.form.get("available", ""))
        if available < 0:
            raise ValueError
    except ValueError:
        product, etag = await _load_product(page, product_id)
        return await _product_form(
            page,
            product=product,
            values=_values_of(product),
            status=400,
            errors={"available": "Enter a whole number of 0 or more"},
            etag=etag,
        )
    await page.api("PUT", f"/v1/products/{pid}/stock", auth=True, json={"available": available})
    return page.redirect(f"/admin/products/{pid}", notice="stock_saved")


@router.post("/products/{product_id}/delete")
async def delete_product(page: PageDep, product_id: str) -> Response:
    """Remove a product from the catalog."""
    await page.require_admin()
    await page.api("DELETE", f"/v1/products/{parse_uuid(product_id)}", auth=True)
    return page.redirect("/admin/products", notice="product_deleted")


@router.post("/products/{product_id}/images")
async def upload_image(page: PageDep, product_id: str) -> Response:
    """Pass an uploaded image on to the catalog's product media (when the API has it)."""
    await page.require_admin()
    pid = parse_uuid(product_id)
    upload = page.files.get("file")
    if upload is None or not upload.filename:
        return page.redirect(f"/admin/products/{pid}")
    content = await upload.read()
    try:
        await page.api(
            "POST",
            f"/v1/products/{pid}/images",
            auth=True,
            files={"file": (upload.filename, content, upload.content_type or "")},
        )
    except ApiError as exc:
        product, etag = await _load_product(page, product_id)
        return await _product_form(
            page,
            product=product,
            values=_values_of(product),
            status=exc.status,
            errors={"file": exc.detail},
            etag=etag,
        )
    return page.redirect(f"/admin/products/{pid}", notice="image_uploaded")


# -- categories


async def _categories_page(
    page: Page,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    general: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    forest = await catalog.categories(page)
    return await page.render(
        "admin/categories.html",
        status=status,
        categories=catalog.flatten(forest),
        errors=errors or {},
        general=general,
        values=values or {},
    )


@router.get("/categories")
async def categories(page: PageDep) -> Response:
    """The category tree."""
    await page.require_admin()
    return await _categories_page(page)


@router.post("/categories")
async def create_category(page: PageDep) -> Response:
    """Add a category, under a parent or at the top."""
    await page.require_admin()
    values = {"name": page.form.get("name", "").strip(), "parentId": page.form.get("parentId", "")}
    body = {"name": values["name"], "parentId": values["parentId"] or None}
    try:
        await page.api("POST", "/v1/categories", auth=True, json=body)
    except ApiError as exc:
        errors, general = api_field_errors(exc)
        if exc.status == 409:
            errors, general = {"name": exc.detail}, None
        return await _categories_page(
            page, status=exc.status, errors=errors, general=general, values=values
        )
    return page.redirect("/admin/categories", notice="category_saved")


@router.post("/categories/{category_id}")
async def rename_category(page: PageDep, category_id: str) -> Response:
    """Rename a category."""
    await page.require_admin()
    cid = parse_uuid(category_id)
    try:
        await page.api(
            "PUT", f"/v1/categories/{cid}", auth=True, json={"name": page.form.get("name", "")}
        )
    except ApiError as exc:
        return await _categories_page(page, status=exc.status, general=exc.detail)
    return page.redirect("/admin/categories", notice="category_saved")


@router.post("/categories/{category_id}/delete")
async def delete_category(page: PageDep, category_id: str) -> Response:
    """Delete a category that nothing uses."""
    await page.require_admin()
    try:
        await page.api("DELETE", f"/v1/categories/{parse_uuid(category_id)}", auth=True)
    except ApiError as exc:
        return await _categories_page(page, status=exc.status, general=exc.detail)
    return page.redirect("/admin/categories", notice="category_deleted")


# -- orders


@router.get("/orders")
async def orders(page: PageDep) -> Response:
    """Every order, by status."""
    await page.require_admin()
    status = page.request.query_params.get("status", "")
    status = status if status in STATUS_LABELS else ""
    number = _number(page)
    params: dict[str, Any] = {"page": number, "limit": PAGE_SIZE}
    if status:
        params["status"] = status
    found = await page.api("GET", "/v1/orders", auth=True, params=params)
    return await page.render(
        "admin/orders.html",
        orders=[order_view(o) for o in found["orders"]],
        status_filter=status,
        statuses=STATUS_LABELS,
        total=found["total"],
        number=number,
        pages=max(1, math.ceil(found["total"] / PAGE_SIZE)),
    )


@router.get("/orders/{order_id}")
async def order(page: PageDep, order_id: str) -> Response:
    """One order, with what may happen to it next."""
    await page.require_admin()
    found = await page.api("GET", f"/v1/orders/{parse_uuid(order_id)}", auth=True)
    return await page.render("admin/order.html", order=order_view(found), general=None)


@router.post("/orders/{order_id}/{action}")
async def order_action(page: PageDep, order_id: str, action: str) -> Response:
    """Ship, mark delivered, or cancel (the payment is refunded)."""
    await page.require_admin()
    oid = parse_uuid(order_id)
    if action not in ORDER_ACTIONS:
        raise PageNotFound
    try:
        await page.api("POST", f"/v1/orders/{oid}/{ORDER_ACTIONS[action]}", auth=True)
    except ApiError as exc:
        if exc.status != 409:
            raise
        found = await page.api("GET", f"/v1/orders/{oid}", auth=True)
        return await page.render(
            "admin/order.html", status=409, order=order_view(found), general=exc.detail
        )
    return page.redirect(f"/admin/orders/{oid}", notice="order_updated")


# -- users


@router.get("/users")
async def users(page: PageDep) -> Response:
    """Users, searchable and paginated."""
    me = await page.require_admin()
    search = page.request.query_params.get("search", "").strip()[:100]
    number = _number(page)
    params: dict[str, Any] = {"page": number, "limit": PAGE_SIZE}
    if search:
        params["search"] = search
    found = await page.api("GET", "/v1/users", auth=True, params=params)
    return await page.render(
        "admin/users.html",
        users=found["users"],
        search=search,
        total=found["total"],
        number=number,
        pages=max(1, math.ceil(found["total"] / PAGE_SIZE)),
        me_id=me.user.get("id"),
        general=None,
    )


@router.post("/users/{user_id}/role")
async def change_role(page: PageDep, user_id: str) -> Response:
    """Make a user an admin, or a customer again."""
    await page.require_admin()
    role = page.form.get("role", "")
    if role not in ("customer", "admin"):
        return page.redirect("/admin/users")
    await page.api("PUT", f"/v1/users/{parse_uuid(user_id)}", auth=True, json={"role": role})
    return page.redirect("/admin/users", notice="user_saved")


@router.post("/users/{user_id}/delete")
async def delete_user(page: PageDep, user_id: str) -> Response:
    """Delete an account."""
    await page.require_admin()
    await page.api("DELETE", f"/v1/users/{parse_uuid(user_id)}", auth=True)
    return page.redirect("/admin/users", notice="user_deleted")


# -- notifications


@router.get("/notifications")
async def notifications(page: PageDep) -> Response:
    """Every notification sent, with its status and attempts."""
    await page.require_admin()
    number = _number(page)
    channel = page.request.query_params.get("channel", "")
    params: dict[str, Any] = {"page": number, "limit": PAGE_SIZE}
    if channel in ("email", "sms"):
        params["channel"] = channel
    found = await page.api("GET", "/v1/notifications", auth=True, params=params)
    return await page.render(
        "admin/notifications.html",
        notifications=found["notifications"],
        channel=channel,
        total=found["total"],
        number=number,
        pages=max(1, math.ceil(found["total"] / PAGE_SIZE)),
    )
