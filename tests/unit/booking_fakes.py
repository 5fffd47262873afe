"""In-memory stand-ins for everything ``booking.service.BookingService`` talks to (``booking.ports``):
a show's actor answering from a script, the seat-map reader, the stored records, the payment gateway and
the refund settler. No Ray, no PostgreSQL, no server: each fake records what it was asked, so a test can
say what the service did as well as what it answered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from actors.commands import Command, Reply
from actors.errors import BookingError, PaymentDeclined, UnknownShow
from actors.seat_map_core import Booking, Hold, Payment
from booking.service import BookingService
from payments.gateway import ChargeRecord, ChargeResult
from persistence.catalog import BookingInfo, ScreenInfo, ShowInfo
from persistence.idempotency import Claimed, ClaimResult, InProgress, Mismatch, Replay
from waiting_room.errors import NotAdmitted

NOW = datetime.now(UTC)
C = TypeVar("C")


def a_show(show_id: str = "show-1", *, starts_in: timedelta = timedelta(days=1), status: str = "on_sale") -> ShowInfo:
    return ShowInfo(
        show_id, "movie-1", "theater-1", "screen-1", NOW + starts_in, {"standard": Decimal(10)}, 600, status
    )


def a_hold(hold_id: str = "hold-1", seats: tuple[str, ...] = ("A1", "A2"), user_id: str = "user-1") -> Hold:
    return Hold(hold_id, user_id, seats, NOW, NOW + timedelta(minutes=10), Decimal(20), fee=Decimal(1))


def a_payment(*holds: Hold, key: str = "pay-1") -> Payment:
    return Payment(key, holds[0].user_id, holds)


def a_booking(booking_id: str = "booking-1", hold: Hold | None = None) -> Booking:
    hold = hold or a_hold()
    return Booking(booking_id, hold.user_id, hold.seat_ids, (hold.hold_id,), hold.amount, NOW, hold.fee)


def booking_info(booking_id: str = "booking-1", *, user_id: str = "user-1", status: str = "confirmed") -> BookingInfo:
    return BookingInfo(booking_id, "show-1", user_id, ("A1", "A2"), Decimal(20), status, "charge-1", NOW, Decimal(1))


class FakeActors:
    """Each command type answers with the replies scripted for it, in order; an unscripted command fails
    the test (the service sent something it should not have)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Command]] = []
        self.replies: dict[type, list[Reply]] = {}

    def answer(self, command_type: type, *replies: Reply) -> None:
        self.replies.setdefault(command_type, []).extend(replies)

    async def submit(self, show_id: str, command: Command) -> Reply:
        self.sent.append((show_id, command))
        queue = self.replies.get(type(command))
        if not queue:
            raise AssertionError(f"no reply scripted for {command!r}")
        return queue.pop(0)

    def commands(self, kind: type[C]) -> list[C]:
        return [c for _, c in self.sent if isinstance(c, kind)]


class FakeSeatMaps:
    def __init__(self, *shows: ShowInfo) -> None:
        self.shows = {s.id: s for s in shows}
        self.forgotten: list[str] = []

    async def layout(self, show_id: str) -> tuple[ShowInfo, ScreenInfo]:
        show = self.shows.get(show_id)
        if show is None:
            raise UnknownShow(show_id)
        return show, ScreenInfo(show.screen_id, show.theater_id, "Screen 1", ())

    def forget(self, show_id: str) -> None:
        self.forgotten.append(show_id)


class FakeGateway:
    """Answers every charge with ``outcome`` (or raises it)."""

    def __init__(self, outcome: ChargeResult | Exception | None = None) -> None:
        self.outcome = outcome or ChargeResult(True, "charge-1", "approved", Decimal(21))
        self.charges: list[tuple[str, Decimal, str]] = []

    async def charge(self, idempotency_key: str, amount: Decimal, card_number: str) -> ChargeResult:
        self.charges.append((idempotency_key, amount, card_number))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        return None

    async def refund(self, charge_id: str, amount: Decimal, idempotency_key: str) -> None:
        raise AssertionError("the service leaves refunds to the reconciler")

    async def captured_charges(self, since: datetime | None = None) -> list[ChargeRecord]:
        return []

    async def aclose(self) -> None:
        return None


@dataclass
class StoredKey:
    fingerprint: str
    status: int | None = None
    response: dict[str, Any] | None = None


