"""a show's placement: in a shared host, or in a Ray actor of its own

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 12:00:00.000000

* ``shows.own_actor``: whether the show runs in a Ray actor of its own (``show:<id>``) instead of one of
  the shared hosts (``shows:<n>``), under hosted placement. A host sets it when one of its shows gets
  busier than ``BOOKING_SHOW_PROMOTE_RATE`` commands/s; the show's own actor clears it when the show goes
  quiet. An activation takes a new epoch only where the show's placement says it runs
  (``persistence/show_store.py``), so PostgreSQL is the directory. Existing shows start hosted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shows", sa.Column("own_actor", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("shows", "own_actor")
