"""The seat map of one show: the pure core of the reservation system.

Owns which seat is available, held, booked or blocked, the holds and bookings of one show, and every
rule about them: all-or-nothing holds, hold length and bounded extensions, the per-account seat cap,
best-available selection, confirmation of holds into a booking, expiry. No Ray, no I/O: time comes from
an injected clock and ids from an injected factory, so tests drive it directly and deterministically.

Protocol (each command either raises a ``BookingError`` and changes nothing, or changes state and
appends past-tense events to ``pending_events`` that the caller drains with ``drain_events``):

    hold(user, seats) | hold_best(user, count, category, section) -> Hold   (SeatsHeld)
    release(user, hold_id)                                 -> Hold          (HoldReleased reason=released)
    extend(user, hold_id)                                  -> Hold          (HoldExtended)
    begin_payment(user, hold_ids | None)                   -> Payment       (PaymentStarted, or none if resumed)
    abort_payment(payment_key, outcome)                    -> list[Hold]    (PaymentAborted)
    confirm(user, hold_ids, booking_id, payment_key)       -> Booking       (BookingConfirmed)
    cancel(user | None, booking_id)                        -> BookingCancelled (BookingCancelled)
    cancel_show()                                          -> list[BookingCancelled]
                                                              (HoldReleased…, BookingCancelled…, ShowCancelled)
    expire_due()                                           -> list[Hold]    (HoldReleased reason=expired)
    close_sales()                                          -> list[Hold]    (HoldReleased reason=sales_closed)
    block(seats) / unblock(seats)                          -> None          (SeatsBlocked / SeatsUnblocked)

Payments: ``begin_payment`` puts holds into payment-pending under a new payment key (the idempotency key
the gateway is charged with). A pending hold cannot be released or extended, and cannot expire mid-payment:
its ``expires_at`` is pushed to at least ``now + payment_window`` (bounded), and ``abort_payment`` (card
declined, no charge made) puts it back to the expiry it had. If nobody resolves the payment within the
window the hold expires like any other; the charge, if one was made, is then refunded by the reconciler.
So a pending hold always ends booked, or released with any charge refunded.

Money: a hold's ``amount`` is the seats' price, its ``fee`` the convenience fee (per ticket); the charge is
``total``. A customer may cancel a booking until ``cancel_cutoff`` before the show and gets back the seats'
price less ``cancellation_fee_rate`` (the convenience fee is kept); an operator's cancellation, and a
cancelled show, refund everything.

Seat states: a seat is ``booked`` if a booking owns it, ``blocked`` if an admin took it off sale,
``held`` if a hold owns it and ``now < hold.expires_at``, else ``available``. An expired hold owns
nothing even before ``expire_due`` removes it: expiry timers only free seats early, they never decide.
``seat_statuses`` is the one precedence of these states for claims read from anywhere (this map, a
published snapshot, PostgreSQL); ``in_sales_window`` is the one sales window, which the catalog's
``ShowInfo`` applies too.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import islice, repeat
from typing import Literal
from uuid import uuid4

from actors.errors import (
    BookingNotFound,
    CancellationClosed,
    ExtensionRefused,
    HoldExpired,
    HoldNotFound,
    InvalidRequest,
    NoAdjacentSeats,
    NotEnoughPlaces,
    PaymentInProgress,
    SalesClosed,
    SeatLimitExceeded,
    SeatsUnavailable,
    UnknownCategory,
    UnknownSeats,
    UnknownSection,
)

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]
RowKey = tuple[str, int]  # (section, row_index)
# A block's preference, smaller is better: (strands a seat, centre distance, row distance, section order,
# row_index, first seat number).
BlockKey = tuple[bool, int, int, int, int, int]


def new_id() -> str:
    return str(uuid4())


class SeatStatus(StrEnum):
    AVAILABLE = "available"
    HELD = "held"
    BOOKED = "booked"
    BLOCKED = "blocked"


def seat_statuses(booked: Iterable[str], blocked: Iterable[str], held: Iterable[str]) -> dict[str, SeatStatus]:
    """The status of each claimed seat; a seat not in the answer is available. ``held`` names the seats of
    live holds only. A seat claimed more than one way shows the first of booked, blocked, held: a seat map
    never claims a seat twice (see ``SeatMap``), but claims read elsewhere (a published snapshot, the rows
    of PostgreSQL) are only as consistent as their source, and every reader ranks them the same way. One
    dict built per call, no work per unclaimed seat: the seat-map read path calls it on every read."""
    statuses = dict.fromkeys(held, SeatStatus.HELD)
    statuses.update(zip(blocked, repeat(SeatStatus.BLOCKED)))
    statuses.update(zip(booked, repeat(SeatStatus.BOOKED)))
    return statuses


def sales_end(starts_at: datetime, sales_close_at: datetime | None) -> datetime:
    """When sales stop: the scheduled close (None: none), never after the show starts."""
    return starts_at if sales_close_at is None else min(sales_close_at, starts_at)


def in_sales_window(
    now: datetime, starts_at: datetime, sales_open_at: datetime | None, sales_close_at: datetime | None
) -> bool:
    """Whether ``now`` is within a show's sales window: from ``sales_open_at`` (None: from creation) until
    ``sales_end``. Whether sales were closed early (a cancelled show) is the caller's to add."""
    opened = sales_open_at is None or now >= sales_open_at
    return opened and now < sales_end(starts_at, sales_close_at)


@dataclass(frozen=True, slots=True)
class SeatSpec:
    """One place of the venue. A seat: ``row_index`` 0 is its section's row nearest the stage (or screen),
    ``number`` counts from 1. A cinema screen is one unnamed section (``section`` ""). A place of a standing
    zone (general admission, ``standing``) has no row: ``number`` is the place's number within the zone's
    capacity; customers ask for a quantity (``hold_best`` with the zone's section), and a place held by its
    id (a waiting-list offer of what came back) is one place like any other."""

    seat_id: str
    row: str
    row_index: int
    number: int
    category: str
    price: Decimal
    section: str = ""
    standing: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    amount: Decimal
    extensions: int = 0
    fee: Decimal = Decimal(0)
    # Set while being paid for: the payment's key, and the expiry to go back to if the payment fails.
    payment_key: str | None = None
    resume_expires_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at

    @property
    def total(self) -> Decimal:
        return self.amount + self.fee

    @property
    def paying(self) -> bool:
        return self.payment_key is not None


