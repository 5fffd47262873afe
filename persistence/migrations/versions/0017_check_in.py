"""check-in at the door: signed tickets' keys, admissions exactly once, offline conflicts, re-entry

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 01:00:00.000000

* ``ticket_keys``: the service's Ed25519 keys that sign tickets. The newest key that is not retired signs;
  every key verifies until ``retires_at``. The public halves are published (``/.well-known/…``).
* ``admissions``: one row per entry of a booking through a door, written by the show's actor in the same
  transaction as the decision (``entry`` 1 is the first; a show with ``reentry`` allows 2, 3… after an exit).
  Its key ``(booking_id, entry)`` is PostgreSQL's own proof that a ticket is admitted once per entry,
  whatever copy of an actor or gate wrote it.
* ``check_in_conflicts``: an offline gate's admit of a ticket that was already in (at another gate, or
  online), found when the gate synced: reported to the admins, never dropped.
* ``shows.reentry``: whether a ticket may come back in after an exit scan (off by default).
* ``users.role`` may be ``gate``: the accounts of the door's scanners.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE users DROP CONSTRAINT ck_users_role")
    op.execute(
        "ALTER TABLE users ADD CONSTRAINT ck_users_role CHECK (role IN ('customer', 'box_office', 'gate', 'admin'))"
    )
    op.execute("ALTER TABLE shows ADD COLUMN reentry boolean NOT NULL DEFAULT false")
    op.execute(
        """
        CREATE TABLE ticket_keys (
            kid varchar(32) PRIMARY KEY,
            private_key text NOT NULL,
            public_key text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            retires_at timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE admissions (
            booking_id varchar(36) NOT NULL REFERENCES bookings(id),
            entry integer NOT NULL CHECK (entry >= 1),
            show_id varchar(36) NOT NULL REFERENCES shows(id),
            gate varchar(50) NOT NULL,
            admitted_at timestamptz NOT NULL,
            offline boolean NOT NULL DEFAULT false,
            exited_at timestamptz,
            exit_gate varchar(50),
            epoch bigint NOT NULL,
            PRIMARY KEY (booking_id, entry)
        )
        """
    )
    op.execute("CREATE INDEX ix_admissions_show_time ON admissions (show_id, admitted_at)")
    op.execute(
        """
        CREATE TABLE check_in_conflicts (
            id bigserial PRIMARY KEY,
            show_id varchar(36) NOT NULL REFERENCES shows(id),
            booking_id varchar(36) NOT NULL REFERENCES bookings(id),
            gate varchar(50) NOT NULL,
            scanned_at timestamptz NOT NULL,
            first_gate varchar(50) NOT NULL,
            first_at timestamptz NOT NULL,
            offline boolean NOT NULL,
            detected_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    op.execute("CREATE INDEX ix_check_in_conflicts_show ON check_in_conflicts (show_id, detected_at)")


def downgrade() -> None:
    op.execute("DROP TABLE check_in_conflicts")
    op.execute("DROP TABLE admissions")
    op.execute("DROP TABLE ticket_keys")
    op.execute("ALTER TABLE shows DROP COLUMN reentry")
    op.execute("ALTER TABLE users DROP CONSTRAINT ck_users_role")
    op.execute("ALTER TABLE users ADD CONSTRAINT ck_users_role CHECK (role IN ('customer', 'box_office', 'admin'))")
