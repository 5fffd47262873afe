"""the walk-in customer of a box-office payment

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:20:00.000000

* ``payments.customer_name``: set for box-office sales, so a payment the reconciler settles later (the
  gateway gave no answer at the desk) books in the customer's name like the desk would have.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("customer_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("payments", "customer_name")
