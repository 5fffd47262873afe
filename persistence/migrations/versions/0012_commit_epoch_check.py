"""the show actor's epoch check as a function, so a commit is one round trip

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 18:00:00.000000

* ``seatwise_check_epoch(show, epoch)``: takes the show row's share lock and raises SQLSTATE ``SW001``
  (the show's current epoch in DETAIL) unless ``epoch`` is the show's current one. A show actor's
  commit sends it first and its writes and ``COMMIT`` after it in one pipeline, without waiting for its
  answer: a stale epoch fails the statement, so everything after it is skipped and nothing is written
  (``persistence/show_store.py``). Before, the commit read the epoch back first: four round trips
  (BEGIN, the check, the writes, COMMIT) instead of one.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION seatwise_check_epoch(p_show text, p_epoch bigint) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
            current_epoch bigint;
        BEGIN
            SELECT epoch INTO current_epoch FROM shows WHERE id = p_show FOR SHARE;
            IF current_epoch IS DISTINCT FROM p_epoch THEN
                RAISE EXCEPTION 'show % is at epoch %, not %', p_show, coalesce(current_epoch, -1), p_epoch
                    USING ERRCODE = 'SW001', DETAIL = coalesce(current_epoch, -1)::text;
            END IF;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION seatwise_check_epoch(text, bigint)")
