"""Sales, occupancy and revenue figures for the admin dashboard, computed by PostgreSQL.

Read-only and computed on request from the tables that are the truth (``seat_claims`` for seats sold and
held now, ``bookings`` for money, ``screen_seats`` for capacity), so the figures agree with the seat maps
and bookings the API serves. A report covers the shows starting in a window of UTC days:

* per show: capacity, seats sold, held and blocked now, occupancy, bookings, gross takings, refunds and
  net revenue (gross less refunds);
* per show day: the same summed over the shows starting that day;
* per sales day: bookings made, tickets and gross takings by the UTC day they were bought, and refunds by
  the day the booking was cancelled;
* the screens of those theaters with their capacity and row layout (what occupancy is measured against).

Money is summed as ``numeric`` and returned as ``Decimal``; counts come back as ``bigint`` (``int``). Each
query's columns are named like the fields of the record it fills (``persistence.rows.from_row``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.catalog import RowSpec
from persistence.rows import from_row

MAX_SHOWS = 1000
MAX_SCREENS = 1000

_PER_SHOW = """
    SELECT s.id AS show_id, s.starts_at, s.status, s.movie_id, m.title AS movie_title, s.theater_id,
           t.name AS theater_name, t.city, s.screen_id, sc.name AS screen_name,
           (SELECT count(*) FROM screen_seats AS ss WHERE ss.screen_id = s.screen_id) AS capacity,
           (SELECT count(*) FROM seat_claims AS c WHERE c.show_id = s.id AND c.booking_id IS NOT NULL) AS sold,
           (SELECT count(*) FROM seat_claims AS c
             WHERE c.show_id = s.id AND c.hold_id IS NOT NULL AND c.expires_at > now()) AS held,
           (SELECT count(*) FROM blocked_seats AS b WHERE b.show_id = s.id) AS blocked,
           coalesce(money.bookings, 0) AS bookings,
           coalesce(money.gross, 0) AS gross,
           coalesce(money.refunded, 0) AS refunded
    FROM shows AS s
    JOIN movies AS m ON m.id = s.movie_id
    JOIN theaters AS t ON t.id = s.theater_id
    JOIN screens AS sc ON sc.id = s.screen_id
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE b.status = 'confirmed') AS bookings,
               sum(b.amount + b.fee) AS gross,
               sum(b.refund_amount) FILTER (WHERE b.status = 'cancelled') AS refunded
        FROM bookings AS b WHERE b.show_id = s.id
    ) AS money ON true
    WHERE s.starts_at >= :start AND s.starts_at < :end
      AND (CAST(:theater_id AS text) IS NULL OR s.theater_id = :theater_id)
