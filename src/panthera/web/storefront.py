"""The storefront's catalog pages and the cart."""

from __future__ import annotations

import math
import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from panthera.web import catalog
from panthera.web.catalog import PAGE_SIZE, PRICE_BANDS, SORTS
from panthera.web.pages import PageDep, PageNotFound, parse_uuid

router = APIRouter()


def _view(product: dict[str, Any], page: PageDep) -> dict[str, Any]:
    level, label = catalog.availability(product)
    return {
        **product,
        "picture": catalog.picture(product, page.site.settings.image_origins),
        "tile": catalog.tile(product),
        "stock_level": level,
        "stock_label": label,
    }


@router.get("/")
async def home(page: PageDep) -> Response:
    """Categories and the newest products."""
    forest = await catalog.categories(page)
    newest = await catalog.products(page, sort="newest", limit=8)
    return await page.render(
        "home.html",
        categories=forest,
        products=[_view(p, page) for p in newest["products"]],
    )


async def _listing(
    page: PageDep, *, template: str, category: catalog.CategoryNode | None, **extra: Any
) -> Response:
    query = page.request.query_params
    search = query.get("q", "").strip()[:200]
    band = query.get("price", "")
    band = band if band in PRICE_BANDS else ""
    sort = query.get("sort", "")
    sort = sort if sort in SORTS else ""
    in_stock = query.get("inStock") == "1"
    try:
        number = max(1, min(int(query.get("page", "1")), 10_000))
    except ValueError:
        number = 1
    _label, low, high = PRICE_BANDS[band]
    found = await catalog.products(
        page,
        search=search or None,
        categoryId=category.id if category else None,
        minPrice=low,
        maxPrice=high,
        inStock="true" if in_stock else None,
        sort=sort or ("relevance" if search else "newest"),
        page=number,
        limit=PAGE_SIZE,
    )
    pages = max(1, math.ceil(found["total"] / PAGE_SIZE))
    return await page.render(
        template,
        q=search,
        category=category,
        products=[_view(p, page) for p in found["products"]],
        total=found["total"],
        number=number,
        pages=pages,
        band=band,
        sort=sort,
        in_stock=in_stock,
        bands=PRICE_BANDS,
        sorts=SORTS,
        **extra,
    )


@router.get("/search")
async def search(page: PageDep) -> Response:
    """Search with filters (price band, in stock), sort and pages."""
    return await _listing(page, template="listing.html", category=None)


@router.get("/categories/{slug}")
async def category_page(page: PageDep, slug: str) -> Response:
    """A category's products (its sub-categories' included)."""
    forest = await catalog.categories(page)
    found = next((node for _, node in catalog.flatten(forest) if node.slug == slug), None)
    if found is None:
        raise PageNotFound
    return await _listing(page, template="listing.html", category=found)


@router.get("/products/{product_id}")
async def product_page(page: PageDep, product_id: str) -> Response:
    """One product: pictures, price, availability, add to cart."""
    product = await page.api("GET", f"/v1/products/{parse_uuid(product_id)}")
    category = None
    if product.get("categoryId"):
        category = await page.api("GET", f"/v1/categories/{product['categoryId']}", expect=(404,))
    pictures = [
        {"src": m.get("thumbnailUrl") or m["url"], "full": m["url"]}
        for m in product.get("media") or []
        if m.get("url")
    ]
    return await page.render(
        "product.html",
        product=_view(product, page),
        category=category if category and "id" in category else None,
        pictures=pictures,
        in_cart=page.visit.cart.lines.get(str(product["id"]), 0),
    )


@router.get("/cart")
async def cart_page(page: PageDep) -> Response:
    """What is in the cart, at today's prices."""
    lines, total, currency, missing = await cart_lines(page)
    return await page.render(
        "cart.html", lines=lines, total=total, currency=currency, missing=missing
    )


async def cart_lines(
    page: PageDep,
) -> tuple[list[dict[str, Any]], int, str | None, int]:
    """The cart's lines with their products; products gone from the catalog are dropped."""
    cart = page.visit.cart
    found = await catalog.products_by_id(page, list(cart.lines))
    lines = []
    for product_id, quantity in list(cart.lines.items()):
        product = found.get(product_id)
        if product is None:
            continue
        lines.append(
            {
                "product": _view(product, page),
                "quantity": quantity,
                "subtotal": product["price"] * quantity,
            }
        )
    missing = len(cart.lines) - len(lines)
    if missing:
        for product_id in [pid for pid in cart.lines if pid not in found]:
            cart.set(uuid.UUID(product_id), 0)
    currencies = {line["product"]["currency"] for line in lines}
    currency = currencies.pop() if len(currencies) == 1 else None
    return lines, sum(line["subtotal"] for line in lines), currency, missing


def _quantity(text: str | None, default: int = 1) -> int:
    try:
        return max(0, min(int(text or default), 99))
    except ValueError:
        return default


@router.post("/cart/add")
async def cart_add(page: PageDep) -> Response:
    """Put a product in the cart and go back to it."""
    product_id = parse_uuid(page.form.get("productId", ""))
    quantity = max(1, _quantity(page.form.get("quantity")))
    try:
        page.visit.cart.add(product_id, quantity)
    except ValueError:
        return page.redirect("/cart")
    return page.redirect(f"/products/{product_id}", notice="added_to_cart")


@router.post("/cart/update")
async def cart_update(page: PageDep) -> Response:
    """Change quantities (0 removes), or remove one line."""
    remove = page.form.get("remove")
    if remove:
        page.visit.cart.set(parse_uuid(remove), 0)
    else:
        for key, value in page.form.items():
            product_id = (
                parse_uuid(key.removeprefix("quantity-")) if key.startswith("quantity-") else None
            )
            if product_id and str(product_id) in page.visit.cart.lines:
                page.visit.cart.set(product_id, _quantity(value))
    return page.redirect("/cart", notice="cart_updated")
