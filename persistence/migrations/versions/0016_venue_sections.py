"""venues with sections and standing zones (stadiums of 100,000 places)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:40:00.000000

* ``screen_sections``: the sections of a venue layout (a screen), in display order: a code used in seat
  ids (``112`` in ``112-K-14``), a name, a kind (``seated`` or ``standing``), a category, and for a
  standing zone its capacity. A cinema screen has none: it is one unnamed section.
* ``screen_seats.section`` / ``standing``: every place of the layout names its section; a standing zone's
  places (``FLA-1`` … ``FLA-<capacity>``) are rows here too, so a standing place is claimed, held, paid,
  fenced and written to the ledger exactly like a seat (one owner per place: the key of ``seat_claims``).
* ``show_zones``: per show and standing zone, its capacity and how many of its places are claimed right
  now. ``taken`` is kept by a trigger on ``seat_claims`` (a claim row of a standing place in, +1; out,
  -1), and ``CHECK (taken BETWEEN 0 AND capacity)`` makes PostgreSQL refuse the transaction that would put
  one more person in a full zone, whatever wrote it. A claim of a standing place in a zone the show does
  not have is refused too.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# A standing place's id: the zone's code, a dash, the place's number (seated ids have two dashes or none).
STANDING_ID = "^[A-Z0-9]{1,6}-[0-9]{1,6}$"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE screen_sections (
            screen_id varchar(36) NOT NULL REFERENCES screens(id),
            code varchar(6) NOT NULL CHECK (code ~ '^[A-Z0-9]{1,6}$'),
            name varchar(100) NOT NULL,
            kind varchar(10) NOT NULL CHECK (kind IN ('seated', 'standing')),
            category varchar(50) NOT NULL,
            capacity integer NOT NULL CHECK (capacity > 0),
            ordinal integer NOT NULL,
            PRIMARY KEY (screen_id, code)
        )
        """
    )
    op.execute("ALTER TABLE screen_seats ADD COLUMN section varchar(6) NOT NULL DEFAULT ''")
    op.execute("ALTER TABLE screen_seats ADD COLUMN standing boolean NOT NULL DEFAULT false")
    op.execute(
        """
        CREATE TABLE show_zones (
            show_id varchar(36) NOT NULL REFERENCES shows(id),
            zone varchar(6) NOT NULL,
            capacity integer NOT NULL CHECK (capacity > 0),
            taken integer NOT NULL DEFAULT 0,
            PRIMARY KEY (show_id, zone),
            CONSTRAINT ck_show_zones_capacity CHECK (taken BETWEEN 0 AND capacity)
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION seatwise_zone_taken() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            row_ seat_claims%ROWTYPE;
            step integer;
        BEGIN
            IF TG_OP = 'INSERT' THEN row_ := NEW; step := 1; ELSE row_ := OLD; step := -1; END IF;
            UPDATE show_zones SET taken = taken + step
             WHERE show_id = row_.show_id AND zone = split_part(row_.seat_id, '-', 1);
            IF NOT FOUND THEN
                RAISE EXCEPTION 'standing place % of show % is in no zone of the show', row_.seat_id, row_.show_id
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER seat_claims_zone_in AFTER INSERT ON seat_claims FOR EACH ROW
        WHEN (NEW.seat_id ~ '{STANDING_ID}') EXECUTE FUNCTION seatwise_zone_taken()
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER seat_claims_zone_out AFTER DELETE ON seat_claims FOR EACH ROW
        WHEN (OLD.seat_id ~ '{STANDING_ID}') EXECUTE FUNCTION seatwise_zone_taken()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER seat_claims_zone_out ON seat_claims")
    op.execute("DROP TRIGGER seat_claims_zone_in ON seat_claims")
    op.execute("DROP FUNCTION seatwise_zone_taken()")
    op.execute("DROP TABLE show_zones")
    op.execute("ALTER TABLE screen_seats DROP COLUMN standing")
    op.execute("ALTER TABLE screen_seats DROP COLUMN section")
    op.execute("DROP TABLE screen_sections")
