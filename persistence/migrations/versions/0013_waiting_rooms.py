"""waiting rooms: a provably fair, stock-aware queue in front of an on-sale's holds

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:00:00.000000

* ``shows.waiting_room``: the show sells only to accounts its room admits.
* ``waiting_rooms``: one per show that sells only to admitted accounts. ``seed`` is secret until the
  opening (only ``commitment`` = sha256(seed) is published before); ``opened_at`` / ``merkle_root`` /
  ``pre_queue_size`` are set when the pre-queue is ordered; ``next_number`` numbers later joiners in
  order; ``admitted_through``: every entry numbered up to it has been admitted; ``stats``: the admission
  round's last view (stock, rate history, estimate inputs) that polls read without counting anything.
* ``queue_entries``: one per account and show (the place that is never lost), numbered once sales open.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE shows ADD COLUMN waiting_room boolean NOT NULL DEFAULT false")
    op.execute(
        """
        CREATE TABLE waiting_rooms (
            show_id varchar(36) PRIMARY KEY REFERENCES shows(id),
            seed text NOT NULL,
            commitment text NOT NULL,
            opens_at timestamptz NOT NULL,
            admission_window_seconds integer NOT NULL,
            opened_at timestamptz,
            merkle_root text,
            pre_queue_size integer,
            next_number bigint NOT NULL DEFAULT 1,
            admitted_through bigint NOT NULL DEFAULT 0,
            sold_out_at timestamptz,
            closed_at timestamptz,
            stats jsonb NOT NULL DEFAULT '{}'::jsonb
        )
        """
    )
    op.execute(
        """
        CREATE TABLE queue_entries (
            id varchar(36) PRIMARY KEY,
            show_id varchar(36) NOT NULL REFERENCES waiting_rooms(show_id),
            user_id varchar(36) NOT NULL REFERENCES users(id),
            joined_at timestamptz NOT NULL,
            pre_queue boolean NOT NULL,
            number bigint,
            admitted_at timestamptz,
            CONSTRAINT uq_queue_entries_account UNIQUE (show_id, user_id),
            CONSTRAINT uq_queue_entries_number UNIQUE (show_id, number)
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_queue_entries_admitted ON queue_entries (show_id, admitted_at) WHERE admitted_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE queue_entries")
    op.execute("DROP TABLE waiting_rooms")
    op.execute("ALTER TABLE shows DROP COLUMN waiting_room")
