"""box-office sales and the blocked-network list

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:30:00.000000

* ``bookings.sold_by`` / ``bookings.customer_name``: a booking a box-office account sold to a walk-in
  customer records who sold it and to whom.
* ``blocked_networks``: client addresses (CIDR) the API refuses; edited by admins.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("sold_by", sa.String(length=36), nullable=True))
    op.add_column("bookings", sa.Column("customer_name", sa.String(length=200), nullable=True))
    op.create_foreign_key("bookings_sold_by_fkey", "bookings", "users", ["sold_by"], ["id"])
    op.create_table(
        "blocked_networks",
        sa.Column("network", postgresql.CIDR(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("network"),
    )


def downgrade() -> None:
    op.drop_table("blocked_networks")
    op.drop_constraint("bookings_sold_by_fkey", "bookings", type_="foreignkey")
    op.drop_column("bookings", "customer_name")
    op.drop_column("bookings", "sold_by")
