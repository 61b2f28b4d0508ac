"""Catalog reads shared by the storefront and the admin console."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from panthera.web.api import ApiError
from panthera.web.pages import Page

PRICE_BANDS = {
    "": ("Any price", None, None),
    "0-25": ("Under 25", None, 2500),
    "25-50": ("25 to 50", 2500, 5000),
    "50-100": ("50 to 100", 5000, 10000),
    "100-200": ("100 to 200", 10000, 20000),
    "200-": ("Over 200", 20000, None),
}
SORTS = {
    "": "Best match",
    "newest": "Newest",
    "price": "Price: low to high",
    "-price": "Price: high to low",
    "name": "Name",
}
PAGE_SIZE = 12


@dataclass
class CategoryNode:
    id: str
    name: str
    slug: str
    parent_id: str | None
    children: list[CategoryNode] = field(default_factory=list)


async def categories(page: Page) -> list[CategoryNode]:
    """Every category, as a forest sorted by name."""
    found: list[dict[str, Any]] = []
    number = 1
    while number <= 20:  # 2,000 categories are more than any menu can show
        answer = await page.api("GET", "/v1/categories", params={"page": number, "limit": 100})
        found += answer["categories"]
        if len(found) >= answer["total"] or not answer["categories"]:
            break
        number += 1
    nodes = {c["id"]: CategoryNode(c["id"], c["name"], c["slug"], c.get("parentId")) for c in found}
    roots: list[CategoryNode] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id or "")
        (parent.children if parent else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda c: c.name.lower())
    return sorted(roots, key=lambda c: c.name.lower())


def flatten(forest: list[CategoryNode], depth: int = 0) -> list[tuple[int, CategoryNode]]:
    out: list[tuple[int, CategoryNode]] = []
    for node in forest:
        out.append((depth, node))
        out += flatten(node.children, depth + 1)
    return out


async def products(page: Page, /, **params: Any) -> dict[str, Any]:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    result: dict[str, Any] = await page.api("GET", "/v1/products", params=clean)
    return result


async def products_by_id(page: Page, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The products still in the catalog among `ids` (a removed one is simply absent)."""

    async def one(product_id: str) -> tuple[str, dict[str, Any] | None]:
        try:
            return product_id, await page.api("GET", f"/v1/products/{product_id}")
        except ApiError as exc:
            if exc.status in (400, 404):
                return product_id, None
            raise

    answers = await asyncio.gather(*(one(pid) for pid in ids))
    return {pid: product for pid, product in answers if product is not None}


def picture(product: dict[str, Any], image_origins: list[str]) -> dict[str, str] | None:
    """The product's first image we may show: its media, or an `images` URL from an allowed
    origin; None means the page draws a placeholder tile."""
    for media in product.get("media") or []:
        url = media.get("thumbnailUrl") or media.get("url")
        if url:
            return {"src": str(url), "full": str(media.get("url") or url)}
    for url in product.get("images") or []:
        parts = urlsplit(str(url))
        origin = f"{parts.scheme}://{parts.netloc}"
        if not parts.netloc or origin in image_origins:
            return {"src": str(url), "full": str(url)}
    return None


def tile(product: dict[str, Any]) -> str:
    """A stable colour class for the placeholder tile of a product without a picture."""
    digest = hashlib.sha256(str(product.get("id", "")).encode()).digest()
    return f"tile-{digest[0] % 8}"


def availability(product: dict[str, Any]) -> tuple[str, str]:
    available = int(product.get("available", 0))
    if available <= 0:
        return "out", "Out of stock"
    if available <= 5:
        return "low", f"Only {available} left"
    return "in", "In stock"
