"""The catalog's outbox: every product change is recorded with the change."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa

from panthera.app import Platform
from panthera.contracts.catalog import (
    ProductCreated,
    ProductDeleted,
    ProductUpdated,
    StockChanged,
    StockCommitted,
    StockRejected,
    StockReleased,
    StockReserved,
)
from panthera.contracts.orders import (
    MAX_UNITS_PER_PRODUCT,
    OrderCancelled,
    OrderConfirmed,
    OrderEvent,
    OrderItem,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
    PaymentStatus,
)
from panthera.kernel.bus import Undeliverable
from panthera.kernel.consumer import Consumer
from panthera.kernel.events import Event
from panthera.services.catalog.models import outbox
from panthera.services.catalog.runtime import CatalogRuntime
from tests.conftest import Account, assert_problem
from tests.services.catalog.conftest import make_product
from tests.services.catalog.test_inventory_races import levels, new_product


async def recorded(rt: CatalogRuntime) -> list[dict[str, Any]]:
    async with rt.uow.read() as tx:
        rows = await tx.session.scalars(sa.select(outbox.c.envelope).order_by(outbox.c.position))
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
        ProductCreated.TYPE,
        ProductUpdated.TYPE,
        StockChanged.TYPE,
        ProductDeleted.TYPE,
    ]
    assert all(e["source"] == "catalog" and e["subject"] == pid for e in envelopes)
    created, updated, stock, deleted = (e["data"] for e in envelopes)
    assert created["price"] == 2999 and created["available"] == 2 and created["version"] == 1
    assert updated["price"] == 2499 and updated["changed"] == ["price"]
    assert stock == {"productId": pid, "available": 5, "reserved": 0}
    assert deleted["productId"] == pid and deleted["price"] == 2499 and deleted["available"] == 5


async def test_failed_writes_record_nothing(
    client: httpx.AsyncClient, admin: Account, catalog: CatalogRuntime
) -> None:
    product = await make_product(client, admin, sku="ONCE")
    duplicate = await client.post(
        "/v1/products",
        json={"sku": "ONCE", "name": "x", "price": 1, "currency": "EUR"},
        headers=admin.headers,
    )
    assert_problem(duplicate, 409)
    stale = await client.put(
        f"/v1/products/{product['id']}",
        json={"name": "y"},
        headers={**admin.headers, "If-Match": '"99"'},
    )
    assert_problem(stale, 412)
    assert [e["type"] for e in await recorded(catalog)] == [ProductCreated.TYPE]


E = TypeVar("E", bound=OrderEvent)


def order_event(kind: type[E], order_id: uuid.UUID, items: list[tuple[str, int]]) -> Event:
    """An order event as the orders service publishes it."""
    return Event.of(
        kind(
            order_id=order_id,
            user_id=uuid.uuid4(),
            status=OrderStatus.PENDING,
            total=100 * sum(quantity for _, quantity in items),
            currency="EUR",
            payment_status=PaymentStatus.PENDING,
            items=[
                OrderItem(product_id=pid, sku="X", name="Widget", quantity=qty, unit_price=100)
                for pid, qty in items
            ],
        )
    )


def consumer_of(platform: Platform) -> Consumer:
    consumer = platform.hosts["catalog"].consumer
    assert consumer is not None
    return consumer


async def test_order_events_drive_the_reservation(
    platform: Platform, catalog: CatalogRuntime
) -> None:
    consumer = consumer_of(platform)
    product = await new_product(catalog, stock=5)
    order = uuid.uuid4()
    placed = order_event(OrderPlaced, order, [(str(product), 2)])
    assert await consumer.handle(placed)
    assert not await consumer.handle(placed)  # redelivered: recognised by the inbox
    # A new event for the same order (a retry upstream) does not reserve twice either.
    assert await consumer.handle(order_event(OrderPlaced, order, [(str(product), 2)]))
    assert await levels(catalog, product) == (3, 2)
    await consumer.handle(order_event(OrderConfirmed, order, []))
    assert await levels(catalog, product) == (3, 0)
    await consumer.handle(order_event(OrderCancelled, order, []))
    assert await levels(catalog, product) == (5, 0)
    types = [e["type"] for e in await recorded(catalog)]
    assert types.count(StockReserved.TYPE) == 1
    assert types.count(StockCommitted.TYPE) == 1
    assert types.count(StockReleased.TYPE) == 1


async def test_an_order_that_cannot_be_served_is_rejected_once(
    platform: Platform, catalog: CatalogRuntime
) -> None:
    consumer = consumer_of(platform)
    product = await new_product(catalog, stock=1)
    short = uuid.uuid4()
    await consumer.handle(order_event(OrderPlaced, short, [(str(product), 3)]))
    # Well-formed, but beyond the order rules every service shares.
    invalid = uuid.uuid4()
    await consumer.handle(
        order_event(OrderPlaced, invalid, [(str(product), MAX_UNITS_PER_PRODUCT + 1)])
    )
    await consumer.handle(order_event(OrderRejected, short, []))
    await consumer.handle(order_event(OrderPlaced, short, [(str(product), 1)]))
    rejections = [e for e in await recorded(catalog) if e["type"] == StockRejected.TYPE]
    assert [e["subject"] for e in rejections] == [str(short), str(invalid)]
    assert [e["data"]["reason"] for e in rejections] == ["out_of_stock", "invalid_order"]
    assert all(e["data"]["productIds"] == [str(product)] for e in rejections)
    assert await levels(catalog, product) == (1, 0)


async def test_a_malformed_order_event_is_refused_and_changes_nothing(
    platform: Platform, catalog: CatalogRuntime
) -> None:
    consumer = consumer_of(platform)
    product = await new_product(catalog, stock=1)
    placed = order_event(OrderPlaced, uuid.uuid4(), [(str(product), 1)])
    malformed = placed.model_copy(
        update={"data": {**placed.data, "items": [{"productId": "nope", "quantity": 1}]}}
    )
    with pytest.raises(Undeliverable, match="malformed"):
        await consumer.handle(malformed)
    newer = placed.model_copy(update={"id": uuid.uuid4(), "version": OrderPlaced.VERSION + 1})
    with pytest.raises(Undeliverable, match="version"):
        await consumer.handle(newer)
    assert await levels(catalog, product) == (1, 0)
    assert [e["type"] for e in await recorded(catalog)] == [ProductCreated.TYPE]
    # Never remembered as handled: once fixed, the same event can still take effect.
    assert await consumer.handle(placed)
    assert await levels(catalog, product) == (0, 1)
