"""payments through a real provider: the order names its provider and, while a card waits
for 3-D Secure, its client secret; the Stripe ledger; provider events handled once each

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from panthera.kernel.database import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column("payment_provider", sa.String(20), nullable=False, server_default="sandbox"),
    )
    op.add_column("orders", sa.Column("payment_client_secret", sa.String(300), nullable=True))
    op.create_table(
        "stripe_payments",
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("intent_id", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "payment_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_payment_events_reference", "payment_events", ["reference"])


def downgrade() -> None:
    op.drop_index("ix_payment_events_reference", table_name="payment_events")
    op.drop_table("payment_events")
    op.drop_table("stripe_payments")
    # Not a batch (copy and drop) on SQLite: dropping `orders` would cascade to its lines.
    op.drop_column("orders", "payment_client_secret")
    op.drop_column("orders", "payment_provider")
