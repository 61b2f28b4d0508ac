"""token versions: a user's access tokens can be revoked before they expire

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from panthera.kernel.database import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_table(
        "token_floors",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("token_floors")
    # SQLite drops a column itself since 3.35 (no batch copy of the table).
    op.drop_column("users", "token_version")