"""

_SHOWS = text(_PER_SHOW + " ORDER BY s.starts_at, s.id LIMIT :limit")

_SHOW_DAYS = text(
    f"""
    SELECT (p.starts_at AT TIME ZONE 'UTC')::date AS day, count(*) AS shows, sum(p.capacity)::bigint AS capacity,
           sum(p.sold)::bigint AS sold, sum(p.bookings)::bigint AS bookings, sum(p.gross) AS gross,
           sum(p.refunded) AS refunded
    FROM ({_PER_SHOW}) AS p
    GROUP BY 1 ORDER BY 1
    """  # noqa: S608 (constant SQL; every value is a bound parameter)
)

_SALES_DAYS = text(
    """
    WITH chosen AS (
        SELECT s.id FROM shows AS s
        WHERE s.starts_at >= :start AND s.starts_at < :end
          AND (CAST(:theater_id AS text) IS NULL OR s.theater_id = :theater_id)
    ), moves AS (
        SELECT (b.created_at AT TIME ZONE 'UTC')::date AS day, 1 AS bookings,
               cardinality(b.seat_ids) AS tickets, b.amount + b.fee AS gross, 0::numeric AS refunded
        FROM bookings AS b JOIN chosen ON chosen.id = b.show_id
        UNION ALL
        SELECT (b.cancelled_at AT TIME ZONE 'UTC')::date, 0, 0, 0::numeric, coalesce(b.refund_amount, 0)
        FROM bookings AS b JOIN chosen ON chosen.id = b.show_id
        WHERE b.status = 'cancelled' AND b.cancelled_at IS NOT NULL
    )
    SELECT day, sum(bookings) AS bookings, sum(tickets) AS tickets, sum(gross) AS gross, sum(refunded) AS refunded
    FROM moves GROUP BY day ORDER BY day
    """
)

_SCREENS = text(
    """
    SELECT sc.id, sc.theater_id, sc.name, ss.row_label, min(ss.row_index) AS row_index, count(*) AS seats,
           ss.category
    FROM screens AS sc JOIN screen_seats AS ss ON ss.screen_id = sc.id
    WHERE sc.id IN (
        SELECT id FROM screens
        WHERE CAST(:theater_id AS text) IS NULL OR theater_id = :theater_id
        ORDER BY theater_id, name, id LIMIT :limit
    )
    GROUP BY sc.id, sc.theater_id, sc.name, ss.row_label, ss.category
    ORDER BY sc.theater_id, sc.name, sc.id, min(ss.row_index), ss.category
    """
)


@dataclass(frozen=True, slots=True)
class Takings:
    """What some shows' bookings brought in: bookings made, gross takings and refunds (the figures every
    report row has)."""

    bookings: int
    gross: Decimal
    refunded: Decimal

    @property
    def revenue(self) -> Decimal:
        return self.gross - self.refunded


@dataclass(frozen=True, slots=True)
class ShowTakings(Takings):
    """Takings of shows, with their seats sold against the capacity they were sold from."""

    capacity: int
    sold: int

    @property
    def occupancy(self) -> float:
        """sold / capacity, 0 to 1, to four places (0 where there are no seats)."""
        return round(self.sold / self.capacity, 4) if self.capacity else 0.0


@dataclass(frozen=True, slots=True)
class ShowFigures(ShowTakings):
    show_id: str
    starts_at: datetime
    status: str
    movie_id: str
    movie_title: str
    theater_id: str
    theater_name: str
    city: str
    screen_id: str
    screen_name: str
    held: int
    blocked: int


@dataclass(frozen=True, slots=True)
class ShowDayFigures(ShowTakings):
    day: date
    shows: int


@dataclass(frozen=True, slots=True)
class SalesDayFigures(Takings):
    day: date
    tickets: int


@dataclass(frozen=True, slots=True)
class ScreenLayout:
    id: str
    theater_id: str
    name: str
    rows: tuple[RowSpec, ...]

    @property
    def capacity(self) -> int:
        return sum(r.seats for r in self.rows)


@dataclass(frozen=True, slots=True)
class SalesReport:
    start: date
    end: date
    shows: tuple[ShowFigures, ...]
    show_days: tuple[ShowDayFigures, ...]
    sales_days: tuple[SalesDayFigures, ...]
    screens: tuple[ScreenLayout, ...]
    truncated: bool


async def sales_report(session: AsyncSession, start: date, end: date, theater_id: str | None = None) -> SalesReport:
    """Figures for the shows starting on the UTC days ``start`` to ``end`` (both included)."""
    params = {
        "start": datetime.combine(start, time.min, UTC),
        "end": datetime.combine(end, time.min, UTC) + timedelta(days=1),
        "theater_id": theater_id,
    }
    show_rows = (await session.execute(_SHOWS, {**params, "limit": MAX_SHOWS + 1})).all()
    shows = tuple(from_row(ShowFigures, r) for r in show_rows[:MAX_SHOWS])
    show_days = tuple(from_row(ShowDayFigures, r) for r in await session.execute(_SHOW_DAYS, params))
    sales_days = tuple(from_row(SalesDayFigures, r) for r in await session.execute(_SALES_DAYS, params))
    layouts: dict[str, tuple[str, str, list[RowSpec]]] = {}
    for r in await session.execute(_SCREENS, {"theater_id": theater_id, "limit": MAX_SCREENS}):
        layouts.setdefault(r.id, (r.theater_id, r.name, []))[2].append(RowSpec(r.row_label, int(r.seats), r.category))
    screens = tuple(
        ScreenLayout(id=screen_id, theater_id=t_id, name=name, rows=tuple(rows))
        for screen_id, (t_id, name, rows) in layouts.items()
    )
    return SalesReport(
        start=start,
        end=end,
        shows=shows,
        show_days=show_days,
        sales_days=sales_days,
        screens=screens,
        truncated=len(show_rows) > MAX_SHOWS,
    )
