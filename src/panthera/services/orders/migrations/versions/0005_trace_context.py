"""orders keep the checkout's trace, so the payment worker and the expiry job continue it

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("trace_context", sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place: rebuilding the table would cascade to its children.
    op.drop_column("orders", "trace_context")