@dataclass(frozen=True, slots=True)
class Booking:
    booking_id: str
    user_id: str
    seat_ids: tuple[str, ...]
    hold_ids: tuple[str, ...]
    amount: Decimal
    created_at: datetime
    fee: Decimal = Decimal(0)
    payment_key: str | None = None

    @property
    def total(self) -> Decimal:
        return self.amount + self.fee


@dataclass(frozen=True, slots=True)
class Payment:
    """Holds in payment-pending under one key. ``resumed``: the payment was already under way (a retry),
    so the caller charges again under the same key and the gateway answers with the first outcome."""

    payment_key: str
    user_id: str
    holds: tuple[Hold, ...]
    resumed: bool = False

    @property
    def hold_ids(self) -> tuple[str, ...]:
        return tuple(h.hold_id for h in self.holds)

    @property
    def total(self) -> Decimal:
        return sum((h.total for h in self.holds), Decimal(0))


CancelReason = Literal["customer", "operator", "show_cancelled"]


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


@dataclass(frozen=True, slots=True)
class BookingCancelled:
    booking: Booking
    reason: CancelReason = "customer"
    refund: Decimal = Decimal(0)  # what goes back to the payer


@dataclass(frozen=True, slots=True)
class PaymentStarted:
    payment: Payment  # its holds as they are now: pending, expiry pushed to cover the payment window


@dataclass(frozen=True, slots=True)
class PaymentAborted:
    payment_key: str
    holds: tuple[Hold, ...]  # back to active, with the expiry they had before the payment
    outcome: Literal["declined", "failed"]


@dataclass(frozen=True, slots=True)
class ShowCancelled:
    show_id: str


@dataclass(frozen=True, slots=True)
class Admission:
    """One entry of a booking through the venue's door (``actors/door.py``): ``entry`` 1 is the first;
    with re-entry allowed, 2, 3… follow exits (``exited_at``)."""

    booking_id: str
    entry: int
    gate: str
    at: datetime
    offline: bool = False
    exited_at: datetime | None = None
    exit_gate: str | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    admission: Admission


@dataclass(frozen=True, slots=True)
class Exited:
    admission: Admission  # with ``exited_at`` and ``exit_gate`` set


@dataclass(frozen=True, slots=True)
class EntryConflict:
    """An offline gate admitted a ticket that was already in: reported, never dropped."""

    booking_id: str
    gate: str
    scanned_at: datetime
    first: Admission


Event = (
    SeatsHeld
    | HoldReleased
    | HoldExtended
    | BookingConfirmed
    | BookingCancelled
    | SeatsBlocked
    | SeatsUnblocked
    | PaymentStarted
    | PaymentAborted
    | ShowCancelled
    | Admitted
    | Exited
    | EntryConflict
)


@dataclass(frozen=True, slots=True)
class ShowRules:
    """The per-show parameters the core enforces."""

    show_id: str
    starts_at: datetime
    hold_ttl: timedelta
    max_seats_per_user: int
    max_extensions: int = 2
    max_seats_per_request: int = 10
    payment_window: timedelta = timedelta(minutes=2)
    convenience_fee: Decimal = Decimal(0)  # per ticket
    cancel_cutoff: timedelta = timedelta(0)  # customers may cancel until this long before the show
    cancellation_fee_rate: Decimal = Decimal(0)  # share of the seats' price kept on a customer's cancellation
    sales_open_at: datetime | None = None  # None: on sale from creation
    sales_close_at: datetime | None = None  # None: until the show starts

    @property
    def sales_end(self) -> datetime:
        """When sales stop: the scheduled close, never after the show starts."""
        return sales_end(self.starts_at, self.sales_close_at)


