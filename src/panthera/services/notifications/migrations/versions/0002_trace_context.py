"""notifications keep the trace of the event that caused them, so each send continues it

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("trace_context", sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place: rebuilding the table would cascade to its children.
    op.drop_column("notifications", "trace_context")
