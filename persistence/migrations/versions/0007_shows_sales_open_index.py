"""indexes for the pre-warmer's questions: which shows open for sale soon, which have holds expiring

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:15:00.000000

* ``ix_shows_sales_open_at``: partial (on-sale shows only), so every API process asking every few
  seconds for the shows whose sales open within the pre-warm lead (``routing/prewarm.py``) reads a few
  index entries, not the shows table.
* ``ix_holds_active_expiry``: partial (active holds only), for the shows whose holds expire soon or are
  overdue and whose actor (the holds' timer) must be running.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_shows_sales_open_at", "shows", ["sales_open_at"], postgresql_where=sa.text("status = 'on_sale'")
    )
    op.create_index("ix_holds_active_expiry", "holds", ["expires_at"], postgresql_where=sa.text("status = 'active'"))


def downgrade() -> None:
    op.drop_index("ix_holds_active_expiry", table_name="holds")
    op.drop_index("ix_shows_sales_open_at", table_name="shows")
