"""Stateful property test of the seat-map core: random commands, an independent model, invariants.

The model is rebuilt only from the events the seat map emits (as the persistence layer would), plus the
clock and the ``sales_closed`` flag. Before each command the model predicts the outcome (which refusal,
or success); after it, events must agree with the model's rules and every query must agree with the
model's view of the seats.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from actors.errors import (
    BookingError,
    ExtensionRefused,
    HoldExpired,
    HoldNotFound,
    InvalidRequest,
    NoAdjacentSeats,
    PaymentInProgress,
    SalesClosed,
    SeatLimitExceeded,
    SeatsUnavailable,
    UnknownCategory,
    UnknownSeats,
)
from actors.seat_map_core import (
    Booking,
    BookingConfirmed,
    Event,
    Hold,
    HoldExtended,
    HoldReleased,
    Payment,
    PaymentAborted,
    PaymentStarted,
    SeatMap,
    SeatsBlocked,
    SeatsHeld,
    SeatSpec,
    SeatStatus,
    SeatsUnblocked,
    ShowRules,
)
from tests.unit.fakes import FakeClock, Ids

T0 = datetime(2030, 1, 1, 18, 0, tzinfo=UTC)
USERS = ("u1", "u2", "u3")
CATEGORIES = ("std", "vip")


def screen() -> list[SeatSpec]:
    """Rows of 6 seats. A: std; B: 1-4 std, 5-6 vip; C: 1-2 vip, 3-6 std. Std spans three rows, so the
    middle-row preference matters; vip spans two."""

    def seat(row: str, row_index: int, number: int, category: str) -> SeatSpec:
        price = Decimal("100.00") if category == "std" else Decimal("250.50")
        return SeatSpec(f"{row}{number}", row, row_index, number, category, price)

    return [
        *(seat("A", 0, n, "std") for n in range(1, 7)),
        *(seat("B", 1, n, "std" if n <= 4 else "vip") for n in range(1, 7)),
        *(seat("C", 2, n, "vip" if n <= 2 else "std") for n in range(1, 7)),
    ]


SEATS = screen()
SEAT_IDS = [s.seat_id for s in SEATS]
BY_ID = {s.seat_id: s for s in SEATS}
RULES = ShowRules(
    show_id="show-sm",
    starts_at=T0 + timedelta(minutes=20),  # close enough that runs reach it and extensions hit it
    hold_ttl=timedelta(seconds=600),
    max_seats_per_user=4,
    max_extensions=2,
    max_seats_per_request=3,
)

# Mostly well-formed requests; sometimes empty, repeated, too long or naming an unknown seat.
seat_lists = st.one_of(
    st.lists(st.sampled_from(SEAT_IDS), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(SEAT_IDS), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from([*SEAT_IDS, "Z9"]), min_size=0, max_size=4),
)


class SeatMapMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(T0)
        self.sm = SeatMap(RULES, SEATS, self.clock, id_factory=Ids("id{:04d}"))
        # The model, fed by events only.
        self.holds: dict[str, Hold] = {}  # stored holds (live or expired)
        self.bookings: dict[str, Booking] = {}
        self.booked: dict[str, str] = {}  # seat -> booking id, over every booking ever confirmed
        self.blocked: set[str] = set()
        self.closed = False
        self.known_hold_ids: list[str] = []
        self.known_payments: list[str] = []  # payment keys ever started

    @initialize()
    def start(self) -> None:
        assert self.sm.counts()[SeatStatus.AVAILABLE] == len(SEATS)

    # -- the model's view ----------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now

    def live(self) -> list[Hold]:
        return [h for h in self.holds.values() if self.now < h.expires_at]

    def model_status(self, seat_id: str) -> SeatStatus:
        if seat_id in self.booked:
            return SeatStatus.BOOKED
        if seat_id in self.blocked:
            return SeatStatus.BLOCKED
        if any(seat_id in h.seat_ids for h in self.live()):
            return SeatStatus.HELD
        return SeatStatus.AVAILABLE

    def user_seats(self, user: str) -> int:
        held = sum(len(h.seat_ids) for h in self.live() if h.user_id == user)
        return held + sum(len(b.seat_ids) for b in self.bookings.values() if b.user_id == user)

    def on_sale(self) -> bool:
        return not self.closed and self.now < RULES.starts_at

    def live_hold_error(self, user: str, hold_id: str) -> BookingError | None:
        hold = self.holds.get(hold_id)
        if hold is None or hold.user_id != user:
            return HoldNotFound(hold_id)
        if not self.now < hold.expires_at:
            return HoldExpired(hold_id)
        return None

    def seat_list_error(self, seat_ids: Sequence[str], limit: int | None) -> BookingError | None:
        if not seat_ids or len(set(seat_ids)) != len(seat_ids) or (limit is not None and len(seat_ids) > limit):
            return InvalidRequest("")
        unknown = [s for s in seat_ids if s not in BY_ID]
        return UnknownSeats(unknown) if unknown else None

    def best_block(self, count: int, category: str) -> tuple[str, ...] | None:
        """Brute force over every window of every row, straight from the written rule."""
        at = {(s.row_index, s.number): s for s in SEATS}
        rows = sorted({s.row_index for s in SEATS if s.category == category})
        middle = (rows[0] + rows[-1]) / 2

        def free(row_index: int, number: int) -> bool:
            seat = at.get((row_index, number))
            return seat is not None and self.model_status(seat.seat_id) is SeatStatus.AVAILABLE

        best: tuple[Any, ...] | None = None
        for row_index in rows:
            size = sum(1 for s in SEATS if s.row_index == row_index)
            numbers = [s.number for s in SEATS if s.row_index == row_index]
            for first in range(min(numbers), max(numbers) + 1):
                window = [at.get((row_index, first + k)) for k in range(count)]
                if not all(w is not None and w.category == category and free(row_index, w.number) for w in window):
                    continue
                last = first + count - 1
                strands = (free(row_index, first - 1) and not free(row_index, first - 2)) or (
                    free(row_index, last + 1) and not free(row_index, last + 2)
                )
                key = (
                    strands,
                    abs((first + last) / 2 - (1 + size) / 2),
                    abs(row_index - middle),
                    row_index,
                    first,
                )
                seat_ids = tuple(at[(row_index, first + k)].seat_id for k in range(count))
                if best is None or key < best[0]:
                    best = (key, seat_ids)
        return None if best is None else best[1]

    # -- running a command -------------------------------------------------------------------------

    def run(self, command: Callable[[], Any], expected: BookingError | None) -> Any:
        """Run ``command``; it must raise ``expected`` (same type, and same args unless it is one of the
        free-text errors) leaving everything unchanged, or succeed when ``expected`` is None."""
        before = (self.sm.snapshot(), self.sm.counts(), self.sm.live_holds(), self.sm.next_expiry())
        refusal: BookingError | None = None
        try:
            result = command()
        except BookingError as err:
            refusal = err
        if refusal is not None:
            assert expected is not None, f"unexpected refusal {refusal!r}"
            assert type(refusal) is type(expected), (refusal, expected)
            if not isinstance(refusal, InvalidRequest | ExtensionRefused):
                assert refusal.args == expected.args, (refusal, expected)
            after = (self.sm.snapshot(), self.sm.counts(), self.sm.live_holds(), self.sm.next_expiry())
            assert after == before
            assert self.sm.pending_events == []
            clone = pickle.loads(pickle.dumps(refusal))
            assert (type(clone), clone.args, clone.detail) == (type(refusal), refusal.args, refusal.detail)
            return None
        assert expected is None, f"expected {expected!r}, got {result!r}"
        return result

    def apply(self, events: list[Event]) -> None:
        """Check every event against the model's rules, then apply it to the model."""
        now = self.now
        for event in events:
            match event:
                case SeatsHeld(hold):
                    assert hold.hold_id not in self.holds
                    assert hold.created_at == now
                    assert hold.is_live(now)
                    assert hold.expires_at == min(now + RULES.hold_ttl, RULES.starts_at)
                    assert hold.extensions == 0
                    assert hold.amount == sum((BY_ID[s].price for s in hold.seat_ids), Decimal(0))
                    assert hold.payment_key is None
                    for seat_id in hold.seat_ids:
                        assert self.model_status(seat_id) is SeatStatus.AVAILABLE, seat_id
                        owner = [h for h in self.holds.values() if seat_id in h.seat_ids]
                        assert not owner, f"{seat_id} still stored in {owner}"
                    self.holds[hold.hold_id] = hold
                    self.known_hold_ids.append(hold.hold_id)
                case HoldReleased(hold, reason):
                    assert self.holds.get(hold.hold_id) == hold
                    if reason == "expired":
                        assert hold.expires_at <= now
                    else:
                        assert hold.is_live(now)
                        assert reason != "sales_closed" or self.sm.sales_closed
                    del self.holds[hold.hold_id]
                case HoldExtended(hold):
                    old = self.holds[hold.hold_id]
                    assert old.is_live(now)
                    assert hold.extensions == old.extensions + 1 <= RULES.max_extensions
                    assert old.expires_at <= hold.expires_at <= RULES.starts_at
                    assert (hold.seat_ids, hold.user_id, hold.amount) == (
                        old.seat_ids,
                        old.user_id,
                        old.amount,
                    )
                    self.holds[hold.hold_id] = hold
                case BookingConfirmed(booking):
                    holds = [self.holds[hold_id] for hold_id in booking.hold_ids]
                    assert all(h.is_live(now) and h.user_id == booking.user_id for h in holds)
                    assert all(h.payment_key == booking.payment_key for h in holds)
                    assert booking.seat_ids == tuple(s for h in holds for s in h.seat_ids)
                    assert booking.amount == sum((h.amount for h in holds), Decimal(0))
                    assert booking.booking_id not in self.bookings
                    for hold_id in booking.hold_ids:
                        del self.holds[hold_id]
                    for seat_id in booking.seat_ids:
                        assert seat_id not in self.booked, f"{seat_id} booked twice"
                        self.booked[seat_id] = booking.booking_id
                    self.bookings[booking.booking_id] = booking
                case PaymentStarted(payment):
                    assert payment.payment_key not in self.known_payments
                    for hold in payment.holds:
                        old = self.holds[hold.hold_id]
                        assert old.is_live(now)
                        assert old.payment_key is None
                        assert hold.payment_key == payment.payment_key
                        assert hold.resume_expires_at == old.expires_at
                        assert hold.expires_at == max(old.expires_at, now + RULES.payment_window)
                        assert (hold.seat_ids, hold.user_id, hold.amount) == (old.seat_ids, old.user_id, old.amount)
                        self.holds[hold.hold_id] = hold
                    self.known_payments.append(payment.payment_key)
                case PaymentAborted(payment_key, holds, _):
                    assert holds
                    for hold in holds:
                        old = self.holds[hold.hold_id]
                        assert old.payment_key == payment_key
                        assert hold.payment_key is None
                        assert hold.resume_expires_at is None
                        assert hold.expires_at == old.resume_expires_at
                        self.holds[hold.hold_id] = hold
                    assert not any(h.payment_key == payment_key for h in self.holds.values())
                case SeatsBlocked(seat_ids):
                    assert seat_ids
                    for seat_id in seat_ids:
                        assert self.model_status(seat_id) is SeatStatus.AVAILABLE
                    self.blocked.update(seat_ids)
                case SeatsUnblocked(seat_ids):
                    assert seat_ids
                    assert set(seat_ids) <= self.blocked
                    self.blocked.difference_update(seat_ids)

    def expired_owners(self, seat_ids: Sequence[str]) -> list[Hold]:
        owners = [h for h in self.holds.values() if set(h.seat_ids) & set(seat_ids)]
        return sorted(owners, key=lambda h: (h.expires_at, h.hold_id))

    # -- rules -------------------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), seat_ids=seat_lists)
    def hold(self, user: str, seat_ids: list[str]) -> None:
        expected: BookingError | None
        if not seat_ids or len(set(seat_ids)) != len(seat_ids) or len(seat_ids) > RULES.max_seats_per_request:
            expected = InvalidRequest("")
        elif not self.on_sale():
            expected = SalesClosed(RULES.show_id)
        else:
            expected = self.seat_list_error(seat_ids, None)
            unavailable = [s for s in seat_ids if self.model_status(s) is not SeatStatus.AVAILABLE]
            already = self.user_seats(user)
            if expected is None and unavailable:
                expected = SeatsUnavailable(unavailable)
            elif expected is None and already + len(seat_ids) > RULES.max_seats_per_user:
                expected = SeatLimitExceeded(RULES.max_seats_per_user, already, len(seat_ids))
        cleaned = self.expired_owners(seat_ids) if expected is None else []
        hold = self.run(lambda: self.sm.hold(user, seat_ids), expected)
        if hold is not None:
            assert hold.seat_ids == tuple(seat_ids)
            assert self.sm.drain_events() == [*(HoldReleased(h, "expired") for h in cleaned), SeatsHeld(hold)]
            self.apply([*(HoldReleased(h, "expired") for h in cleaned), SeatsHeld(hold)])

    @rule(
        user=st.sampled_from(USERS),
        count=st.one_of(st.integers(1, 3), st.integers(1, 3), st.integers(0, 4)),
        category=st.one_of(st.sampled_from(CATEGORIES), st.sampled_from(CATEGORIES), st.just("nope")),
    )
    def hold_best(self, user: str, count: int, category: str) -> None:
        expected: BookingError | None = None
        block: tuple[str, ...] | None = None
        if not 1 <= count <= RULES.max_seats_per_request:
            expected = InvalidRequest("")
        elif not self.on_sale():
            expected = SalesClosed(RULES.show_id)
        elif category not in CATEGORIES:
            expected = UnknownCategory(category)
        elif self.user_seats(user) + count > RULES.max_seats_per_user:
            expected = SeatLimitExceeded(RULES.max_seats_per_user, self.user_seats(user), count)
        else:
            block = self.best_block(count, category)
            if block is None:
                expected = NoAdjacentSeats(count, category)
        cleaned = self.expired_owners(block) if block is not None else []
        hold = self.run(lambda: self.sm.hold_best(user, count, category), expected)
        if hold is not None:
            assert hold.seat_ids == block
            events: list[Event] = [*(HoldReleased(h, "expired") for h in cleaned), SeatsHeld(hold)]
            assert self.sm.drain_events() == events
            self.apply(events)

    def pick_hold_id(self, user: str, data: st.DataObject) -> str:
        """Mostly one of the user's live holds, else a stored (maybe expired) one, anyone's, or none."""
        own = sorted(h.hold_id for h in self.holds.values() if h.user_id == user)
        own_live = sorted(h.hold_id for h in self.live() if h.user_id == user)
        choices: list[st.SearchStrategy[str]] = [st.sampled_from(ids) for ids in (own_live, own_live, own) if ids]
        choices.append(st.sampled_from([*self.known_hold_ids[-6:], "nope"]))
        strategy: st.SearchStrategy[str] = st.one_of(*choices)
        return data.draw(strategy)

    def pick_user(self, data: st.DataObject) -> str:
        """Mostly a user who has a stored hold, so that hold commands usually find something."""
        holders = sorted({h.user_id for h in self.holds.values()})
        users: st.SearchStrategy[str] = st.sampled_from(USERS)
        if holders:
            users = st.one_of(st.sampled_from(holders), st.sampled_from(holders), users)
        return data.draw(users)

    def pick_hold_to_change(self, data: st.DataObject) -> tuple[str, str, BookingError | None]:
        """A user, a hold for them to release or extend, and the refusal the model expects so far: the hold
        is not theirs or not live, or it is being paid for."""
        user = self.pick_user(data)
        hold_id = self.pick_hold_id(user, data)
        expected = self.live_hold_error(user, hold_id)
        if expected is None and self.holds[hold_id].payment_key is not None:
            expected = PaymentInProgress(hold_id)
        return user, hold_id, expected

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        user, hold_id, expected = self.pick_hold_to_change(data)
        hold = self.run(lambda: self.sm.release(user, hold_id), expected)
        if hold is not None:
            assert hold == self.holds[hold_id]
            events = self.sm.drain_events()
            assert events == [HoldReleased(hold, "released")]
            self.apply(events)

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def extend(self, data: st.DataObject) -> None:
        user, hold_id, expected = self.pick_hold_to_change(data)
        if expected is None and not self.on_sale():
            expected = SalesClosed(RULES.show_id)
        if expected is None:
            old = self.holds[hold_id]
            if old.extensions >= RULES.max_extensions or old.expires_at >= RULES.starts_at:
                expected = ExtensionRefused("")
        hold = self.run(lambda: self.sm.extend(user, hold_id), expected)
        if hold is not None:
            old = self.holds[hold_id]
            assert hold.expires_at == max(old.expires_at, min(self.now + RULES.hold_ttl, RULES.starts_at))
            events = self.sm.drain_events()
            assert events == [HoldExtended(hold)]
            self.apply(events)

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        user = self.pick_user(data)
        own = sorted(h.hold_id for h in self.live() if h.user_id == user)
        pool = [*own, *self.known_hold_ids[-4:], "nope"]
        hold_ids = data.draw(
            st.one_of(
                st.lists(st.sampled_from(own), min_size=1, unique=True) if own else st.nothing(),
                st.lists(st.sampled_from(own), min_size=1, unique=True) if own else st.nothing(),
                st.lists(st.sampled_from(pool), max_size=3),
            )
        )
        self.check_confirm(user, hold_ids, None)

    def check_confirm(self, user: str, hold_ids: list[str], payment_key: str | None) -> None:
        expected: BookingError | None = None
        if not hold_ids or len(set(hold_ids)) != len(hold_ids):
            expected = InvalidRequest("")
        for hold_id in hold_ids:
            if expected is None:
                expected = self.live_hold_error(user, hold_id)
        for hold_id in hold_ids:
            if expected is None and self.holds[hold_id].payment_key != payment_key:
                aborted = payment_key is not None and self.holds[hold_id].payment_key is None
                expected = HoldNotFound(hold_id) if aborted else PaymentInProgress(hold_id)
        checks_sales = payment_key is None or self.closed or self.now >= RULES.starts_at
        if expected is None and checks_sales and not self.on_sale():
            expected = SalesClosed(RULES.show_id)
        booking = self.run(lambda: self.sm.confirm(user, hold_ids, payment_key=payment_key), expected)
        if booking is not None:
            events = self.sm.drain_events()
            assert events == [BookingConfirmed(booking)]
            assert booking.hold_ids == tuple(hold_ids)
            assert booking.created_at == self.now
            assert booking.payment_key == payment_key
            self.apply(events)

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data(), everything=st.booleans())
    def begin_payment(self, data: st.DataObject, everything: bool) -> None:
        user = self.pick_user(data)
        named: list[str] | None = None
        if everything:
            chosen = sorted((h for h in self.live() if h.user_id == user), key=lambda h: (h.created_at, h.hold_id))
            expected: BookingError | None = None if chosen else HoldNotFound("")
        else:
            own = sorted(h.hold_id for h in self.live() if h.user_id == user)
            named = data.draw(
                st.one_of(
                    st.lists(st.sampled_from(own), min_size=1, unique=True) if own else st.nothing(),
                    st.lists(st.sampled_from([*own, *self.known_hold_ids[-4:], "nope"]), max_size=3),
                )
            )
            expected = None if named and len(set(named)) == len(named) else InvalidRequest("")
            for hold_id in named:
                if expected is None:
                    expected = self.live_hold_error(user, hold_id)
            chosen = [] if expected else sorted((self.holds[h] for h in named), key=lambda h: (h.created_at, h.hold_id))
        resumed: str | None = None
        if expected is None:
            keys = {h.payment_key for h in chosen}
            if len(keys) == 1 and None not in keys:
                (key,) = keys
                same = {h.hold_id for h in self.holds.values() if h.payment_key == key}
                resumed = key if same == {h.hold_id for h in chosen} else None
            if resumed is None and keys != {None}:
                expected = PaymentInProgress(next(h.hold_id for h in chosen if h.payment_key is not None))
            elif resumed is None and not self.on_sale():
                expected = SalesClosed(RULES.show_id)
        payment = self.run(lambda: self.sm.begin_payment(user, named), expected)
        if payment is None:
            return
        assert isinstance(payment, Payment)
        assert payment.hold_ids == tuple(h.hold_id for h in chosen)
        events = self.sm.drain_events()
        if resumed is not None:
            assert payment.resumed
            assert payment.payment_key == resumed
            assert payment.holds == tuple(chosen)
            assert events == []
        else:
            assert not payment.resumed
            assert events == [PaymentStarted(payment)]
            self.apply(events)

    def pick_payment(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([*self.known_payments[-4:], "pay_nope"]))

    @precondition(lambda self: bool(self.known_payments))
    @rule(data=st.data(), outcome=st.sampled_from(["declined", "failed"]))
    def abort_payment(self, data: st.DataObject, outcome: str) -> None:
        key = self.pick_payment(data)
        pending = sorted(
            (h for h in self.holds.values() if h.payment_key == key), key=lambda h: (h.created_at, h.hold_id)
        )
        resumed = self.sm.abort_payment(key, "declined" if outcome == "declined" else "failed")
        assert [h.hold_id for h in resumed] == [h.hold_id for h in pending]
        events = self.sm.drain_events()
        assert events == ([PaymentAborted(key, tuple(resumed), outcome)] if pending else [])  # type: ignore[arg-type]
        self.apply(events)

    @precondition(lambda self: bool(self.known_payments))
    @rule(data=st.data())
    def confirm_payment(self, data: st.DataObject) -> None:
        """Book under a payment key: usually its own holds, sometimes after they changed hands or time."""
        key = self.pick_payment(data)
        pending = sorted(
            (h for h in self.holds.values() if h.payment_key == key), key=lambda h: (h.created_at, h.hold_id)
        )
        user = pending[0].user_id if pending else self.pick_user(data)
        own = sorted(h.hold_id for h in self.live() if h.user_id == user)
        hold_ids = data.draw(
            st.one_of(
                st.just([h.hold_id for h in pending]) if pending else st.nothing(),
                st.just([h.hold_id for h in pending]) if pending else st.nothing(),
                st.lists(st.sampled_from(own), min_size=1, unique=True) if own else st.nothing(),
                st.lists(st.sampled_from([*own, "nope"]), max_size=2),
            )
        )
        self.check_confirm(user, hold_ids, key)

    @rule(seat_ids=seat_lists)
    def block(self, seat_ids: list[str]) -> None:
        expected = self.seat_list_error(seat_ids, None)
        if expected is None:
            taken = [s for s in seat_ids if self.model_status(s) in (SeatStatus.HELD, SeatStatus.BOOKED)]
            expected = SeatsUnavailable(taken) if taken else None
        cleaned = self.expired_owners(seat_ids) if expected is None else []
        self.run(lambda: self.sm.block(seat_ids), expected)
        if expected is None:
            events = self.sm.drain_events()
            newly = tuple(s for s in seat_ids if s not in self.blocked)
            assert events == [
                *(HoldReleased(h, "expired") for h in cleaned),
                *([SeatsBlocked(newly)] if newly else []),
            ]
            self.apply(events)

    @rule(data=st.data())
    def unblock(self, data: st.DataObject) -> None:
        blocked = sorted(self.blocked)
        seat_ids = data.draw(
            st.one_of(st.lists(st.sampled_from(blocked), min_size=1, unique=True), seat_lists)
            if blocked
            else seat_lists
        )
        expected = self.seat_list_error(seat_ids, None)
        self.run(lambda: self.sm.unblock(seat_ids), expected)
        if expected is None:
            events = self.sm.drain_events()
            freed = tuple(s for s in seat_ids if s in self.blocked)
            assert events == ([SeatsUnblocked(freed)] if freed else [])
            self.apply(events)

    @rule(seconds=st.integers(0, 700))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self.holds))
    @rule(before=st.sampled_from([0, 0, 1]))
    def advance_to_next_expiry(self, before: int) -> None:
        """Land exactly on (or one second before) the next expiry: the boundary of liveness."""
        target = min(h.expires_at for h in self.holds.values()) - timedelta(seconds=before)
        self.clock.now = max(self.clock.now, target)

    @rule()
    def expire_due(self) -> None:
        due = sorted(
            (h for h in self.holds.values() if h.expires_at <= self.now),
            key=lambda h: (h.expires_at, h.hold_id),
        )
        assert self.sm.expire_due() == due
        events = self.sm.drain_events()
        assert events == [HoldReleased(h, "expired") for h in due]
        self.apply(events)
        assert all(h.expires_at > self.now for h in self.holds.values())

    @precondition(lambda self: not self.closed)
    @rule(roll=st.integers(0, 9))
    def close_sales(self, roll: int) -> None:
        if roll:  # close only now and then, so most runs keep selling
            return
        remaining = sorted(self.holds.values(), key=lambda h: (h.expires_at, h.hold_id))
        assert self.sm.close_sales() == remaining
        self.closed = True
        events = self.sm.drain_events()
        assert events == [HoldReleased(h, "sales_closed" if h.is_live(self.now) else "expired") for h in remaining]
        self.apply(events)
        assert self.sm.close_sales() == []
        assert self.sm.drain_events() == []

    @rule()
    def restore_round_trip(self) -> None:
        """Rebuilding from the model's rows gives the same observable state."""
        copy = SeatMap.restore(
            RULES,
            SEATS,
            self.clock,
            holds=list(self.holds.values()),
            bookings=list(self.bookings.values()),
            blocked=sorted(self.blocked),
            sales_closed=self.closed,
        )
        assert copy.pending_events == []
        assert copy.snapshot() == self.sm.snapshot()
        assert copy.counts() == self.sm.counts()
        assert copy.live_holds() == self.sm.live_holds()
        assert copy.next_expiry() == self.sm.next_expiry()
        for user in USERS:
            assert copy.holds_of(user) == self.sm.holds_of(user)
            assert copy.bookings_of(user) == self.sm.bookings_of(user)

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def no_events_left_behind(self) -> None:
        assert self.sm.pending_events == []
        assert self.sm.sales_closed == self.closed

    @invariant()
    def statuses_match_the_model(self) -> None:
        snapshot = self.sm.snapshot()
        assert list(snapshot) == SEAT_IDS
        assert snapshot == {s: self.model_status(s) for s in SEAT_IDS}
        for seat_id in SEAT_IDS[::4]:
            assert self.sm.status(seat_id) is snapshot[seat_id]

    @invariant()
    def the_published_map_is_the_snapshot(self) -> None:
        held, booked, blocked = self.sm.published()
        snapshot = self.sm.snapshot()
        assert held == {s: h.expires_at.timestamp() for h in self.live() for s in h.seat_ids}
        assert set(held) == {s for s, st in snapshot.items() if st is SeatStatus.HELD}
        assert sorted(booked) == sorted(s for s, st in snapshot.items() if st is SeatStatus.BOOKED)
        assert sorted(blocked) == sorted(s for s, st in snapshot.items() if st is SeatStatus.BLOCKED)

    @invariant()
    def counts_add_up(self) -> None:
        counts = self.sm.counts()
        assert set(counts) == set(SeatStatus)
        assert sum(counts.values()) == len(SEATS)
        assert counts == {status: Counter(self.sm.snapshot().values())[status] for status in SeatStatus}

    @invariant()
    def live_holds_own_their_seats_exclusively(self) -> None:
        live = self.sm.live_holds()
        assert sorted(h.hold_id for h in live) == sorted(h.hold_id for h in self.live())
        seats = [s for h in live for s in h.seat_ids]
        assert len(seats) == len(set(seats)), "a seat in two live holds"
        assert not set(seats) & set(self.booked), "a seat held and booked"
        snapshot = self.sm.snapshot()
        assert all(snapshot[s] is SeatStatus.HELD for s in seats)
        assert [h.created_at for h in live] == sorted(h.created_at for h in live)

    @invariant()
    def expired_holds_own_nothing(self) -> None:
        live_seats = {s for h in self.live() for s in h.seat_ids}
        snapshot = self.sm.snapshot()
        for hold in self.holds.values():
            if not hold.is_live(self.now):
                for seat_id in hold.seat_ids:
                    assert snapshot[seat_id] is not SeatStatus.HELD or seat_id in live_seats

    @invariant()
    def seat_cap_and_per_user_queries(self) -> None:
        for user in USERS:
            holds = self.sm.holds_of(user)
            bookings = self.sm.bookings_of(user)
            assert holds == sorted((h for h in self.live() if h.user_id == user), key=lambda h: h.created_at)
            assert bookings == [b for b in self.bookings.values() if b.user_id == user]
            seats = sum(len(h.seat_ids) for h in holds) + sum(len(b.seat_ids) for b in bookings)
            assert seats <= RULES.max_seats_per_user

    @invariant()
    def next_expiry_is_the_earliest_stored_hold(self) -> None:
        expected = min((h.expires_at for h in self.holds.values()), default=None)
        assert self.sm.next_expiry() == expected


SeatMapMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_seat_map_state_machine = SeatMapMachine.TestCase
