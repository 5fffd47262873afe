"""Repositories for everything that is not a seat: accounts, movies, theaters, screens, shows.

They hand plain frozen dataclasses to the API so that table models never leave ``persistence/``. All
functions take an ``AsyncSession`` and leave committing to the caller's unit of work
(``persistence.database.Database.session``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from sqlalchemy import func, insert, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from actors.seat_map_core import in_sales_window, sales_end
from persistence.models import (
    HoldRow,
    Movie,
    Screen,
    ScreenSeat,
    ScreenSection,
    ServiceSecret,
    Show,
    Theater,
    User,
)
from persistence.rows import from_row


def new_id() -> str:
    return str(uuid4())


# -- accounts -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str
    name: str | None
    role: str
    password_hash: str


def _account(row: User) -> Account:
    return from_row(Account, row)


async def find_account_by_email(session: AsyncSession, email: str) -> Account | None:
    row = (await session.exec(select(User).where(func.lower(User.email) == email.lower()))).first()
    return _account(row) if row else None


async def get_account(session: AsyncSession, user_id: str) -> Account | None:
    row = await session.get(User, user_id)
    return _account(row) if row else None


async def create_account(
    session: AsyncSession, email: str, password_hash: str, name: str | None, role: str = "customer"
) -> Account:
    row = User(id=new_id(), email=email, name=name, password_hash=password_hash, role=role)
    session.add(row)
    await session.flush()
    return _account(row)


async def set_role(session: AsyncSession, user_id: str, role: str) -> Account | None:
    row = await session.get(User, user_id)
    if row is None:
        return None
    row.role = role
    await session.flush()
    return _account(row)


async def upsert_admin(session: AsyncSession, email: str, password_hash: str) -> Account:
    row = (await session.exec(select(User).where(func.lower(User.email) == email.lower()))).first()
    if row is None:
        row = User(id=new_id(), email=email, name="Administrator", password_hash=password_hash, role="admin")
        session.add(row)
    else:
        row.password_hash = password_hash
        row.role = "admin"
    await session.flush()
    return _account(row)


async def service_secret(session: AsyncSession, name: str) -> str:
    """A random secret generated once and kept in PostgreSQL, so every API process shares it."""
    await session.execute(
        text("INSERT INTO service_secrets (name, value) VALUES (:n, :v) ON CONFLICT (name) DO NOTHING"),
        {"n": name, "v": secrets.token_urlsafe(48)},
    )
    row = await session.get(ServiceSecret, name)
    assert row is not None
    return row.value


# -- movies and theaters ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MovieInfo:
    id: str
    title: str
    description: str
    duration_minutes: int
    language: str | None
    genres: tuple[str, ...]


def movie_info(row: Any) -> MovieInfo:
    """A movie row (ORM object or SQL row with the same column names) as a ``MovieInfo``."""
    return from_row(MovieInfo, row, genres=tuple(row.genres))


async def create_movie(
    session: AsyncSession,
    title: str,
    description: str,
    duration_minutes: int,
    language: str | None,
    genres: Sequence[str],
) -> MovieInfo:
    row = Movie(
        id=new_id(),
        title=title,
        description=description,
        duration_minutes=duration_minutes,
        language=language,
        genres=list(genres),
    )
    session.add(row)
    await session.flush()
    return movie_info(row)


async def list_movies(session: AsyncSession, limit: int = 100, offset: int = 0) -> list[MovieInfo]:
    rows = await session.exec(select(Movie).order_by(col(Movie.title), col(Movie.id)).limit(limit).offset(offset))
    return [movie_info(r) for r in rows]


async def get_movie(session: AsyncSession, movie_id: str) -> MovieInfo | None:
    row = await session.get(Movie, movie_id)
    return movie_info(row) if row else None


@dataclass(frozen=True, slots=True)
class TheaterInfo:
    id: str
    name: str
    city: str
    address: str


async def create_theater(session: AsyncSession, name: str, city: str, address: str) -> TheaterInfo:
    row = Theater(id=new_id(), name=name, city=city, address=address)
    session.add(row)
    await session.flush()
    return from_row(TheaterInfo, row)


async def get_theater(session: AsyncSession, theater_id: str) -> TheaterInfo | None:
    row = await session.get(Theater, theater_id)
    return from_row(TheaterInfo, row) if row else None


async def list_theaters(
    session: AsyncSession, city: str | None = None, limit: int = 100, offset: int = 0
) -> list[TheaterInfo]:
    query = select(Theater).order_by(col(Theater.city), col(Theater.name), col(Theater.id)).limit(limit).offset(offset)
    if city:
        query = query.where(func.lower(Theater.city) == city.lower())
    return [from_row(TheaterInfo, r) for r in await session.exec(query)]


# -- screens ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowSpec:
    row: str
    seats: int
    category: str


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """A section to build: seated ``rows``, or (``standing``) a zone of ``capacity`` places."""

    code: str
    name: str
    category: str
    rows: tuple[RowSpec, ...] = ()
    capacity: int = 0
    standing: bool = False


@dataclass(frozen=True, slots=True)
class SectionInfo:
    code: str
    name: str
    kind: str  # "seated" | "standing"
    category: str
    capacity: int

    @property
    def standing(self) -> bool:
        return self.kind == "standing"


@dataclass(frozen=True, slots=True)
class SeatLayout:
    seat_id: str
    row: str
    row_index: int
    number: int
    category: str
    section: str = ""
    standing: bool = False


@dataclass(frozen=True, slots=True)
class ScreenInfo:
    """A venue layout: a cinema screen's rows (no sections), or sections of seats and standing zones."""

    id: str
    theater_id: str
    name: str
    seats: tuple[SeatLayout, ...]
    sections: tuple[SectionInfo, ...] = ()

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(s.category for s in self.seats)