@dataclass(slots=True)
class SeatMap:
    """Mutable state of one show. Build a fresh one with ``SeatMap(rules, seats, clock)`` or rebuild a
    stored one with ``SeatMap.restore(...)``.

    Invariants kept by every command (and checked by ``restore``): a seat is claimed by at most one
    stored hold or booking (``_seat_hold`` and ``_seat_booking`` are disjoint), and a blocked seat is
    claimed by neither. A stored hold may be expired; it then owns nothing, and the next command that
    wants one of its seats removes it first (emitting ``HoldReleased(reason="expired")``).
    """

    rules: ShowRules
    seats: Sequence[SeatSpec] = field(repr=False)
    clock: Clock
    id_factory: IdFactory = new_id
    pending_events: list[Event] = field(default_factory=list)
    sales_closed: bool = False
    # The fields below are derived in __post_init__ / maintained by the commands.
    _by_id: dict[str, SeatSpec] = field(default_factory=dict, repr=False)
    _holds: dict[str, Hold] = field(default_factory=dict, repr=False)
    _bookings: dict[str, Booking] = field(default_factory=dict, repr=False)
    _seat_hold: dict[str, str] = field(default_factory=dict, repr=False)
    _seat_booking: dict[str, str] = field(default_factory=dict, repr=False)
    _blocked: set[str] = field(default_factory=set, repr=False)
    # Seat layout: (section, row_index) -> seats of the row sorted by number.
    _rows: dict[RowKey, tuple[SeatSpec, ...]] = field(default_factory=dict, init=False, repr=False)
    # category -> rows having at least one seat of it, in (section, row_index) order; section -> its rows;
    # (category, section) -> min + max row_index of the section's rows of that category.
    _category_rows: dict[str, tuple[RowKey, ...]] = field(default_factory=dict, init=False, repr=False)
    _section_rows: dict[str, tuple[RowKey, ...]] = field(default_factory=dict, init=False, repr=False)
    _mid2: dict[tuple[str, str], int] = field(default_factory=dict, init=False, repr=False)
    _section_order: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    # Best block of each (row, count, category) while the row's claims stay as they are: any change of a
    # seat's claim drops its row's entry, so best-available reads only the rows that changed since.
    _row_best: dict[RowKey, dict[tuple[int, str], tuple[BlockKey, tuple[str, ...]] | None]] = field(
        default_factory=dict, init=False, repr=False
    )
    # Standing zones: section -> its places with no stored claim and not blocked (an ordered set).
    _zone_free: dict[str, dict[str, None]] = field(default_factory=dict, init=False, repr=False)
    # Per-user indexes (insertion-ordered), and the booked-seat count of each user.
    _user_holds: dict[str, dict[str, None]] = field(default_factory=dict, init=False, repr=False)
    # Seats in each user's stored holds, expired or not: an upper bound of what the per-user cap counts, so
    # the cap check scans the user's holds only when this bound would cross it.
    _user_stored_seats: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _user_bookings: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _user_booked: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    # Min-heap of (expires_at, hold_id); entries go stale (lazy deletion) when a hold is removed or
    # extended, and are valid only while ``_holds[hold_id].expires_at == expires_at``.
    _expiry_heap: list[tuple[datetime, str]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.seats = tuple(self.seats)
        self._by_id = {}
        rows: dict[RowKey, list[SeatSpec]] = {}
        at: set[tuple[str, int, int]] = set()
        for seat in self.seats:
            if seat.seat_id in self._by_id:
                raise ValueError(f"seat {seat.seat_id} appears twice")
            place = (seat.section, seat.row_index, seat.number)
            if place in at:
                raise ValueError(f"two seats at {place} (section, row_index, number)")
            at.add(place)
            self._by_id[seat.seat_id] = seat
            self._section_order.setdefault(seat.section, len(self._section_order))
            if seat.standing:
                self._zone_free.setdefault(seat.section, {})[seat.seat_id] = None
            else:
                rows.setdefault((seat.section, seat.row_index), []).append(seat)
        order = self._section_order
        self._rows = {
            key: tuple(sorted(row, key=lambda s: s.number))
            for key, row in sorted(rows.items(), key=lambda item: (order[item[0][0]], item[0][1]))
        }
        category_rows: dict[str, dict[RowKey, None]] = {}
        section_rows: dict[str, list[RowKey]] = {}
        indexes: dict[tuple[str, str], list[int]] = {}
        for key, row in self._rows.items():
            section_rows.setdefault(key[0], []).append(key)
            for seat in row:
                category_rows.setdefault(seat.category, {})[key] = None
                indexes.setdefault((seat.category, key[0]), []).append(key[1])
        self._category_rows = {cat: tuple(keys) for cat, keys in category_rows.items()}
        self._section_rows = {section: tuple(keys) for section, keys in section_rows.items()}
        self._mid2 = {cs: min(ris) + max(ris) for cs, ris in indexes.items()}

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
        nothing. Emits no event. Raises ``ValueError`` if the rows contradict each other: a seat claimed
        twice by holds and/or bookings (expired holds included), a blocked seat that is also claimed
        (the commands never produce either), a repeated hold or booking id, or an unknown seat."""
        seat_map = cls(rules, seats, clock, id_factory=id_factory, sales_closed=sales_closed)
        claimed: dict[str, str] = {}

        def claim(seat_ids: Sequence[str], owner: str) -> None:
            for seat_id in seat_ids:
                if seat_id not in seat_map._by_id:
                    raise ValueError(f"{owner} names unknown seat {seat_id}")
                if seat_id in claimed:
                    raise ValueError(f"seat {seat_id} claimed by both {claimed[seat_id]} and {owner}")
                claimed[seat_id] = owner

        for booking in bookings:
            if booking.booking_id in seat_map._bookings:
                raise ValueError(f"booking {booking.booking_id} appears twice")
            claim(booking.seat_ids, f"booking {booking.booking_id}")
            seat_map._add_booking(booking)
        for hold in holds:
            if hold.hold_id in seat_map._holds:
                raise ValueError(f"hold {hold.hold_id} appears twice")
            claim(hold.seat_ids, f"hold {hold.hold_id}")
            seat_map._add_hold(hold)
        for seat_id in blocked:
            if seat_id not in seat_map._by_id:
                raise ValueError(f"blocked seat {seat_id} is unknown")
            if seat_id in claimed:
                raise ValueError(f"blocked seat {seat_id} is also claimed by {claimed[seat_id]}")
            seat_map._blocked.add(seat_id)
            seat_map._claimed((seat_id,))
        return seat_map

    # -- queries ------------------------------------------------------------------------------------

    def status(self, seat_id: str) -> SeatStatus:
        """Raises ``UnknownSeats`` for a seat that is not part of the show."""
        if seat_id not in self._by_id:
            raise UnknownSeats([seat_id])
        return self._status_at(seat_id, self.clock())

    def snapshot(self) -> dict[str, SeatStatus]:
        """Status of every seat, in seat order, by ``seat_statuses`` (the rule readers of a published map
        apply); the state machine test checks it against a model and against ``status``."""
        now = self.clock()
        live = [hold for hold in self._holds.values() if now < hold.expires_at]
        claimed = seat_statuses(self._seat_booking, self._blocked, (s for hold in live for s in hold.seat_ids))
        return {seat.seat_id: claimed.get(seat.seat_id, SeatStatus.AVAILABLE) for seat in self.seats}

    def published(self) -> tuple[dict[str, float], list[str], list[str]]:
        """What a published seat map carries, cheaply (it is taken several times a second per busy show):
        the seats of live holds with their expiry in Unix seconds, then booked and blocked seats. Agrees
        with ``snapshot`` (the state machine test checks it)."""
        now = self.clock()
        held = {
            seat_id: hold.expires_at.timestamp()
            for hold in self._holds.values()
            if now < hold.expires_at
            for seat_id in hold.seat_ids
        }
        # In no particular order: readers make sets of them. A stadium's publish is O(claimed seats), not
        # O(every seat) (6.6 -> 0.3 ms with 50,000 of 100,000 seats booked).
        return held, list(self._seat_booking), list(self._blocked)

    def counts(self) -> dict[SeatStatus, int]:
        """How many seats are in each status; the values always add up to the capacity."""
        now = self.clock()
        # Claims and blocks are pairwise disjoint (see the class invariants), so the sizes add up.
        held = sum(len(hold.seat_ids) for hold in self._holds.values() if now < hold.expires_at)
        booked = len(self._seat_booking)
        blocked = len(self._blocked)
        return {
            SeatStatus.AVAILABLE: len(self._by_id) - held - booked - blocked,
            SeatStatus.HELD: held,
            SeatStatus.BOOKED: booked,
            SeatStatus.BLOCKED: blocked,
        }

    def live_holds(self) -> list[Hold]:
        """Every live hold, oldest first."""
        now = self.clock()
        return sorted((hold for hold in self._holds.values() if now < hold.expires_at), key=lambda h: h.created_at)

    def payment_in_flight(self) -> bool:
        """Some stored hold is being paid for: the payment's outcome has yet to come back to this map."""
        return any(hold.paying for hold in self._holds.values())

    def holds_of(self, user_id: str) -> list[Hold]:
        """The user's holds that are still live, oldest first."""
        return sorted(self._live_holds_of(user_id, self.clock()), key=lambda h: h.created_at)

    def booking(self, booking_id: str) -> Booking | None:
        """A confirmed booking of this show (None: unknown, cancelled or refunded)."""
        return self._bookings.get(booking_id)

    def bookings_of(self, user_id: str) -> list[Booking]:
        """The user's bookings on this show, in the order they were made (or restored)."""
        return [self._bookings[bid] for bid in self._user_bookings.get(user_id, ())]

    def next_expiry(self) -> datetime | None:
        """The earliest ``expires_at`` among stored holds (live or already expired), or None."""
        heap = self._expiry_heap
        while heap and not self._heap_entry_valid(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- commands -----------------------------------------------------------------------------------

    def hold(self, user_id: str, seat_ids: Sequence[str], *, cap_exempt: bool = False) -> Hold:
        """Hold all of ``seat_ids`` for the user, or none of them. ``cap_exempt`` lifts the per-account
        seat cap (a box office selling to many walk-in customers).

        Checks, in order: ``InvalidRequest`` (empty, repeated seat, more than ``max_seats_per_request``),
        ``SalesClosed``, ``UnknownSeats``, ``SeatsUnavailable`` (held — even by the same user — booked or
        blocked), ``SeatLimitExceeded``. Expired holds still owning a requested seat are removed first
        (``HoldReleased(reason="expired")`` precedes ``SeatsHeld``).
        """
        now = self.clock()
        requested = self._check_seat_list(seat_ids, limit=self.rules.max_seats_per_request)
        self._check_on_sale(now)
        self._check_known(requested)
        unavailable = [s for s in requested if self._status_at(s, now) is not SeatStatus.AVAILABLE]
        if unavailable:
            raise SeatsUnavailable(unavailable)
        if not cap_exempt:
            self._check_user_limit(user_id, len(requested), now)
        return self._create_hold(user_id, requested, now)

    def hold_best(
        self,
        user_id: str,
        count: int,
        category: str | None = "standard",
        section: str | None = None,
        *,
        cap_exempt: bool = False,
    ) -> Hold:
        """Hold ``count`` places chosen by the venue: the best block of adjacent available seats of
        ``category`` (one row), within ``section`` if given (any of its categories when ``category`` is
        None); or, when ``section`` is a standing zone, ``count`` of its free places, all or none.

        Seat preference, most important first: the block does not strand a single free seat next to it;
        its centre is nearest the row's centre; its row is nearest the middle of its section's rows of the
        category; earliest section; lowest row_index; lowest first seat number.

        Checks, in order: ``InvalidRequest`` (count out of range), ``SalesClosed``, ``UnknownSection``,
        ``UnknownCategory``, ``SeatLimitExceeded``, then ``NotEnoughPlaces`` (standing) or
        ``NoAdjacentSeats`` (seated).
        """
        now = self.clock()
        if not 1 <= count <= self.rules.max_seats_per_request:
            raise InvalidRequest(f"count must be between 1 and {self.rules.max_seats_per_request}, got {count}")
        self._check_on_sale(now)
        if section is not None and section not in self._section_order:
            raise UnknownSection(section)
        if section is not None and section in self._zone_free:
            if not cap_exempt:
                self._check_user_limit(user_id, count, now)
            return self._create_hold(user_id, self._free_places(section, count, now), now)
        categories = self._categories_for(category, section)
        if not cap_exempt:
            self._check_user_limit(user_id, count, now)
        block = self._best_block(count, categories, section, now)
        if block is None:
            raise NoAdjacentSeats(count, category or section or "")
        return self._create_hold(user_id, block, now)

    def _categories_for(self, category: str | None, section: str | None) -> tuple[str, ...]:
        if category is not None:
            rows = self._category_rows.get(category)
            if rows is None or (section is not None and (category, section) not in self._mid2):
                raise UnknownCategory(category)
            return (category,)
        if section is None:
            raise InvalidRequest("name a category or a section")
        return tuple(cat for cat, sec in self._mid2 if sec == section)

    def release(self, user_id: str, hold_id: str) -> Hold:
        hold = self._live_hold_of(user_id, hold_id, self.clock())
        self._check_not_paying(hold)
        self._remove_hold(hold)
        self.pending_events.append(HoldReleased(hold, "released"))
        return hold

    def extend(self, user_id: str, hold_id: str) -> Hold:
        """Push the hold's expiry to ``min(now + hold_ttl, starts_at)`` (never earlier than it was).

        Refused (``ExtensionRefused``) once ``max_extensions`` were used, or when the hold already lasts
        until sales end; ``PaymentInProgress`` while it is being paid for. Each successful call uses one
        extension.
        """
        now = self.clock()
        hold = self._live_hold_of(user_id, hold_id, now)
        self._check_not_paying(hold)
        self._check_on_sale(now)
        if hold.extensions >= self.rules.max_extensions:
            raise ExtensionRefused(
                f"hold {hold_id} was already extended {hold.extensions} times, "
                f"the most allowed is {self.rules.max_extensions}"
            )
        if hold.expires_at >= self.rules.sales_end:
            raise ExtensionRefused(
                f"hold {hold_id} already lasts until sales end and cannot be extended past it "
                "(sales end when the show starts, or at its sales cut-off)"
            )
        expires_at = max(min(now + self.rules.hold_ttl, self.rules.sales_end), hold.expires_at)
        extended = replace(hold, expires_at=expires_at, extensions=hold.extensions + 1)
        self._holds[hold_id] = extended
        heapq.heappush(self._expiry_heap, (expires_at, hold_id))
        self.pending_events.append(HoldExtended(extended))
        return extended

    def confirm(
        self, user_id: str, hold_ids: Sequence[str], booking_id: str | None = None, payment_key: str | None = None
    ) -> Booking:
        """Turn the user's live holds into one booking (seats in the order of ``hold_ids``).

        Checks, in order: ``InvalidRequest`` (no hold id, repeated hold id, or ``booking_id`` already
        used on this show), then for each hold in order ``HoldNotFound`` / ``HoldExpired``, then
        ``PaymentInProgress`` (a hold is pending under another payment, or under one while no
        ``payment_key`` is given) or ``HoldNotFound`` (``payment_key`` given but the hold is not pending
        under it: the payment was aborted), then ``SalesClosed``. A payment that was under way when
        sales ended may still complete until the show starts.
        """
        now = self.clock()
        if isinstance(hold_ids, str):
            raise InvalidRequest("hold_ids must be a list of hold ids, not a single string")
        if not hold_ids:
            raise InvalidRequest("no hold to confirm")
        if len(set(hold_ids)) != len(hold_ids):
            raise InvalidRequest("a hold is listed more than once")
        if booking_id is not None and booking_id in self._bookings:
            raise InvalidRequest(f"booking id {booking_id} is already used on this show")
        holds = [self._live_hold_of(user_id, hold_id, now) for hold_id in hold_ids]
        for hold in holds:
            if hold.payment_key != payment_key:
                if payment_key is not None and hold.payment_key is None:
                    raise HoldNotFound(hold.hold_id)
                raise PaymentInProgress(hold.hold_id)
        if payment_key is None or self.sales_closed or now >= self.rules.starts_at:
            self._check_on_sale(now)
        booking = Booking(
            booking_id=booking_id if booking_id is not None else self.id_factory(),
            user_id=user_id,
            seat_ids=tuple(seat_id for hold in holds for seat_id in hold.seat_ids),
            hold_ids=tuple(hold_ids),
            amount=sum((hold.amount for hold in holds), Decimal(0)),
            created_at=now,
            fee=sum((hold.fee for hold in holds), Decimal(0)),
            payment_key=payment_key,
        )
        for hold in holds:
            self._remove_hold(hold)
        self._add_booking(booking)
        self.pending_events.append(BookingConfirmed(booking))
        return booking

    def cancel(self, user_id: str | None, booking_id: str) -> BookingCancelled:
        """Cancel a booking before the show starts; its seats become available again.

        ``user_id`` None acts for the show (an operator: any time before the start, full refund);
        otherwise the booking must be the user's (another user's booking is reported exactly like an
        unknown one, ``BookingNotFound``), the cancellation must come at least ``cancel_cutoff`` before the
        show (``CancellationClosed``), and the refund keeps the cancellation fee and the convenience fee.
        """
        now = self.clock()
        booking = self._bookings.get(booking_id)
        if booking is None or (user_id is not None and booking.user_id != user_id):
            raise BookingNotFound(booking_id)
        if now >= self.rules.starts_at:
            raise SalesClosed(self.rules.show_id)
        if user_id is not None and now > self.rules.starts_at - self.rules.cancel_cutoff:
            raise CancellationClosed(self.rules.cancel_cutoff)
        if user_id is None:
            cancelled = BookingCancelled(booking, "operator", booking.total)
        else:
            kept = (booking.amount * self.rules.cancellation_fee_rate).quantize(Decimal("0.01"))
            cancelled = BookingCancelled(booking, "customer", booking.amount - kept)
        self._remove_booking(booking)
        self.pending_events.append(cancelled)
        return cancelled

    def cancel_show(self) -> list[BookingCancelled]:
        """Cancel the whole show: sales stop, every hold is released, every booking is cancelled with a
        full refund. ``SalesClosed`` once the show has started. Idempotent."""
        now = self.clock()
        if now >= self.rules.starts_at:
            raise SalesClosed(self.rules.show_id)
        self.close_sales()
        cancelled = [
            BookingCancelled(booking, "show_cancelled", booking.total)
            for booking in sorted(self._bookings.values(), key=lambda b: (b.created_at, b.booking_id))
        ]
        for event in cancelled:
            self._remove_booking(event.booking)
        self.pending_events.extend(cancelled)
        self.pending_events.append(ShowCancelled(self.rules.show_id))
        return cancelled

    def begin_payment(self, user_id: str, hold_ids: Sequence[str] | None = None) -> Payment:
        """Put the user's live holds (all of them, or exactly ``hold_ids``) into payment-pending under a
        new payment key, their expiry pushed to at least ``now + payment_window``.

        If exactly those holds are already pending under one key, the payment is resumed (no event, same
        key): a retry must charge under the same key. ``HoldNotFound`` (no live hold, or one not the
        user's), ``HoldExpired``, ``PaymentInProgress`` (some of the holds are pending under another
        payment, or pending with others that are not), ``SalesClosed``.
        """
        now = self.clock()
        if hold_ids is None:
            holds = self._live_holds_of(user_id, now)
            if not holds:
                raise HoldNotFound("")
        else:
            if isinstance(hold_ids, str) or not hold_ids or len(set(hold_ids)) != len(hold_ids):
                raise InvalidRequest("hold_ids must be a non-empty list of distinct hold ids")
            holds = [self._live_hold_of(user_id, hold_id, now) for hold_id in hold_ids]
        holds.sort(key=lambda h: (h.created_at, h.hold_id))
        keys = {hold.payment_key for hold in holds}
        if len(keys) == 1 and None not in keys:
            (key,) = keys
            assert key is not None
            if {h.hold_id for h in self._holds.values() if h.payment_key == key} == {h.hold_id for h in holds}:
                return Payment(key, user_id, tuple(holds), resumed=True)
        if keys != {None}:
            raise PaymentInProgress(next(h.hold_id for h in holds if h.paying))
        self._check_on_sale(now)
        key = f"pay_{self.id_factory()}"
        deadline = now + self.rules.payment_window
        pending = tuple(
            replace(h, payment_key=key, resume_expires_at=h.expires_at, expires_at=max(h.expires_at, deadline))
            for h in holds
        )
        for hold in pending:
            self._replace_hold(hold)
        payment = Payment(key, user_id, pending)
        self.pending_events.append(PaymentStarted(payment))
        return payment

    def abort_payment(self, payment_key: str, outcome: Literal["declined", "failed"]) -> list[Hold]:
        """End a payment that took no money: its holds go back to active with the expiry they had (a hold
        whose time ran out meanwhile is then expired). Holds no longer pending under the key are left
        alone, so aborting twice, or after the holds ended, is a no-op returning ``[]``."""
        holds = sorted(
            (h for h in self._holds.values() if h.payment_key == payment_key), key=lambda h: (h.created_at, h.hold_id)
        )
        if not holds:
            return []
        resumed = [
            replace(h, payment_key=None, resume_expires_at=None, expires_at=h.resume_expires_at or h.expires_at)
            for h in holds
        ]
        for hold in resumed:
            self._replace_hold(hold)
        self.pending_events.append(PaymentAborted(payment_key, tuple(resumed), outcome))
        return resumed

    def expire_due(self) -> list[Hold]:
        """Remove every hold with ``expires_at <= now``, ordered by (expires_at, hold_id)."""
        now = self.clock()
        heap = self._expiry_heap
        expired: list[Hold] = []
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._heap_entry_valid(entry):
                hold = self._holds[entry[1]]
                self._remove_hold(hold)
                expired.append(hold)
                self.pending_events.append(HoldReleased(hold, "expired"))
        return expired

    def close_sales(self) -> list[Hold]:
        """Stop sales and release every remaining hold, ordered by (expires_at, hold_id).

        Live holds are released with reason ``"sales_closed"``; holds that had already expired (but were
        not yet removed by ``expire_due``) with reason ``"expired"``, which is what happened to them.
        Idempotent: once no hold remains it returns ``[]`` and emits nothing.
        """
        now = self.clock()
        self.sales_closed = True
        released = sorted(self._holds.values(), key=lambda h: (h.expires_at, h.hold_id))
        for hold in released:
            self._remove_hold(hold)
            reason: Literal["expired", "sales_closed"] = "sales_closed" if now < hold.expires_at else "expired"
            self.pending_events.append(HoldReleased(hold, reason))
        self._expiry_heap.clear()
        return released

    def block(self, seat_ids: Sequence[str]) -> None:
        """Take seats off sale. ``InvalidRequest`` (empty or repeated seat), ``UnknownSeats``,
        ``SeatsUnavailable`` (held by a live hold, or booked). Already blocked seats are left as they
        are; ``SeatsBlocked`` lists the newly blocked ones and is emitted only if there are any. Expired
        holds still owning a requested seat are removed first (``HoldReleased(reason="expired")``)."""
        now = self.clock()
        requested = self._check_seat_list(seat_ids, limit=None)
        self._check_known(requested)
        unavailable = [s for s in requested if self._status_at(s, now) in (SeatStatus.HELD, SeatStatus.BOOKED)]
        if unavailable:
            raise SeatsUnavailable(unavailable)
        self._remove_expired_owners(requested)
        newly = tuple(s for s in requested if s not in self._blocked)
        if newly:
            self._blocked.update(newly)
            self._claimed(newly)
            self.pending_events.append(SeatsBlocked(newly))

    def unblock(self, seat_ids: Sequence[str]) -> None:
        """Put blocked seats back on sale. ``InvalidRequest`` (empty or repeated seat), ``UnknownSeats``;
        seats that were not blocked are ignored; ``SeatsUnblocked`` lists those actually unblocked."""
        requested = self._check_seat_list(seat_ids, limit=None)
        self._check_known(requested)
        freed = tuple(s for s in requested if s in self._blocked)
        if freed:
            self._blocked.difference_update(freed)
            self._released(freed)
            self.pending_events.append(SeatsUnblocked(freed))

    def drain_events(self) -> list[Event]:
        events, self.pending_events = self.pending_events, []
        return events

    # -- helpers: checks ----------------------------------------------------------------------------

    def _status_at(self, seat_id: str, now: datetime) -> SeatStatus:
        # One seat, fast (best-available asks it of every seat of a category). The claims it looks up are
        # disjoint (class invariants), so the order of the lookups decides nothing: ``seat_statuses``
        # holds the precedence, and ``snapshot``, built by it, agrees with this (state machine test).
        if seat_id in self._seat_booking:
            return SeatStatus.BOOKED
        if seat_id in self._blocked:
            return SeatStatus.BLOCKED
        hold_id = self._seat_hold.get(seat_id)
        if hold_id is not None and now < self._holds[hold_id].expires_at:
            return SeatStatus.HELD
        return SeatStatus.AVAILABLE

    @staticmethod
    def _check_seat_list(seat_ids: Sequence[str], *, limit: int | None) -> tuple[str, ...]:
        if isinstance(seat_ids, str):
            raise InvalidRequest("seat_ids must be a list of seat ids, not a single string")
        requested = tuple(seat_ids)
        if not requested:
            raise InvalidRequest("no seat requested")
        if len(set(requested)) != len(requested):
            raise InvalidRequest("a seat is listed more than once")
        if limit is not None and len(requested) > limit:
            raise InvalidRequest(f"at most {limit} seats per request, got {len(requested)}")
        return requested

    def _check_on_sale(self, now: datetime) -> None:
        rules = self.rules
        if self.sales_closed or not in_sales_window(now, rules.starts_at, rules.sales_open_at, rules.sales_close_at):
            raise SalesClosed(rules.show_id)

    @staticmethod
    def _check_not_paying(hold: Hold) -> None:
        if hold.paying:
            raise PaymentInProgress(hold.hold_id)

    def _check_known(self, seat_ids: Sequence[str]) -> None:
        unknown = [s for s in seat_ids if s not in self._by_id]
        if unknown:
            raise UnknownSeats(unknown)

    def _live_holds_of(self, user_id: str, now: datetime) -> list[Hold]:
        holds = (self._holds[hid] for hid in self._user_holds.get(user_id, ()))
        return [hold for hold in holds if now < hold.expires_at]

    def _check_user_limit(self, user_id: str, requested: int, now: datetime) -> None:
        booked = self._user_booked.get(user_id, 0)
        if booked + self._user_stored_seats.get(user_id, 0) + requested <= self.rules.max_seats_per_user:
            return
        already = booked + sum(len(hold.seat_ids) for hold in self._live_holds_of(user_id, now))
        if already + requested > self.rules.max_seats_per_user:
            raise SeatLimitExceeded(self.rules.max_seats_per_user, already, requested)

    def _live_hold_of(self, user_id: str, hold_id: str, now: datetime) -> Hold:
        hold = self._holds.get(hold_id)
        if hold is None or hold.user_id != user_id:
            raise HoldNotFound(hold_id)
        if not now < hold.expires_at:
            raise HoldExpired(hold_id)
        return hold

    # -- helpers: best available --------------------------------------------------------------------

    def _best_block(
        self, count: int, categories: tuple[str, ...], section: str | None, now: datetime
    ) -> tuple[str, ...] | None:
        """The preferred block of ``count`` adjacent available seats of one of ``categories`` (in
        ``section``, if given), or None.

        A row's best block depends only on the row's claims while no stored hold has expired, so it is
        kept per row and computed again only for rows whose claims changed since (``_row_best``): a call
        on a 100,000-seat venue reads one cached entry per row. While an expired hold is still stored (its
        seats free by time, its removal not yet done), every row is computed from the seats' statuses.
        """
        expiry = self.next_expiry()
        exact = expiry is not None and expiry <= now
        best: tuple[BlockKey, tuple[str, ...]] | None = None
        for category in categories:
            rows = self._section_rows[section] if section is not None else self._category_rows[category]
            for key in rows:
                if exact:
                    found = self._row_block(key, count, category, now)
                else:
                    cached = self._row_best.setdefault(key, {})
                    wanted = (count, category)
                    if wanted in cached:
                        found = cached[wanted]
                    else:
                        found = cached[wanted] = self._row_block(key, count, category, now)
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
        return None if best is None else best[1]

    def _row_block(
        self, key: RowKey, count: int, category: str, now: datetime
    ) -> tuple[BlockKey, tuple[str, ...]] | None:
        """The best block of the row, with its preference key (smaller is better), or None.

        Distances are computed doubled so they stay integers: 2 * row centre = 1 + seats in the row,
        2 * block centre = first + last number, 2 * middle row = min + max row_index of the section's rows
        of the category.
        """
        mid2 = self._mid2.get((category, key[0]))
        if mid2 is None:
            return None
        row = self._rows[key]
        free = {seat.number: self._status_at(seat.seat_id, now) is SeatStatus.AVAILABLE for seat in row}
        row_centre2 = 1 + len(row)
        row_distance2 = abs(2 * key[1] - mid2)
        order = self._section_order[key[0]]
        best_key: BlockKey | None = None
        best: tuple[SeatSpec, ...] = ()
        run = 0  # length of the run of adjacent, free, right-category seats ending at seat i
        for i, seat in enumerate(row):
            if not (free[seat.number] and seat.category == category):
                run = 0
                continue
            run = run + 1 if run and row[i - 1].number == seat.number - 1 else 1
            if run < count:
                continue
            first, last = seat.number - count + 1, seat.number
            strands = self._strands(free, first - 1, -1) or self._strands(free, last + 1, +1)
            block_key = (strands, abs(first + last - row_centre2), row_distance2, order, key[1], first)
            if best_key is None or block_key < best_key:
                best_key, best = block_key, row[i - count + 1 : i + 1]
        return None if best_key is None else (best_key, tuple(seat.seat_id for seat in best))

    def _free_places(self, section: str, count: int, now: datetime) -> tuple[str, ...]:
        """``count`` free places of a standing zone, or ``NotEnoughPlaces``. Places of a stored hold that
        has expired are free: they are counted, and the hold is removed only once the request is sure to
        succeed (a refusal changes nothing)."""
        free = self._zone_free[section]
        if len(free) < count:
            stale = [
                seat_id
                for hold in self._holds.values()
                if not now < hold.expires_at
                for seat_id in hold.seat_ids
                if self._by_id[seat_id].section == section
            ]
            if len(free) + len(stale) < count:
                raise NotEnoughPlaces(section, count, len(free) + len(stale))
            self._remove_expired_owners(stale)
        return tuple(islice(free, count))

    @staticmethod
    def _strands(free: dict[int, bool], neighbour: int, step: int) -> bool:
        """Whether taking the block would leave ``neighbour`` as a lone free seat: it exists and is free,
        and the seat beyond it (further from the block) is missing or not free."""
        return free.get(neighbour, False) and not free.get(neighbour + step, False)

    # -- helpers: mutations -------------------------------------------------------------------------

    def _create_hold(self, user_id: str, seat_ids: tuple[str, ...], now: datetime) -> Hold:
        """Remove the expired holds owning any of ``seat_ids``, then hold them. Checks are done."""
        self._remove_expired_owners(seat_ids)
        hold = Hold(
            hold_id=self.id_factory(),
            user_id=user_id,
            seat_ids=seat_ids,
            created_at=now,
            expires_at=min(now + self.rules.hold_ttl, self.rules.sales_end),
            amount=sum((self._by_id[s].price for s in seat_ids), Decimal(0)),
            extensions=0,
            fee=self.rules.convenience_fee * len(seat_ids),
        )
        self._add_hold(hold)
        self.pending_events.append(SeatsHeld(hold))
        return hold

    def _remove_expired_owners(self, seat_ids: Sequence[str]) -> None:
        """Remove (with an ``expired`` event) every stored hold owning one of ``seat_ids``. The callers
        checked that none of these seats is held by a live hold, so every such hold is expired."""
        owners = {self._seat_hold[s] for s in seat_ids if s in self._seat_hold}
        for hold in sorted((self._holds[hid] for hid in owners), key=lambda h: (h.expires_at, h.hold_id)):
            self._remove_hold(hold)
            self.pending_events.append(HoldReleased(hold, "expired"))

    def _claimed(self, seat_ids: Iterable[str]) -> None:
        """Seats just claimed (held, booked or blocked): their rows' best blocks are stale, and standing
        places leave their zone's free set."""
        for seat_id in seat_ids:
            seat = self._by_id[seat_id]
            if seat.standing:
                self._zone_free[seat.section].pop(seat_id, None)
            else:
                self._row_best.pop((seat.section, seat.row_index), None)

    def _released(self, seat_ids: Iterable[str]) -> None:
        """Seats whose claim just ended: ``_claimed``'s counterpart; a standing place that nothing else
        claims goes back to its zone's free set."""
        for seat_id in seat_ids:
            seat = self._by_id[seat_id]
            if not seat.standing:
                self._row_best.pop((seat.section, seat.row_index), None)
            elif seat_id not in self._seat_hold and seat_id not in self._seat_booking and seat_id not in self._blocked:
                self._zone_free[seat.section][seat_id] = None

    def _add_hold(self, hold: Hold) -> None:
        self._holds[hold.hold_id] = hold
        for seat_id in hold.seat_ids:
            self._seat_hold[seat_id] = hold.hold_id
        self._claimed(hold.seat_ids)
        self._user_holds.setdefault(hold.user_id, {})[hold.hold_id] = None
        self._user_stored_seats[hold.user_id] = self._user_stored_seats.get(hold.user_id, 0) + len(hold.seat_ids)
        heapq.heappush(self._expiry_heap, (hold.expires_at, hold.hold_id))

    def _remove_hold(self, hold: Hold) -> None:
        del self._holds[hold.hold_id]
        for seat_id in hold.seat_ids:
            if self._seat_hold.get(seat_id) == hold.hold_id:
                del self._seat_hold[seat_id]
        self._released(hold.seat_ids)
        user_holds = self._user_holds[hold.user_id]
        del user_holds[hold.hold_id]
        if not user_holds:
            del self._user_holds[hold.user_id]
            del self._user_stored_seats[hold.user_id]
        else:
            self._user_stored_seats[hold.user_id] -= len(hold.seat_ids)
        # Stale heap entries are skipped lazily; compact when they dominate so the heap stays small.
        if len(self._expiry_heap) > 64 and len(self._expiry_heap) > 4 * len(self._holds):
            self._expiry_heap = [e for e in self._expiry_heap if self._heap_entry_valid(e)]
            heapq.heapify(self._expiry_heap)

    def _replace_hold(self, hold: Hold) -> None:
        """Store a changed version of a stored hold (same id, same seats)."""
        self._holds[hold.hold_id] = hold
        heapq.heappush(self._expiry_heap, (hold.expires_at, hold.hold_id))

    def _remove_booking(self, booking: Booking) -> None:
        del self._bookings[booking.booking_id]
        for seat_id in booking.seat_ids:
            del self._seat_booking[seat_id]
        self._released(booking.seat_ids)
        self._user_bookings[booking.user_id].remove(booking.booking_id)
        self._user_booked[booking.user_id] -= len(booking.seat_ids)

    def _add_booking(self, booking: Booking) -> None:
        self._bookings[booking.booking_id] = booking
        for seat_id in booking.seat_ids:
            self._seat_booking[seat_id] = booking.booking_id
        self._claimed(booking.seat_ids)
        self._user_bookings.setdefault(booking.user_id, []).append(booking.booking_id)
        self._user_booked[booking.user_id] = self._user_booked.get(booking.user_id, 0) + len(booking.seat_ids)

    def _heap_entry_valid(self, entry: tuple[datetime, str]) -> bool:
        hold = self._holds.get(entry[1])
        return hold is not None and hold.expires_at == entry[0]


__all__ = [
    "Booking",
    "BookingCancelled",
    "BookingConfirmed",
    "CancelReason",
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
    "NotEnoughPlaces",
    "Payment",
    "PaymentAborted",
    "PaymentStarted",
    "SalesClosed",
    "SeatLimitExceeded",
    "SeatMap",
    "SeatSpec",
    "SeatStatus",
    "SeatsBlocked",
    "SeatsHeld",
    "SeatsUnavailable",
    "SeatsUnblocked",
    "ShowCancelled",
    "ShowRules",
    "UnknownSeats",
    "UnknownSection",
]
