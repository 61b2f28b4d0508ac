"""The catalog's outbox: every product change is recorded with the change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from panthera.app import Platform
from panthera.kernel.events import Event
from panthera.services.catalog import events
from panthera.services.catalog.models import outbox
from panthera.services.catalog.service import CatalogRuntime
from tests.conftest import Account
from tests.services.catalog.conftest import make_product
from tests.services.catalog.test_inventory import levels, new_product


async def recorded(rt: CatalogRuntime) -> list[dict[str, Any]]:
    async with rt.db.transaction() as session:
        rows = await session.scalars(sa.select(outbox.c.envelope).order_by(outbox.c.position))
        return list(rows)


async def test_product_changes_are_outbox_events(
    client: httpx.AsyncClient, admin: Account, catalog: CatalogRuntime
) -> None:
    product = await make_product(client, admin, "Kettle", stock=2, price=2999)
    pid = product["id"]
    await client.put(f"/v1/products/{pid}", json={"price": 2499}, headers=admin.headers)
    await client.put(f"/v1/products/{pid}/stock", json={"available": 5}, headers=admin.headers)
    await client.delete(f"/v1/products/{pid}", headers=admin.headers)
    envelopes = await recorded(catalog)
    assert [e["type"] for e in envelopes] == [
        events.PRODUCT_CREATED,
        events.PRODUCT_UPDATED,
        events.STOCK_CHANGED,
        events.PRODUCT_DELETED,
    ]
    assert all(e["source"] == "catalog" and e["subject"] == pid for e in envelopes)
    created, updated, stock, deleted = (e["data"] for e in envelopes)
    assert created["price"] == 2999 and created["available"] == 2 and created["version"] == 1
    assert updated["price"] == 2499 and updated["changed"] == ["price"]
    assert stock == {"productId": pid, "available": 5, "reserved": 0}
    assert deleted["productId"] == pid


async def test_failed_writes_record_nothing(
    client: httpx.AsyncClient, admin: Account, catalog: CatalogRuntime
) -> None:
    product = await make_product(client, admin, sku="ONCE")
    await client.post(
        "/v1/products",
        json={"sku": "ONCE", "name": "x", "price": 1, "currency": "EUR"},
        headers=admin.headers,
    )
    await client.put(
        f"/v1/products/{product['id']}",
        json={"name": "y"},
        headers={**admin.headers, "If-Match": '"99"'},
    )
    assert len(await recorded(catalog)) == 1


def order_event(type: str, order_id: str, items: list[dict[str, Any]] | None = None) -> Event:
    data: dict[str, Any] = {"orderId": order_id}
    if items is not None:
        data["items"] = items
    return Event(
        id=uuid.uuid4(),
        type=type,
        occurredAt=datetime.now(UTC),
        source="orders",
        subject=order_id,
        data=data,
    )


async def test_order_events_drive_the_reservation(
    platform: Platform, catalog: CatalogRuntime
) -> None:
    consumer = platform.hosts["catalog"].consumer
    assert consumer is not None
    product = await new_product(catalog, stock=5)
    order = str(uuid.uuid4())
    placed = order_event(
        events.ORDER_PLACED, order, [{"productId": str(product), "quantity": 2, "sku": "X"}]
    )
    assert await consumer.handle(placed)
    assert not await consumer.handle(placed)  # redelivered: recognised by the inbox
    # A new event for the same order (a retry upstream) does not reserve twice either.
    assert await consumer.handle(order_event(events.ORDER_PLACED, order, placed.data["items"]))
    assert await levels(catalog, product) == (3, 2)
    await consumer.handle(order_event(events.ORDER_CONFIRMED, order))
    assert await levels(catalog, product) == (3, 0)
    await consumer.handle(order_event(events.ORDER_CANCELLED, order))
    assert await levels(catalog, product) == (5, 0)
    types = [e["type"] for e in await recorded(catalog)]
    assert types.count(events.STOCK_RESERVED) == 1
    assert types.count(events.STOCK_COMMITTED) == 1
    assert types.count(events.STOCK_RELEASED) == 1


async def test_an_order_that_cannot_be_served_is_rejected_once(
    platform: Platform, catalog: CatalogRuntime
) -> None:
    consumer = platform.hosts["catalog"].consumer
    assert consumer is not None
    product = await new_product(catalog, stock=1)
    short = str(uuid.uuid4())
    await consumer.handle(
        order_event(events.ORDER_PLACED, short, [{"productId": str(product), "quantity": 3}])
    )
    malformed = str(uuid.uuid4())
    await consumer.handle(
        order_event(events.ORDER_PLACED, malformed, [{"productId": "nope", "quantity": 1}])
    )
    await consumer.handle(order_event(events.ORDER_REJECTED, short))
    rejections = [
        e for e in await recorded(catalog) if e["type"] == events.STOCK_RESERVATION_REJECTED
    ]
    assert [e["subject"] for e in rejections] == [short, malformed]
    assert "out of stock" in rejections[0]["data"]["reason"]
    assert "invalid order" in rejections[1]["data"]["reason"]
    assert await levels(catalog, product) == (1, 0)