def screen_layout(rows: Sequence[RowSpec]) -> list[SeatLayout]:
    """A cinema screen's seats: ids are the row label and the number (``A1``)."""
    return [
        SeatLayout(f"{r.row}{n}", r.row, index, n, r.category)
        for index, r in enumerate(rows)
        for n in range(1, r.seats + 1)
    ]


def venue_layout(sections: Sequence[SectionSpec]) -> list[SeatLayout]:
    """A venue's places, section by section: a seat's id is section, row and number (``112-K-14``), a
    standing place's is the zone and its number (``FLA-1234``)."""
    layout: list[SeatLayout] = []
    for section in sections:
        if section.standing:
            layout.extend(
                SeatLayout(f"{section.code}-{n}", "", 0, n, section.category, section.code, True)
                for n in range(1, section.capacity + 1)
            )
            continue
        for index, r in enumerate(section.rows):
            layout.extend(
                SeatLayout(f"{section.code}-{r.row}-{n}", r.row, index, n, r.category, section.code)
                for n in range(1, r.seats + 1)
            )
    return layout


def section_infos(sections: Sequence[SectionSpec]) -> tuple[SectionInfo, ...]:
    return tuple(
        SectionInfo(
            s.code,
            s.name,
            "standing" if s.standing else "seated",
            s.category,
            s.capacity if s.standing else sum(r.seats for r in s.rows),
        )
        for s in sections
    )


async def create_screen(
    session: AsyncSession,
    theater_id: str,
    name: str,
    rows: Sequence[RowSpec] = (),
    sections: Sequence[SectionSpec] = (),
) -> ScreenInfo:
    """A cinema screen (``rows``) or a venue of ``sections``. A stadium's 100,000 places go in as
    multi-row INSERTs, not one ORM object each."""
    screen = Screen(id=new_id(), theater_id=theater_id, name=name)
    session.add(screen)
    await session.flush()
    layout = venue_layout(sections) if sections else screen_layout(rows)
    infos = section_infos(sections)
    if infos:
        await session.execute(
            insert(ScreenSection),
            [
                {"screen_id": screen.id, "ordinal": i, **{k: getattr(info, k) for k in SectionInfo.__slots__}}
                for i, info in enumerate(infos)
            ],
        )
    await session.execute(
        insert(ScreenSeat),
        [
            {
                "screen_id": screen.id,
                "seat_id": s.seat_id,
                "row_label": s.row,
                "row_index": s.row_index,
                "number": s.number,
                "category": s.category,
                "section": s.section,
                "standing": s.standing,
            }
            for s in layout
        ],
    )
    return ScreenInfo(screen.id, theater_id, name, tuple(layout), infos)


async def get_screen(session: AsyncSession, screen_id: str) -> ScreenInfo | None:
    screen = await session.get(Screen, screen_id)
    if screen is None:
        return None
    sections = await session.execute(
        text("SELECT code, name, kind, category, capacity FROM screen_sections WHERE screen_id = :s ORDER BY ordinal"),
        {"s": screen_id},
    )
    infos = tuple(SectionInfo(*r) for r in sections)
    order = " ".join(f"WHEN '{i.code}' THEN {n}" for n, i in enumerate(infos))  # codes are [A-Z0-9]{1,6}
    rows = await session.execute(
        text(
            "SELECT seat_id, row_label, row_index, number, category, section, standing FROM screen_seats "  # noqa: S608
            f"WHERE screen_id = :s ORDER BY {f'CASE section {order} END, ' if infos else ''}row_index, number"
        ),
        {"s": screen_id},
    )
    seats = tuple(SeatLayout(*r) for r in rows)
    return ScreenInfo(screen.id, screen.theater_id, screen.name, seats, infos)


