"""categories, products with their search index, stock, reservations, outbox and inbox

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from panthera.kernel.database import UtcDateTime
from panthera.kernel.outbox import create_outbox_and_inbox, drop_outbox_and_inbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False, unique=True),
        sa.Column(
            "parent_id",
            sa.Uuid(),
            sa.ForeignKey("categories.id", ondelete="RESTRICT"),
            nullable=True,
            index=True,
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "products",
        sa.Column("pk", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("sku", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column(
            "category_id",
            sa.Uuid(),
            sa.ForeignKey("categories.id", ondelete="RESTRICT"),
            nullable=True,
            index=True,
        ),
        sa.Column("search_category", sa.String(100), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_products_created_at", "products", ["created_at"])
    op.create_index("ix_products_price", "products", ["price"])
    op.create_index("ix_products_name", "products", ["name"])
    op.create_table(
        "stock",
        sa.Column(
            "product_id",
            sa.Uuid(),
            sa.ForeignKey("products.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("available >= 0", name="ck_stock_available"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_reserved"),
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "reservation_lines",
        sa.Column(
            "order_id",
            sa.String(64),
            sa.ForeignKey("reservations.order_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("product_id", sa.Uuid(), primary_key=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_search()
    else:
        _sqlite_search()
    create_outbox_and_inbox()


def _sqlite_search() -> None:
    # External content: the index stores no second copy of the text; triggers keep it in step.
    op.execute(
        "CREATE VIRTUAL TABLE products_fts USING fts5("
        "name, sku, search_category, description, content='products', content_rowid='pk', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN "
        "INSERT INTO products_fts(rowid, name, sku, search_category, description) "
        "VALUES (new.pk, new.name, new.sku, new.search_category, new.description); END"
    )
    op.execute(
        "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN "
        "INSERT INTO products_fts(products_fts, rowid, name, sku, search_category, description) "
        "VALUES ('delete', old.pk, old.name, old.sku, old.search_category, old.description); END"
    )
    op.execute(
        "CREATE TRIGGER products_fts_update "
        "AFTER UPDATE OF name, sku, search_category, description ON products BEGIN "
        "INSERT INTO products_fts(products_fts, rowid, name, sku, search_category, description) "
        "VALUES ('delete', old.pk, old.name, old.sku, old.search_category, old.description); "
        "INSERT INTO products_fts(rowid, name, sku, search_category, description) "
        "VALUES (new.pk, new.name, new.sku, new.search_category, new.description); END"
    )


def _postgres_search() -> None:
    # Punctuation becomes a space before parsing, as in SQLite's tokenizer: otherwise
    # PostgreSQL reads the SKU "KIT-0000002" as the word "kit" and the number -2.
    def words(column: str) -> str:
        spaced = f"regexp_replace({column}, '[^[:alnum:]]+', ' ', 'g')"
        return f"to_tsvector('english'::regconfig, {spaced})"

    op.execute(
        "ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
        f"setweight({words('name')}, 'A') || setweight({words('sku')}, 'A') || "
        f"setweight({words('search_category')}, 'B') || "
        f"setweight({words('description')}, 'C')) STORED"
    )
    op.execute("CREATE INDEX ix_products_search ON products USING gin (search_vector)")
    schema = _install_pg_trgm()
    if schema is not None:
        op.execute(
            "CREATE INDEX ix_products_name_trgm ON products "
            f'USING gin (name "{schema}".gin_trgm_ops)'
        )


def _install_pg_trgm() -> str | None:
    """Install pg_trgm once per database, in `public`; None if this role may not.

    An extension belongs to the database, not to a service's schema, so it goes
    in `public` where every service can find it; the catalog calls its
    functions schema-qualified because its search_path holds only its own schema.
    If it was installed elsewhere beforehand, that schema is used instead.
    """
    bind = op.get_bind()
    # Services migrating in parallel would otherwise race on CREATE EXTENSION.
    bind.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('panthera:pg_trgm'))"))
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public"))
    except sa.exc.DBAPIError:
        pass  # no privilege: search works without typo tolerance
    found = bind.scalar(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'"
        )
    )
    return str(found) if found is not None else None


def downgrade() -> None:
    drop_outbox_and_inbox()
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS products_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS products_fts")
    op.drop_table("reservation_lines")
    op.drop_table("reservations")
    op.drop_table("stock")
    op.drop_table("products")
    op.drop_table("categories")
