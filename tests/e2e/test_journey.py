"""A customer's whole journey, over real HTTP, against both topologies.

The same test runs against `panthera up` (one process, SQLite, in-process
events) and `panthera up --distributed` (a process per service, PostgreSQL,
NATS JetStream, Redis).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.shop import Platform, Shopper, platform, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["embedded", pytest.param("distributed", marks=pytest.mark.integration)])
def running_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    with platform(tmp_path, str(request.param)) as running:
        yield running


def test_sign_up_browse_search_order_ship_and_be_told(running_platform: Platform) -> None:
    shop = Shopper(running_platform.base)
    admin = shop.admin()
    category = shop.http.post("/v1/categories", headers=admin, json={"name": "Footwear"})
    assert category.status_code == 201, category.text
    product = shop.product(admin, stock=3, category_id=category.json()["id"])
    me = shop.sign_up("walker")

    assert shop.http.get("/v1/products").json()["total"] >= 1
    assert shop.http.get(f"/v1/products/{product}").json()["available"] == 3
    found = wait_for(
        lambda: shop.http.get("/v1/products", params={"search": "shoes"}).json()["products"]
    )
    assert found[0]["id"] == product

    order = shop.order(me, product, quantity=2)
    assert shop.settle(me, order) == "confirmed"
    stock = shop.http.get(f"/v1/products/{product}/stock").json()
    assert (stock["available"], stock["reserved"]) == (1, 0)
    shipped = shop.http.post(f"/v1/orders/{order}/ship", headers=admin)
    assert shipped.json()["status"] == "shipped"

    def told() -> bool:
        sent = {n["template"] for n in shop.notifications(me) if n["status"] == "sent"}
        return {"welcome", "order_confirmed", "order_shipped"} <= sent

    assert wait_for(told)

    # Product media: the admin uploads a photo; a customer sees it and its thumbnail
    # through the edge, cacheable forever (the worker: a task embedded, a process distributed).
    photo = io.BytesIO()
    Image.effect_noise((400, 300), 50).convert("RGB").save(photo, "JPEG")
    uploaded = shop.http.post(
        f"/v1/products/{product}/images",
        headers=admin,
        files={"file": ("photo.jpg", photo.getvalue(), "image/jpeg")},
    )
    assert uploaded.status_code == 201, uploaded.text

    def thumbnail() -> str | None:
        # Anonymous reads may be a few seconds stale (the edge caches them): poll.
        media = shop.http.get(f"/v1/products/{product}").json()["media"]
        return media[0]["thumbnailUrl"] if media and media[0]["variants"] else None

    seen = shop.http.get(wait_for(thumbnail), headers=me)
    assert seen.status_code == 200
    assert seen.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert seen.headers["etag"] and seen.headers["content-type"] == "image/jpeg"
    assert shop.http.get(uploaded.json()["url"]).status_code == 200