# -- shows --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShowInfo:
    id: str
    movie_id: str
    theater_id: str
    screen_id: str
    starts_at: datetime
    prices: dict[str, Decimal]
    hold_ttl_seconds: int
    status: str
    sales_open_at: datetime | None = None
    sales_close_at: datetime | None = None
    waiting_room: bool = False
    reentry: bool = False

    @property
    def sales_end(self) -> datetime:
        return sales_end(self.starts_at, self.sales_close_at)

    def on_sale(self, now: datetime) -> bool:
        """Listed as on sale and within its sales window (the seat map's rule, ``in_sales_window``)."""
        return self.status == "on_sale" and in_sales_window(
            now, self.starts_at, self.sales_open_at, self.sales_close_at
        )


def show_info(row: Any) -> ShowInfo:
    """A show row (ORM object or SQL row with the same column names) as a ``ShowInfo``."""
    return from_row(ShowInfo, row, prices={k: Decimal(str(v)) for k, v in row.prices.items()})


async def create_show(
    session: AsyncSession,
    movie_id: str,
    screen: ScreenInfo,
    starts_at: datetime,
    prices: dict[str, Decimal],
    hold_ttl_seconds: int,
    sales_open_at: datetime | None = None,
    sales_close_at: datetime | None = None,
    waiting_room: bool = False,
    reentry: bool = False,
) -> ShowInfo:
    row = Show(
        id=new_id(),
        movie_id=movie_id,
        theater_id=screen.theater_id,
        screen_id=screen.id,
        starts_at=starts_at,
        prices={k: str(v) for k, v in prices.items()},
        hold_ttl_seconds=hold_ttl_seconds,
        status="on_sale",
        sales_open_at=sales_open_at,
        sales_close_at=sales_close_at,
        waiting_room=waiting_room,
        reentry=reentry,
    )
    session.add(row)
    await session.flush()
    await session.execute(
        text(
            "INSERT INTO show_zones (show_id, zone, capacity) "
            "SELECT :show, code, capacity FROM screen_sections WHERE screen_id = :screen AND kind = 'standing'"
        ),
        {"show": row.id, "screen": screen.id},
    )
    return show_info(row)


async def get_show(session: AsyncSession, show_id: str) -> ShowInfo | None:
    row = await session.get(Show, show_id)
    return show_info(row) if row else None


async def list_shows(
    session: AsyncSession,
    movie_id: str | None = None,
    theater_id: str | None = None,
    on_sale_after: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[ShowInfo]:
    query = select(Show).order_by(col(Show.starts_at), col(Show.id))
    if movie_id:
        query = query.where(Show.movie_id == movie_id)
    if theater_id:
        query = query.where(Show.theater_id == theater_id)
    if on_sale_after is not None:
        query = query.where(Show.status == "on_sale", col(Show.starts_at) > on_sale_after)
    return [show_info(r) for r in await session.exec(query.limit(limit).offset(offset))]


async def shows_opening_between(session: AsyncSession, start: datetime, end: datetime, limit: int = 1000) -> list[str]:
    """Ids of on-sale shows whose sales open in [start, end), soonest first: the ones to pre-warm."""
    query = (
        select(Show.id)
        .where(Show.status == "on_sale", col(Show.sales_open_at) >= start, col(Show.sales_open_at) < end)
        .order_by(col(Show.sales_open_at), col(Show.id))
        .limit(limit)
    )
    return list(await session.exec(query))


async def shows_with_holds_expiring_before(session: AsyncSession, end: datetime, limit: int = 1000) -> list[str]:
    """Ids of shows with an active hold expiring before ``end`` (overdue ones included), soonest first:
    their actors must be running, since an actor's timer is what releases a hold."""
    query = (
        select(HoldRow.show_id, func.min(HoldRow.expires_at))
        .where(
            HoldRow.status == "active",
            col(HoldRow.expires_at) < end,
            col(HoldRow.show_id).in_(select(Show.id).where(Show.status == "on_sale")),
        )
        .group_by(col(HoldRow.show_id))
        .order_by(func.min(HoldRow.expires_at))
        .limit(limit)
    )
    return [show_id for show_id, _ in await session.exec(query)]


async def count_movies(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(Movie))).one())


# -- seat truth for readers that must not wait on the actor -------------------------------------------


@dataclass(frozen=True, slots=True)
class SeatClaims:
    held: dict[str, float]
    booked: tuple[str, ...]
    blocked: tuple[str, ...]


async def seat_claims(session: AsyncSession, show_id: str) -> SeatClaims:
    """The committed owners of a show's seats, straight from PostgreSQL."""
    rows = (
        await session.execute(
            text(
                "SELECT seat_id, booking_id IS NOT NULL AS booked, extract(epoch from expires_at) AS exp "
                "FROM seat_claims WHERE show_id = :s"
            ),
            {"s": show_id},
        )
    ).all()
    blocked = (
        await session.execute(text("SELECT seat_id FROM blocked_seats WHERE show_id = :s"), {"s": show_id})
    ).all()
    return SeatClaims(
        held={r.seat_id: float(r.exp) for r in rows if not r.booked},
        booked=tuple(r.seat_id for r in rows if r.booked),
        blocked=tuple(r.seat_id for r in blocked),
    )


