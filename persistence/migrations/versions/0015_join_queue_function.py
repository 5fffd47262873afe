"""a batch of joins to an opened waiting room in one statement

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 21:45:00.000000

* ``seatwise_join_queue(show, users, ids)``: under the room row's lock, numbers the accounts of the batch
  that have no entry yet, in the batch's order, inserts their entries, and returns the batch's entries.
  Run as one autocommitted statement (``persistence/waiting_rooms.py``), the lock is held for the
  function's own run and its commit, not across the client's round trips: batches of one show, which the
  counter serializes, follow each other that much faster.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION seatwise_join_queue(p_show text, p_users text[], p_ids text[])
        RETURNS SETOF queue_entries
        LANGUAGE plpgsql AS $$
        DECLARE
            newcomers text[];
            new_ids text[];
            first_number bigint;
        BEGIN
            PERFORM 1 FROM waiting_rooms WHERE show_id = p_show AND opened_at IS NOT NULL FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'waiting room of show % is missing or not open', p_show USING ERRCODE = 'SW002';
            END IF;
            SELECT array_agg(u.user_id ORDER BY u.ord), array_agg(u.id ORDER BY u.ord)
              INTO newcomers, new_ids
              FROM unnest(p_users, p_ids) WITH ORDINALITY AS u(user_id, id, ord)
             WHERE NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.show_id = p_show AND q.user_id = u.user_id);
            IF newcomers IS NOT NULL THEN
                UPDATE waiting_rooms SET next_number = next_number + cardinality(newcomers)
                 WHERE show_id = p_show
                 RETURNING next_number - cardinality(newcomers) INTO first_number;
                INSERT INTO queue_entries (id, show_id, user_id, joined_at, pre_queue, number)
                SELECT n.id, p_show, n.user_id, clock_timestamp(), false, first_number + n.ord - 1
                  FROM unnest(newcomers, new_ids) WITH ORDINALITY AS n(user_id, id, ord);
            END IF;
            RETURN QUERY SELECT * FROM queue_entries WHERE show_id = p_show AND user_id = ANY(p_users);
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION seatwise_join_queue(text, text[], text[])")
