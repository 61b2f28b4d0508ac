"""a rejected reservation's reason is a StockRejectionReason code, not a sentence

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

_reservations = sa.table("reservations", sa.column("status"), sa.column("reason"))

# What 0001's code wrote ("out of stock: <product id>", ...) -> the code it meant.
_CODES = {
    "out of stock:%": "out_of_stock",
    "unknown product:%": "unknown_product",
    "invalid order:%": "invalid_order",
}


def upgrade() -> None:
    for sentence, code in _CODES.items():
        op.execute(
            _reservations.update()
            .where(_reservations.c.status == "rejected", _reservations.c.reason.like(sentence))
            .values(reason=code)
        )
    # Only a rejection has a reason now (a release before any reservation had a note).
    op.execute(
        _reservations.update()
        .where(
            sa.or_(
                _reservations.c.status != "rejected",
                _reservations.c.reason.not_in(list(_CODES.values())),
            )
        )
        .values(reason=None)
    )


def downgrade() -> None:
    # The codes read well enough as the free text 0001 expects.
    pass
