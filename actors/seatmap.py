"""The seat map of one show: the pure core of the reservation system.

Owns which seat is available, held, booked or blocked, the holds and bookings of one show, and every
rule about them: all-or-nothing holds, hold length and bounded extensions, the per-account seat cap,
best-available selection, confirmation of holds into a booking, expiry. No Ray, no I/O: time comes from
an injected clock and ids from an injected factory, so tests drive it directly and deterministically.

Protocol (each command either raises a ``BookingError`` and changes nothing, or changes state and
appends past-tense events to ``pending_events`` that the caller drains with ``drain_events``):

    hold(user, seats) | hold_best(user, count, category)  -> Hold          (SeatsHeld)
    release(user, hold_id)                                 -> Hold          (HoldReleased reason=released)
    extend(user, hold_id)                                  -> Hold          (HoldExtended)
    confirm(user, hold_ids, booking_id)                    -> Booking       (BookingConfirmed)
    expire_due()                                           -> list[Hold]    (HoldReleased reason=expired)
    close_sales()                                          -> list[Hold]    (HoldReleased reason=sales_closed)
    block(seats) / unblock(seats)                          -> None          (SeatsBlocked / SeatsUnblocked)

Seat states: a seat is ``booked`` if a booking owns it, ``blocked`` if an admin took it off sale,
``held`` if a hold owns it and ``now < hold.expires_at``, else ``available``. An expired hold owns
nothing even before ``expire_due`` removes it: expiry timers only free seats early, they never decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from uuid import uuid4

from actors.errors import (
    ExtensionRefused,
    HoldExpired,
    HoldNotFound,
    InvalidRequest,
    NoAdjacentSeats,
    SalesClosed,
    SeatLimitExceeded,
    SeatsUnavailable,
    UnknownSeats,
)

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


def new_id() -> str:
    return str(uuid4())


class SeatStatus(StrEnum):
    AVAILABLE = "available"
    HELD = "held"
    BOOKED = "booked"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class SeatSpec:
    """One seat of the screen. ``row_index`` 0 is the row nearest the screen; ``number`` counts from 1."""

    seat_id: str
    row: str
    row_index: int
    number: int
    category: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    amount: Decimal
    extensions: int = 0

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class Booking:
    booking_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    hold_ids: tuple[str, ...]
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SeatsHeld:
    hold: Hold


@dataclass(frozen=True, slots=True)
class HoldReleased:
    hold: Hold
    reason: Literal["released", "expired", "sales_closed"]


@dataclass(frozen=True, slots=True)
class HoldExtended:
    hold: Hold


@dataclass(frozen=True, slots=True)
class BookingConfirmed:
    booking: Booking


@dataclass(frozen=True, slots=True)
class SeatsBlocked:
    seat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SeatsUnblocked:
    seat_ids: tuple[str, ...]


Event = SeatsHeld | HoldReleased | HoldExtended | BookingConfirmed | SeatsBlocked | SeatsUnblocked


@dataclass(frozen=True, slots=True)
class ShowRules:
    """The per-show parameters the core enforces."""

    show_id: str
    starts_at: datetime
    hold_ttl: timedelta
    max_seats_per_user: int
    max_extensions: int = 2
    max_seats_per_request: int = 10


@dataclass(slots=True)
class SeatMap:
    """Mutable state of one show. Build a fresh one with ``SeatMap(rules, seats, clock)`` or rebuild a
    stored one with ``SeatMap.restore(...)``."""

    rules: ShowRules
    seats: Sequence[SeatSpec]
    clock: Clock
    id_factory: IdFactory = new_id
    pending_events: list[Event] = field(default_factory=list)
    sales_closed: bool = False
    # The fields below are derived in __post_init__ / maintained by the commands.
    _by_id: dict[str, SeatSpec] = field(default_factory=dict)
    _holds: dict[str, Hold] = field(default_factory=dict)
    _bookings: dict[str, Booking] = field(default_factory=dict)
    _seat_hold: dict[str, str] = field(default_factory=dict)
    _seat_booking: dict[str, str] = field(default_factory=dict)
    _blocked: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._by_id = {seat.seat_id: seat for seat in self.seats}

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def restore(
        cls,
        rules: ShowRules,
        seats: Sequence[SeatSpec],
        clock: Clock,
        *,
        holds: Iterable[Hold] = (),
        bookings: Iterable[Booking] = (),
        blocked: Iterable[str] = (),
        sales_closed: bool = False,
        id_factory: IdFactory = new_id,
    ) -> SeatMap:
        """Rebuild from stored rows. Expired holds are kept (so ``expire_due`` reports them) but own
        nothing. Raises ``ValueError`` if the rows contradict each other (a seat in two holds/bookings)."""
        raise NotImplementedError

    # -- queries ------------------------------------------------------------------------------------

    def status(self, seat_id: str) -> SeatStatus:
        raise NotImplementedError

    def snapshot(self) -> dict[str, SeatStatus]:
        """Status of every seat, in seat order."""
        raise NotImplementedError

    def counts(self) -> dict[SeatStatus, int]:
        """How many seats are in each status; the values always add up to the capacity."""
        raise NotImplementedError

    def live_holds(self) -> list[Hold]:
        raise NotImplementedError

    def holds_of(self, user_id: str) -> list[Hold]:
        """The user's holds that are still live, oldest first."""
        raise NotImplementedError

    def bookings_of(self, user_id: str) -> list[Booking]:
        raise NotImplementedError

    def next_expiry(self) -> datetime | None:
        """The earliest ``expires_at`` among stored holds (live or already expired), or None."""
        raise NotImplementedError

    # -- commands -----------------------------------------------------------------------------------

    def hold(self, user_id: str, seat_ids: Sequence[str]) -> Hold:
        raise NotImplementedError

    def hold_best(self, user_id: str, count: int, category: str) -> Hold:
        raise NotImplementedError

    def release(self, user_id: str, hold_id: str) -> Hold:
        raise NotImplementedError

    def extend(self, user_id: str, hold_id: str) -> Hold:
        raise NotImplementedError

    def confirm(self, user_id: str, hold_ids: Sequence[str], booking_id: str | None = None) -> Booking:
        raise NotImplementedError

    def expire_due(self) -> list[Hold]:
        raise NotImplementedError

    def close_sales(self) -> list[Hold]:
        raise NotImplementedError

    def block(self, seat_ids: Sequence[str]) -> None:
        raise NotImplementedError

    def unblock(self, seat_ids: Sequence[str]) -> None:
        raise NotImplementedError

    def drain_events(self) -> list[Event]:
        events, self.pending_events = self.pending_events, []
        return events


__all__ = [
    "Booking",
    "BookingConfirmed",
    "Clock",
    "Event",
    "ExtensionRefused",
    "Hold",
    "HoldExpired",
    "HoldExtended",
    "HoldNotFound",
    "HoldReleased",
    "InvalidRequest",
    "NoAdjacentSeats",
    "SalesClosed",
    "SeatLimitExceeded",
    "SeatMap",
    "SeatSpec",
    "SeatStatus",
    "SeatsBlocked",
    "SeatsHeld",
    "SeatsUnavailable",
    "SeatsUnblocked",
    "ShowRules",
    "UnknownSeats",
    "replace",
]
