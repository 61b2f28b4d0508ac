"""A customer's whole journey, over real HTTP, against both topologies.

The same test runs against `panthera up` (one process, SQLite, in-process
events) and `panthera up --distributed` (a process per service, PostgreSQL,
NATS JetStream, Redis).
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from aiobotocore.session import get_session
from PIL import Image

from panthera.testing.shop import Platform, Shopper, platform, wait_for
from tests.services.notifications.dynamodb_local import dynamodb_environment

pytestmark = pytest.mark.e2e


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("distributed", marks=pytest.mark.integration),
        # The notification store on DynamoDB (DynamoDB Local), as the seed's diagram has it.
        pytest.param("distributed-dynamodb", marks=pytest.mark.integration),
    ]
)
def running_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    topology, _, store = str(request.param).partition("-")
    env: dict[str, str] = {}
    if store == "dynamodb":
        table = f"journey-{uuid.uuid4().hex[:8]}"
        env.update(dynamodb_environment(request.getfixturevalue("dynamodb_endpoint"), table))
    with platform(tmp_path, topology, env=env) as running:
        yield running
    if store == "dynamodb":
        # The journey's notifications are in the table, not in SQL.
        assert asyncio.run(stored_notifications(env)) >= 4  # the admin's welcome and walker's 3


async def stored_notifications(env: Mapping[str, str]) -> int:
    endpoint = env["PANTHERA_NOTIFICATIONS__DYNAMODB_ENDPOINT_URL"]
    async with get_session().create_client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=env["PANTHERA_NOTIFICATIONS__DYNAMODB_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ) as client:
        table = env["PANTHERA_NOTIFICATIONS__DYNAMODB_TABLE"]
        return (await client.scan(TableName=table, Select="COUNT"))["Count"]


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

    def stock() -> tuple[int, int]:
        levels = shop.http.get(f"/v1/products/{product}/stock").json()
        return levels["available"], levels["reserved"]

    # The catalog turns the reservation into a sale when the confirmation event reaches it,
    # a moment after the order reads `confirmed`.
    assert wait_for(lambda: stock() == (1, 0)), stock()
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
