"""What the door reads from PostgreSQL: a gate's manifest of a show's valid tickets, and the admins' view
of entries, the share of the audience in, and conflicts. Read-only: admissions are written by the show's
actor (``persistence/show_store.py``), the one writer of who is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class ValidTicket:
    """A confirmed booking of the show, as a gate needs it offline."""

    booking_id: str
    seats: tuple[str, ...]
    holder: str
    admitted_at: datetime | None  # in already (its latest entry, not exited), or None
    admitted_gate: str | None


@dataclass(frozen=True, slots=True)
class GateMinute:
    gate: str
    minute: datetime
    entries: int


@dataclass(frozen=True, slots=True)
class Conflict:
    booking_id: str
    gate: str
    scanned_at: datetime
    first_gate: str
    first_at: datetime
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class DoorReport:
    tickets: int  # confirmed bookings
    inside: int  # of them, in now (admitted, not exited)
    seats_inside: int  # places those tickets cover
    seats_sold: int
    per_minute: tuple[GateMinute, ...]  # entries per gate and minute, oldest first
    conflicts: tuple[Conflict, ...]  # newest first

    @property
    def share_in(self) -> float:
        """Share of the audience (places sold) inside."""
        return self.seats_inside / self.seats_sold if self.seats_sold else 0.0


# The latest entry of each booking of a show.
_LATEST = """
    SELECT DISTINCT ON (booking_id) booking_id, gate, admitted_at, exited_at FROM admissions
    WHERE show_id = :show ORDER BY booking_id, entry DESC
"""


async def valid_tickets(session: AsyncSession, show_id: str) -> list[ValidTicket]:
    """Every confirmed booking of the show with its holder's name (the walk-in customer's for a box-office
    sale, else the account's name or email) and whether it is in."""
    rows = await session.execute(
        text(
            f"""
            WITH latest AS ({_LATEST})
            SELECT b.id, b.seat_ids, coalesce(b.customer_name, u.name, u.email) AS holder,
                   CASE WHEN l.exited_at IS NULL THEN l.admitted_at END AS admitted_at,
                   CASE WHEN l.exited_at IS NULL THEN l.gate END AS admitted_gate
            FROM bookings b JOIN users u ON u.id = b.user_id LEFT JOIN latest l ON l.booking_id = b.id
            WHERE b.show_id = :show AND b.status = 'confirmed' ORDER BY b.created_at, b.id
            """  # noqa: S608 (a constant)
        ),
        {"show": show_id},
    )
    return [ValidTicket(r[0], tuple(r[1]), r[2], r[3], r[4]) for r in rows]


async def door_report(session: AsyncSession, show_id: str, minutes: int = 120) -> DoorReport:
    """Entries per gate per minute over the last ``minutes``, who is in, and every conflict."""
    totals = (
        await session.execute(
            text(
                f"""
                WITH latest AS ({_LATEST})
                SELECT count(*), count(l.booking_id) FILTER (WHERE l.exited_at IS NULL),
                       coalesce(sum(cardinality(b.seat_ids)) FILTER (WHERE l.booking_id IS NOT NULL
                                                                     AND l.exited_at IS NULL), 0),
                       coalesce(sum(cardinality(b.seat_ids)), 0)
                FROM bookings b LEFT JOIN latest l ON l.booking_id = b.id
                WHERE b.show_id = :show AND b.status = 'confirmed'
                """  # noqa: S608 (a constant)
            ),
            {"show": show_id},
        )
    ).one()
    minutes_rows = await session.execute(
        text(
            "SELECT gate, date_trunc('minute', admitted_at) AS minute, count(*) FROM admissions "
            "WHERE show_id = :show AND admitted_at >= now() - make_interval(mins => :minutes) "
            "GROUP BY 1, 2 ORDER BY 2, 1"
        ),
        {"show": show_id, "minutes": minutes},
    )
    conflict_rows = await session.execute(
        text(
            "SELECT booking_id, gate, scanned_at, first_gate, first_at, detected_at FROM check_in_conflicts "
            "WHERE show_id = :show ORDER BY detected_at DESC, id DESC LIMIT 1000"
        ),
        {"show": show_id},
    )
    return DoorReport(
        tickets=int(totals[0]),
        inside=int(totals[1]),
        seats_inside=int(totals[2]),
        seats_sold=int(totals[3]),
        per_minute=tuple(GateMinute(r[0], r[1], int(r[2])) for r in minutes_rows),
        conflicts=tuple(Conflict(*r) for r in conflict_rows),
    )
