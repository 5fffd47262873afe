"""waiting lists: after sell-out, seats that come back are offered in the order people asked

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 21:10:00.000000

* ``waiting_list``: one row per account and show, ordered by ``position`` (a sequence: the order they
  joined). ``state`` moves waiting → offered → booked | lapsed, or → left; an offer is a hold of the
  account's own (``offer_hold_id``) kept until ``offer_expires_at``.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE waiting_list (
            id varchar(36) PRIMARY KEY,
            show_id varchar(36) NOT NULL REFERENCES shows(id),
            user_id varchar(36) NOT NULL REFERENCES users(id),
            seats integer NOT NULL CHECK (seats BETWEEN 1 AND 20),
            position bigserial NOT NULL,
            joined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            state varchar(10) NOT NULL DEFAULT 'waiting'
                CHECK (state IN ('waiting', 'offered', 'booked', 'lapsed', 'left')),
            offer_hold_id varchar(36),
            offered_at timestamptz,
            offer_expires_at timestamptz,
            CONSTRAINT uq_waiting_list_account UNIQUE (show_id, user_id)
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_waiting_list_open ON waiting_list (show_id, position) WHERE state IN ('waiting', 'offered')"
    )


def downgrade() -> None:
    op.execute("DROP TABLE waiting_list")
