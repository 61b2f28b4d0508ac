"""an order's reason becomes a stable code; its sentence moves to reason_text

Revision ID: 0002
Revises: 0001

Before, `reason` held a sentence ("out of stock: <product id>", "payment
declined (card_declined)", "timed out waiting for stock", "cancelled by the
customer"). Upgrading turns each into its code and writes the sentence people
now see; a product named by id is named by the order's own line. Downgrading
writes sentences of the old kind back. The texts are copied here, not imported,
so this revision means the same thing however the code changes later.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 500

_orders = sa.table(
    "orders",
    sa.column("id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("reason", sa.String()),
    sa.column("reason_text", sa.String()),
)
_lines = sa.table(
    "order_lines",
    sa.column("order_id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("name", sa.String()),
)

# Old sentence (by its start) -> code, in the order they are tried.
_CODES = (
    ("out of stock", "out_of_stock"),
    ("unknown product", "unknown_product"),
    ("invalid order", "invalid_order"),
    ("payment declined", "payment_declined"),
    ("timed out", "expired"),
    ("cancelled by an administrator", "cancelled_by_admin"),
    ("cancelled by the customer", "cancelled_by_customer"),
)
_TEXTS = {
    "invalid_order": "Sorry, this order could not be accepted",
    "payment_declined": "Your card was declined",
    "expired": "The order was not completed in time",
    "cancelled_by_customer": "Cancelled at your request",
    "cancelled_by_admin": "Cancelled by the shop",
}
_DECLINES = {
    "insufficient_funds": "Your card was declined for insufficient funds",
    "expired_card": "Your card was declined because it has expired",
}
_ITEMS = {"out_of_stock": "out of stock", "unknown_product": "no longer sold"}
# Code -> the sentence the code before this revision wrote for it.
_OLD = {
    "out_of_stock": "out of stock",
    "unknown_product": "unknown product",
    "invalid_order": "invalid order",
    "payment_declined": "payment declined",
    "expired": "timed out waiting for stock",
    "cancelled_by_customer": "cancelled by the customer",
    "cancelled_by_admin": "cancelled by an administrator",
}
_UUID = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")
_DECLINE = re.compile(r"\((\w+)\)")


def upgrade() -> None:
    op.add_column("orders", sa.Column("reason_text", sa.String(1000)))
    conn = op.get_bind()
    for rows in _batches(conn):
        updates = [_converted(conn, order_id, status, old) for order_id, status, old in rows]
        conn.execute(
            _orders.update()
            .where(_orders.c.id == sa.bindparam("order_id"))
            .values(reason=sa.bindparam("code"), reason_text=sa.bindparam("text")),
            updates,
        )


def downgrade() -> None:
    conn = op.get_bind()
    for code, sentence in _OLD.items():
        conn.execute(_orders.update().where(_orders.c.reason == code).values(reason=sentence))
    # Not a batch (copy and drop) on SQLite: dropping `orders` would cascade to its lines.
    op.drop_column("orders", "reason_text")


def _batches(conn: sa.Connection) -> Iterator[list[tuple[uuid.UUID, str, str]]]:
    """Orders with a reason, by id, a batch at a time (keyset, so updates never shift pages)."""
    after: uuid.UUID | None = None
    while True:
        query = sa.select(_orders.c.id, _orders.c.status, _orders.c.reason).where(
            _orders.c.reason.is_not(None)
        )
        if after is not None:
            query = query.where(_orders.c.id > after)
        rows = [
            (row.id, row.status, row.reason)
            for row in conn.execute(query.order_by(_orders.c.id).limit(BATCH))
        ]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _converted(
    conn: sa.Connection, order_id: uuid.UUID, status: str, old: str
) -> dict[str, object]:
    lowered = old.strip().lower()
    code = next((code for start, code in _CODES if lowered.startswith(start)), None)
    if code is None:
        # A sentence this code never wrote: keep it for people, pick the nearest code.
        code = "cancelled_by_admin" if status == "cancelled" else "invalid_order"
        return {"order_id": order_id, "code": code, "text": old}
    if code in _ITEMS:
        text = _about_items(_names(conn, order_id, _UUID.findall(old)), _ITEMS[code])
    elif code == "payment_declined":
        decline = _DECLINE.search(old)
        text = _DECLINES.get(decline.group(1) if decline else "", _TEXTS[code])
    else:
        text = _TEXTS[code]
    return {"order_id": order_id, "code": code, "text": text}


def _names(conn: sa.Connection, order_id: uuid.UUID, ids: list[str]) -> list[str]:
    wanted = {uuid.UUID(found) for found in ids}
    lines = conn.execute(
        sa.select(_lines.c.product_id, _lines.c.name).where(_lines.c.order_id == order_id)
    )
    return [name for product_id, name in lines if product_id in wanted]


def _about_items(names: list[str], state: str) -> str:
    if len(names) == 1:
        return f"Sorry, {names[0]} is {state}"
    if names:
        return f"Sorry, {', '.join(names[:-1])} and {names[-1]} are {state}"
    return f"Sorry, an item of your order is {state}"