# A hold's status as readers are told it: an active hold past its ``expires_at`` is expired, whether or
# not its timer has fired (expiry is a matter of time).
_HOLD_STATUS = "CASE WHEN status = 'active' AND expires_at <= now() THEN 'expired' ELSE status END"


async def latest_hold_status(session: AsyncSession, show_id: str, user_id: str) -> str | None:
    """Status of the caller's most recent hold on a show (to tell 'expired' from 'never held'), as
    ``_HOLD_STATUS`` tells it."""
    row = (
        await session.execute(
            text(
                f"SELECT {_HOLD_STATUS} FROM holds "  # noqa: S608
                "WHERE show_id = :s AND user_id = :u ORDER BY created_at DESC LIMIT 1"
            ),
            {"s": show_id, "u": user_id},
        )
    ).first()
    return None if row is None else str(row[0])


@dataclass(frozen=True, slots=True)
class OwnHold:
    """One of a client's holds as PostgreSQL has it. ``status`` is the hold's, with a lapsed active hold
    reported as ``expired`` (``_HOLD_STATUS``)."""

    hold_id: str
    seat_ids: tuple[str, ...]
    expires_at: float
    status: str


async def own_holds(session: AsyncSession, show_id: str, user_id: str, also: Iterable[str] = ()) -> list[OwnHold]:
    """The user's active holds on the show, and the current state of the holds named in ``also``."""
    rows = (
        await session.execute(
            text(
                f"SELECT id, seat_ids, extract(epoch from expires_at) AS exp, {_HOLD_STATUS} AS st "  # noqa: S608
                "FROM holds WHERE show_id = :s AND user_id = :u "
                "AND (status = 'active' OR id = ANY(CAST(:ids AS varchar[])))"
            ),
            {"s": show_id, "u": user_id, "ids": list(also)},
        )
    ).all()
    return [OwnHold(r.id, tuple(r.seat_ids), float(r.exp), str(r.st)) for r in rows]


@dataclass(frozen=True, slots=True)
class BookingInfo:
    id: str
    show_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    amount: Decimal
    status: str
    payment_ref: str | None
    created_at: datetime
    fee: Decimal = Decimal(0)
    cancel_reason: str | None = None
    refund_amount: Decimal | None = None
    hold_ids: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal:
        return self.amount + self.fee


_BOOKING_COLUMNS = (
    "id, show_id, user_id, seat_ids, amount, status, payment_ref, created_at, fee, cancel_reason, refund_amount, "
    "hold_ids"
)


def _booking(row: Any) -> BookingInfo:
    return from_row(BookingInfo, row, seat_ids=tuple(row.seat_ids), hold_ids=tuple(row.hold_ids))


async def get_booking(session: AsyncSession, booking_id: str) -> BookingInfo | None:
    row = (
        await session.execute(text(f"SELECT {_BOOKING_COLUMNS} FROM bookings WHERE id = :b"), {"b": booking_id})  # noqa: S608
    ).first()
    return _booking(row) if row else None


async def list_bookings(session: AsyncSession, user_id: str, limit: int, offset: int) -> tuple[list[BookingInfo], int]:
    """A user's bookings, newest first, with the total count."""
    rows = await session.execute(
        text(
            f"SELECT {_BOOKING_COLUMNS}, count(*) OVER () FROM bookings WHERE user_id = :u "  # noqa: S608
            "ORDER BY created_at DESC, id LIMIT :l OFFSET :o"
        ),
        {"u": user_id, "l": limit, "o": offset},
    )
    items = rows.all()
    total = int(items[0][-1]) if items else 0
    if not items and offset:
        total = int(
            (
                await session.execute(text("SELECT count(*) FROM bookings WHERE user_id = :u"), {"u": user_id})
            ).scalar_one()
        )
    return [_booking(r) for r in items], total


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    seat_id: str
    event: str
    user_id: str | None
    hold_id: str | None
    booking_id: str | None
    epoch: int
    at: datetime


async def seat_history(session: AsyncSession, show_id: str, seat_id: str | None = None) -> list[LedgerEntry]:
    """A show's ledger (or one seat's), oldest first."""
    rows = await session.execute(
        text(
            "SELECT id, seat_id, event, user_id, hold_id, booking_id, epoch, at FROM seat_ledger "
            "WHERE show_id = :s AND (CAST(:seat AS text) IS NULL OR seat_id = :seat) ORDER BY id LIMIT 10000"
        ),
        {"s": show_id, "seat": seat_id},
    )
    return [LedgerEntry(*r) for r in rows]
