"""The orders migrations go up and down on SQLite and PostgreSQL, converting reasons both ways."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from panthera.app import create_platform
from panthera.kernel import migrations
from panthera.kernel.database import Database, utcnow
from panthera.kernel.settings import Settings

TABLES = {"orders", "order_lines", "sandbox_charges", "outbox", "inbox"}
SHOE, SOCKS = uuid.uuid4(), uuid.uuid4()

orders = sa.table(
    "orders",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("reason", sa.String()),
    sa.column("total", sa.BigInteger()),
    sa.column("currency", sa.String()),
    sa.column("shipping_address", sa.JSON()),
    sa.column("payment_status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
lines = sa.table(
    "order_lines",
    sa.column("order_id", sa.Uuid()),
    sa.column("position", sa.Integer()),
    sa.column("product_id", sa.Uuid()),
    sa.column("sku", sa.String()),
    sa.column("name", sa.String()),
    sa.column("quantity", sa.Integer()),
    sa.column("unit_price", sa.BigInteger()),
)

# What the code before revision 0002 wrote -> (code, sentence) after it.
CASES: list[tuple[str, str | None, str | None, str | None]] = [
    ("rejected", f"out of stock: {SOCKS}", "out_of_stock", "Sorry, Wool socks is out of stock"),
    (
        "rejected",
        f"unknown product: {SHOE}",
        "unknown_product",
        "Sorry, Trail running shoe is no longer sold",
    ),
    (
        "rejected",
        "invalid order: quantity of x is not an integer",
        "invalid_order",
        "Sorry, this order could not be accepted",
    ),
    ("rejected", "payment declined (card_declined)", "payment_declined", "Your card was declined"),
    (
        "rejected",
        "payment declined (insufficient_funds)",
        "payment_declined",
        "Your card was declined for insufficient funds",
    ),
    ("rejected", "timed out waiting for stock", "expired", "The order was not completed in time"),
    (
        "cancelled",
        "cancelled by the customer",
        "cancelled_by_customer",
        "Cancelled at your request",
    ),
    ("cancelled", "cancelled by an administrator", "cancelled_by_admin", "Cancelled by the shop"),
    ("rejected", "lost in the post", "invalid_order", "lost in the post"),
    ("confirmed", None, None, None),
]


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names(db.schema))
    return set(names)


async def _columns(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as conn:
        found = await conn.run_sync(lambda sync: sa.inspect(sync).get_columns(table, db.schema))
    return {column["name"] for column in found}


async def _seed(db: Database) -> list[uuid.UUID]:
    now, ids = utcnow(), [uuid.uuid4() for _ in CASES]
    async with db.engine.begin() as conn:
        await conn.execute(
            orders.insert(),
            [
                {
                    "id": order_id,
                    "user_id": uuid.uuid4(),
                    "status": status,
                    "reason": old,
                    "total": 2499,
                    "currency": "EUR",
                    "shipping_address": {"name": "Alice"},
                    "payment_status": "voided",
                    "created_at": now,
                    "updated_at": now,
                }
                for order_id, (status, old, _, _) in zip(ids, CASES, strict=True)
            ],
        )
        await conn.execute(
            lines.insert(),
            [
                {
                    "order_id": order_id,
                    "position": position,
                    "product_id": product_id,
                    "sku": f"SKU-{position}",
                    "name": name,
                    "quantity": 1,
                    "unit_price": 1999 if position == 0 else 500,
                }
                for order_id in ids
                for position, (product_id, name) in enumerate(
                    [(SHOE, "Trail running shoe"), (SOCKS, "Wool socks")]
                )
            ],
        )
    return ids


async def _reasons(db: Database, ids: list[uuid.UUID], *columns: str) -> list[tuple[Any, ...]]:
    table = sa.table("orders", sa.column("id", sa.Uuid()), *(sa.column(c) for c in columns))
    async with db.engine.connect() as conn:
        rows = {
            row[0]: tuple(row[1:])
            for row in await conn.execute(sa.select(table.c.id, *table.c[columns]))
        }
    return [rows[order_id] for order_id in ids]


async def test_reasons_become_codes_and_back(settings: Settings) -> None:
    host = create_platform(settings, services=["orders"]).hosts["orders"]
    db, location = host.db, host.spec.migrations
    try:
        await migrations.upgrade(db, location, "orders", "0001")
        ids = await _seed(db)

        await migrations.upgrade(db, location, "orders")
        converted = await _reasons(db, ids, "reason", "reason_text")
        assert converted == [(code, text) for _, _, code, text in CASES]

        await migrations.downgrade(db, location, "orders", "0001")
        assert "reason_text" not in await _columns(db, "orders")
        restored = [reason for (reason,) in await _reasons(db, ids, "reason")]
        assert restored == [
            "out of stock",
            "unknown product",
            "invalid order",
            "payment declined",
            "payment declined",
            "timed out waiting for stock",
            "cancelled by the customer",
            "cancelled by an administrator",
            "invalid order",
            None,
        ]
        async with db.engine.connect() as conn:  # dropping a column kept every line
            assert await conn.scalar(sa.select(sa.func.count()).select_from(lines)) == 2 * len(ids)

        await migrations.upgrade(db, location, "orders")
        again = await _reasons(db, ids, "reason")
        assert [reason for (reason,) in again] == [code for _, _, code, _ in CASES]
    finally:
        await db.dispose()


async def test_upgrade_downgrade_upgrade(settings: Settings) -> None:
    host = create_platform(settings, services=["orders"]).hosts["orders"]
    db, location = host.db, host.spec.migrations
    try:
        await migrations.upgrade(db, location, "orders")
        assert await _tables(db) >= TABLES
        await migrations.downgrade(db, location, "orders", "base")
        assert not TABLES & await _tables(db)
        await migrations.upgrade(db, location, "orders")
        await migrations.upgrade(db, location, "orders")  # idempotent on restart
        assert await _tables(db) >= TABLES and "reason_text" in await _columns(db, "orders")
    finally:
        await db.dispose()