@dataclass
class FakeRecords:
    keys: dict[tuple[str, str], StoredKey] = field(default_factory=dict)
    on_sale: list[ShowInfo] = field(default_factory=list)
    hold_status: str | None = None
    bookings: dict[str, BookingInfo] = field(default_factory=dict)
    shows: dict[str, ShowInfo] = field(default_factory=dict)
    paid: dict[str, str] = field(default_factory=dict)  # payment key -> booking id
    owed_refunds: list[tuple[str, str, Decimal, str]] = field(default_factory=list)
    refund_pending: dict[str, str] = field(default_factory=dict)  # payment id -> booking id
    fail_writes: bool = False

    async def claim_key(self, user_id: str, key: str, fingerprint: str, ttl: timedelta) -> ClaimResult:
        stored = self.keys.get((user_id, key))
        if stored is None:
            self.keys[(user_id, key)] = StoredKey(fingerprint)
            return Claimed()
        if stored.fingerprint != fingerprint:
            return Mismatch()
        if stored.status is not None and stored.response is not None:
            return Replay(stored.status, stored.response)
        return InProgress()

    async def finish_key(self, user_id: str, key: str, status: int, response: dict[str, Any]) -> None:
        if self.fail_writes:
            raise ConnectionError("database down")
        self.keys[(user_id, key)].status = status
        self.keys[(user_id, key)].response = response

    async def forget_key(self, user_id: str, key: str) -> None:
        if self.fail_writes:
            raise ConnectionError("database down")
        del self.keys[(user_id, key)]

    async def earliest_on_sale(self, movie_id: str, theater_id: str, after: datetime) -> ShowInfo | None:
        shows = [s for s in self.on_sale if (s.movie_id, s.theater_id) == (movie_id, theater_id)]
        return min(shows, key=lambda s: s.starts_at) if shows else None

    async def latest_hold_status(self, show_id: str, user_id: str) -> str | None:
        return self.hold_status

    async def booking_paid_by(self, payment_key: str) -> BookingInfo | None:
        booking_id = self.paid.get(payment_key)
        return self.bookings.get(booking_id) if booking_id else None

    async def owe_refund(self, payment_key: str, charge_id: str, amount: Decimal, detail: str) -> None:
        self.owed_refunds.append((payment_key, charge_id, amount, detail))

    async def get_booking(self, booking_id: str) -> BookingInfo | None:
        return self.bookings.get(booking_id)

    async def get_show(self, show_id: str) -> ShowInfo | None:
        return self.shows.get(show_id)

    async def refunds_owed(self, booking_ids: Sequence[str]) -> list[str]:
        return [p for p, b in self.refund_pending.items() if b in booking_ids]


@dataclass
class RefundReport:
    errors: list[str] = field(default_factory=list)


class FakeRefunds:
    """Settles the payments named in ``refundable`` (they leave ``records.refund_pending``); the others
    stay owed, as when the gateway does not answer."""

    def __init__(self, records: FakeRecords, refundable: Sequence[str] = (), broken: bool = False) -> None:
        self.records = records
        self.refundable = set(refundable)
        self.broken = broken
        self.asked: list[list[str]] = []

    async def settle_refunds(self, payment_ids: Sequence[str] | None = None) -> RefundReport:
        self.asked.append(list(payment_ids or ()))
        if self.broken:
            raise ConnectionError("database down")
        left = [p for p in payment_ids or () if p not in self.refundable]
        for payment_id in set(payment_ids or ()) & self.refundable:
            self.records.refund_pending.pop(payment_id, None)
        return RefundReport([f"{p}: gateway did not answer" for p in left])


def fake_status(error: BookingError) -> int:
    """Stands in for ``api.problems.status_of`` (the service only stores what it is told), with numbers
    the real mapping does not use, so a test sees which one was stored."""
    return 499 if isinstance(error, PaymentDeclined) else 498


@dataclass
class FakeAdmission:
    """A waiting room that has admitted exactly the accounts in ``admitted`` (for every show)."""

    admitted: set[str] = field(default_factory=set)
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def check_admitted(self, show_id: str, user_id: str) -> None:
        self.asked.append((show_id, user_id))
        if user_id not in self.admitted:
            raise NotAdmitted()


@dataclass
class World:
    actors: FakeActors
    seatmaps: FakeSeatMaps
    records: FakeRecords
    gateway: FakeGateway
    refunds: FakeRefunds
    service: BookingService
    admission: FakeAdmission | None = None


def world(
    *shows: ShowInfo,
    gateway: FakeGateway | None = None,
    refundable: Sequence[str] = (),
    admission: FakeAdmission | None = None,
) -> World:
    actors, seatmaps, records = FakeActors(), FakeSeatMaps(*(shows or (a_show(),))), FakeRecords()
    gateway = gateway or FakeGateway()
    refunds = FakeRefunds(records, refundable)
    service = BookingService(records, actors, seatmaps, gateway, refunds, fake_status, admission=admission)
    return World(actors, seatmaps, records, gateway, refunds, service, admission)
