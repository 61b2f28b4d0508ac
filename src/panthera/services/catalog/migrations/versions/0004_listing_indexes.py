"""listing indexes: narrow paths for counting and ordering pages without reading product rows

Revision ID: 0004
Revises: 0003

Search and listings count their matches exactly and order a page of keys
before reading any product (repository `_count`, `_page_keys`). These indexes
let both steps stay inside an index:

- every database: a filter's index carries the default order (newest first)
  and the key, so a category or price-band listing counts and orders its
  page from the index alone;
- PostgreSQL: each sort index ends on the key, the tie-breaker of every
  order, so pages (deep ones too) are read in order from the index only;
- SQLite: stock by product with its level, so a stock filter reads no stock
  rows (PostgreSQL keeps `available` out of indexes: its stock updates stay
  HOT, in place).
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SHARED = {
    "ix_products_category_created": ["category_id", "created_at", "price", "pk"],
    "ix_products_price_created": ["price", "created_at", "pk"],
}
POSTGRES_SORTS = {
    "ix_products_created_at": "created_at",
    "ix_products_price": "price",
    "ix_products_name": "name",
}


def upgrade() -> None:
    for name, columns in SHARED.items():
        op.create_index(name, "products", columns)
    if op.get_bind().dialect.name == "postgresql":
        for name, column in POSTGRES_SORTS.items():
            op.drop_index(name, "products")
            op.create_index(name, "products", [column, "pk"])
    else:
        op.create_index("ix_stock_available", "stock", ["product_id", "available"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, column in POSTGRES_SORTS.items():
            op.drop_index(name, "products")
            op.create_index(name, "products", [column])
    else:
        op.drop_index("ix_stock_available", "stock")
    for name in SHARED:
        op.drop_index(name, "products")
