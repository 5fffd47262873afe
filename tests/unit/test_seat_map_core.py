"""Example tests of the seat-map core (``actors.seat_map_core``): every rule, every refusal, best-available."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from actors.errors import (
    BookingError,
    BookingNotFound,
    ExtensionRefused,
    HoldExpired,
    HoldNotFound,
    InvalidRequest,
    NoAdjacentSeats,
    SalesClosed,
    SeatLimitExceeded,
    SeatsUnavailable,
    UnknownCategory,
    UnknownSeats,
)
from actors.seat_map_core import (
    Booking,
    BookingCancelled,
    BookingConfirmed,
    Event,
    Hold,
    HoldExtended,
    HoldReleased,
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
STARTS_AT = T0 + timedelta(hours=2)
TTL = timedelta(minutes=10)
STANDARD = Decimal("200.00")
PREMIUM = Decimal("350.00")
USERS = ("alice", "bob", "carol")


def row(
    name: str,
    row_index: int,
    numbers: Iterable[int],
    category: str = "standard",
    price: Decimal = STANDARD,
) -> list[SeatSpec]:
    return [SeatSpec(f"{name}{n}", name, row_index, n, category, price) for n in numbers]


def default_screen() -> list[SeatSpec]:
    """Rows A-C standard (8 seats each), row D premium (8 seats): 32 seats."""
    return [
        *row("A", 0, range(1, 9)),
        *row("B", 1, range(1, 9)),
        *row("C", 2, range(1, 9)),
        *row("D", 3, range(1, 9), "premium", PREMIUM),
    ]


def make_rules(**overrides: Any) -> ShowRules:
    values: dict[str, Any] = {
        "show_id": "show-1",
        "starts_at": STARTS_AT,
        "hold_ttl": TTL,
        "max_seats_per_user": 6,
        "max_extensions": 2,
        "max_seats_per_request": 4,
    }
    values.update(overrides)
    return ShowRules(**values)


@dataclass
class Env:
    sm: SeatMap
    clock: FakeClock
    ids: Ids

    def events(self) -> list[Event]:
        return self.sm.drain_events()


def make_env(seats: list[SeatSpec] | None = None, **rules: Any) -> Env:
    clock, ids = FakeClock(T0), Ids()
    sm = SeatMap(make_rules(**rules), default_screen() if seats is None else seats, clock, id_factory=ids)
    return Env(sm, clock, ids)


@pytest.fixture
def env() -> Env:
    return make_env()


def state(sm: SeatMap) -> tuple[object, ...]:
    """Everything observable through the public queries."""
    return (
        sm.snapshot(),
        sm.counts(),
        sm.live_holds(),
        sm.next_expiry(),
        sm.sales_closed,
        tuple(tuple(sm.holds_of(u)) for u in USERS),
        tuple(tuple(sm.bookings_of(u)) for u in USERS),
    )


def assert_refused(
    sm: SeatMap, command: Callable[[], object], expected: BookingError | type[BookingError]
) -> BookingError:
    """``command`` raises ``expected`` (an instance: same type and args; a class: same type), changes
    nothing and emits no event; the error survives a pickle round trip (it crosses the Ray boundary)."""
    sm.drain_events()
    before = state(sm)
    with pytest.raises(BookingError) as caught:
        command()
    err = caught.value
    if isinstance(expected, BookingError):
        assert type(err) is type(expected)
        assert err.args == expected.args
    else:
        assert type(err) is expected
    assert state(sm) == before
    assert sm.pending_events == []
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is type(err)
    assert clone.args == err.args
    assert clone.detail == err.detail
    return err


def seats_with(sm: SeatMap, status: SeatStatus) -> list[str]:
    return [seat for seat, s in sm.snapshot().items() if s is status]


# -- construction and queries ------------------------------------------------------------------------


def test_fresh_map_is_all_available(env: Env) -> None:
    sm = env.sm
    snapshot = sm.snapshot()
    assert list(snapshot) == [seat.seat_id for seat in default_screen()]
    assert set(snapshot.values()) == {SeatStatus.AVAILABLE}
    assert sm.counts() == {
        SeatStatus.AVAILABLE: 32,
        SeatStatus.HELD: 0,
        SeatStatus.BOOKED: 0,
        SeatStatus.BLOCKED: 0,
    }
    assert sm.live_holds() == []
    assert sm.holds_of("alice") == []
    assert sm.bookings_of("alice") == []
    assert sm.next_expiry() is None
    assert sm.expire_due() == []
    assert sm.drain_events() == []


def test_status_of_unknown_seat_is_refused(env: Env) -> None:
    with pytest.raises(UnknownSeats) as caught:
        env.sm.status("Z9")
    assert caught.value.seat_ids == ("Z9",)


@pytest.mark.parametrize(
    "seats",
    [
        [*row("A", 0, [1, 2]), *row("A", 0, [2])],
        [*row("A", 0, [1, 2]), SeatSpec("X", "A", 0, 2, "standard", STANDARD)],
    ],
    ids=["same-seat-id", "same-position"],
)
def test_contradictory_screen_is_rejected(seats: list[SeatSpec]) -> None:
    with pytest.raises(ValueError, match=r"seat|two seats"):
        SeatMap(make_rules(), seats, FakeClock(T0))


def test_repr_stays_short(env: Env) -> None:
    env.sm.hold("alice", ["A1"])
    assert len(repr(env.sm)) < 1000


# -- hold ----------------------------------------------------------------------------------------------


def test_hold_holds_every_seat_and_emits_seats_held(env: Env) -> None:
    sm = env.sm
    hold = sm.hold("alice", ["A3", "A4", "D1"])
    assert hold == Hold(
        hold_id="id-1",
        user_id="alice",
        seat_ids=("A3", "A4", "D1"),
        created_at=T0,
        expires_at=T0 + TTL,
        amount=STANDARD * 2 + PREMIUM,
        extensions=0,
    )
    assert env.events() == [SeatsHeld(hold)]
    assert sm.status("A3") is SeatStatus.HELD
    assert sm.status("D1") is SeatStatus.HELD
    assert sm.status("A5") is SeatStatus.AVAILABLE
    assert sm.counts()[SeatStatus.HELD] == 3
    assert sm.counts()[SeatStatus.AVAILABLE] == 29
    assert sm.live_holds() == [hold]
    assert sm.holds_of("alice") == [hold]
    assert sm.holds_of("bob") == []
    assert sm.next_expiry() == T0 + TTL


def test_hold_expiry_never_runs_past_the_show_start(env: Env) -> None:
    env.clock.now = STARTS_AT - timedelta(minutes=3)
    hold = env.sm.hold("alice", ["A1"])
    assert hold.expires_at == STARTS_AT


def test_holds_of_lists_live_holds_oldest_first(env: Env) -> None:
    first = env.sm.hold("alice", ["A1"])
    env.clock.advance(60)
    second = env.sm.hold("alice", ["A2"])
    env.sm.hold("bob", ["A3"])
    assert env.sm.holds_of("alice") == [first, second]
    env.clock.advance(TTL.total_seconds() - 60)
    assert env.sm.holds_of("alice") == [second]


@pytest.mark.parametrize(
    ("seat_ids", "why"),
    [
        ([], "empty"),
        (["A1", "A2", "A1"], "repeated"),
        (["A1", "A2", "A3", "A4", "A5"], "over max_seats_per_request"),
        ("A1", "a bare string"),
    ],
)
def test_hold_refuses_meaningless_requests(env: Env, seat_ids: list[str], why: str) -> None:
    with pytest.raises(InvalidRequest):
        env.sm.hold("alice", seat_ids)
    assert env.sm.counts()[SeatStatus.AVAILABLE] == 32, why
    assert env.sm.pending_events == []


def test_hold_refuses_invalid_request_with_unchanged_state(env: Env) -> None:
    env.sm.hold("bob", ["B1"])
    assert_refused(env.sm, lambda: env.sm.hold("alice", ["A1", "A1"]), InvalidRequest)


def test_hold_after_sales_closed_is_refused(env: Env) -> None:
    env.sm.close_sales()
    assert_refused(env.sm, lambda: env.sm.hold("alice", ["A1"]), SalesClosed("show-1"))


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=1)])
def test_hold_at_or_after_start_is_refused(env: Env, offset: timedelta) -> None:
    env.clock.now = STARTS_AT + offset
    assert_refused(env.sm, lambda: env.sm.hold("alice", ["A1"]), SalesClosed("show-1"))


def test_hold_lists_unknown_seats_in_request_order(env: Env) -> None:
    err = assert_refused(env.sm, lambda: env.sm.hold("alice", ["Z2", "A1", "Q7"]), UnknownSeats(["Z2", "Q7"]))
    assert isinstance(err, UnknownSeats)
    assert err.seat_ids == ("Z2", "Q7")


def test_hold_is_all_or_nothing(env: Env) -> None:
    sm = env.sm
    sm.hold("bob", ["A2"])
    sm.confirm("bob", [sm.hold("bob", ["A4"]).hold_id])
    sm.block(["A6"])
    err = assert_refused(
        sm,
        lambda: sm.hold("alice", ["A1", "A6", "A2", "A3"]),
        SeatsUnavailable(["A6", "A2"]),
    )
    assert "A6" in err.detail
    assert_refused(sm, lambda: sm.hold("alice", ["A3", "A4"]), SeatsUnavailable(["A4"]))
    assert sm.status("A1") is SeatStatus.AVAILABLE
    assert sm.status("A3") is SeatStatus.AVAILABLE


def test_a_second_hold_of_your_own_seat_is_refused(env: Env) -> None:
    env.sm.hold("alice", ["A1", "A2"])
    assert_refused(env.sm, lambda: env.sm.hold("alice", ["A2", "A3"]), SeatsUnavailable(["A2"]))


def test_hold_check_order(env: Env) -> None:
    sm = env.sm
    sm.hold("bob", ["A1"])
    sm.hold("alice", ["B1", "B2", "B3", "B4"])
    sm.hold("alice", ["C1", "C2"])  # alice is at the cap (6)
    # invalid before anything else, even when sales are closed
    env.clock.now = STARTS_AT
    assert_refused(sm, lambda: sm.hold("alice", []), InvalidRequest)
    # sales closed before unknown seats
    assert_refused(sm, lambda: sm.hold("alice", ["Z1"]), SalesClosed("show-1"))
    env.clock.now = T0
    # unknown before unavailable
    assert_refused(sm, lambda: sm.hold("alice", ["A1", "Z1"]), UnknownSeats(["Z1"]))
    # unavailable before the seat limit
    assert_refused(sm, lambda: sm.hold("alice", ["A1", "A2"]), SeatsUnavailable(["A1"]))
    assert_refused(sm, lambda: sm.hold("alice", ["A2"]), SeatLimitExceeded(6, 6, 1))


def test_seat_cap_counts_live_holds_and_bookings(env: Env) -> None:
    sm = env.sm
    booked = sm.hold("alice", ["A1", "A2"])
    sm.confirm("alice", [booked.hold_id])
    sm.hold("alice", ["B1", "B2", "B3"])
    err = assert_refused(sm, lambda: sm.hold("alice", ["C1", "C2"]), SeatLimitExceeded(6, 5, 2))
    assert isinstance(err, SeatLimitExceeded)
    assert (err.limit, err.already, err.requested) == (6, 5, 2)
    assert_refused(sm, lambda: sm.hold_best("alice", 2, "premium"), SeatLimitExceeded(6, 5, 2))
    sm.hold("alice", ["C1"])
    assert_refused(sm, lambda: sm.hold("alice", ["C2"]), SeatLimitExceeded(6, 6, 1))
    # the cap is per user
    assert sm.hold("bob", ["C2", "C3", "C4", "C5"]).user_id == "bob"


def test_expired_and_released_holds_do_not_count_towards_the_cap(env: Env) -> None:
    sm = env.sm
    sm.hold("alice", ["A1", "A2", "A3", "A4"])
    released = sm.hold("alice", ["B1", "B2"])
    sm.release("alice", released.hold_id)
    sm.hold("alice", ["C1", "C2"])
    env.clock.advance(TTL.total_seconds())
    assert sm.hold("alice", ["D1", "D2", "D3", "D4"]).seat_ids == ("D1", "D2", "D3", "D4")


# -- expiry ----------------------------------------------------------------------------------------------


def test_a_hold_is_live_until_just_before_expires_at(env: Env) -> None:
    sm = env.sm
    hold = sm.hold("alice", ["A1", "A2"])
    env.clock.advance(TTL.total_seconds() - 1)
    assert sm.status("A1") is SeatStatus.HELD
    env.clock.advance(1)  # now == expires_at: expired
    assert sm.status("A1") is SeatStatus.AVAILABLE
    assert sm.counts()[SeatStatus.HELD] == 0
    assert sm.counts()[SeatStatus.AVAILABLE] == 32
    assert sm.live_holds() == []
    assert sm.holds_of("alice") == []
    assert sm.next_expiry() == hold.expires_at  # still stored until expire_due or a new hold


def test_expired_hold_seats_can_be_held_by_someone_else_without_expire_due(env: Env) -> None:
    sm = env.sm
    old = sm.hold("alice", ["A1", "A2"])
    env.events()
    env.clock.advance(TTL.total_seconds() + 5)
    new = sm.hold("bob", ["A2", "A3"])
    assert env.events() == [HoldReleased(old, "expired"), SeatsHeld(new)]
    # the whole old hold went, not only the seat that was asked for
    assert sm.status("A1") is SeatStatus.AVAILABLE
    assert sm.status("A2") is SeatStatus.HELD
    assert sm.expire_due() == []
    assert sm.next_expiry() == new.expires_at
    assert_refused(sm, lambda: sm.release("alice", old.hold_id), HoldNotFound(old.hold_id))


def test_expired_hold_of_the_same_user_is_cleaned_up_too(env: Env) -> None:
    old = env.sm.hold("alice", ["A1"])
    env.clock.advance(TTL.total_seconds())
    env.events()
    new = env.sm.hold("alice", ["A1"])
    assert env.events() == [HoldReleased(old, "expired"), SeatsHeld(new)]


def test_expire_due_removes_due_holds_in_expiry_then_id_order() -> None:
    clock = FakeClock(T0)
    names = iter(["h-z", "h-a", "h-m", "h-b"])
    sm = SeatMap(make_rules(), default_screen(), clock, id_factory=lambda: next(names))
    z = sm.hold("alice", ["A1"])
    a = sm.hold("bob", ["A2"])
    clock.advance(60)
    m = sm.hold("carol", ["A3"])
    clock.advance(60)
    b = sm.hold("carol", ["A4"])
    sm.drain_events()
    assert sm.next_expiry() == T0 + TTL
    assert sm.expire_due() == []
    clock.now = T0 + TTL + timedelta(seconds=60)
    due = sm.expire_due()
    assert due == [a, z, m]
    assert sm.drain_events() == [HoldReleased(h, "expired") for h in (a, z, m)]
    assert sm.next_expiry() == b.expires_at
    assert sm.expire_due() == []
    assert sm.live_holds() == [b]


def test_expire_due_respects_extensions(env: Env) -> None:
    hold = env.sm.hold("alice", ["A1"])
    env.clock.advance(300)
    extended = env.sm.extend("alice", hold.hold_id)
    env.clock.now = hold.expires_at
    assert env.sm.expire_due() == []
    assert env.sm.next_expiry() == extended.expires_at
    env.clock.now = extended.expires_at
    assert env.sm.expire_due() == [extended]


# -- release -------------------------------------------------------------------------------------------


def test_release_frees_the_seats(env: Env) -> None:
    sm = env.sm
    hold = sm.hold("alice", ["A1", "A2"])
    env.events()
    assert sm.release("alice", hold.hold_id) == hold
    assert env.events() == [HoldReleased(hold, "released")]
    assert sm.status("A1") is SeatStatus.AVAILABLE
    assert sm.counts()[SeatStatus.AVAILABLE] == 32
    assert sm.holds_of("alice") == []
    assert sm.next_expiry() is None
    assert_refused(sm, lambda: sm.release("alice", hold.hold_id), HoldNotFound(hold.hold_id))


def test_release_of_unknown_or_someone_elses_hold_is_not_found(env: Env) -> None:
    hold = env.sm.hold("alice", ["A1"])
    assert_refused(env.sm, lambda: env.sm.release("alice", "nope"), HoldNotFound("nope"))
    assert_refused(env.sm, lambda: env.sm.release("bob", hold.hold_id), HoldNotFound(hold.hold_id))
    env.clock.advance(TTL.total_seconds())
    # someone else's expired hold is still "not found", never "expired"
    assert_refused(env.sm, lambda: env.sm.release("bob", hold.hold_id), HoldNotFound(hold.hold_id))


def test_release_of_an_expired_hold_is_refused_and_changes_nothing(env: Env) -> None:
    hold = env.sm.hold("alice", ["A1"])
    env.clock.advance(TTL.total_seconds())
    assert_refused(env.sm, lambda: env.sm.release("alice", hold.hold_id), HoldExpired(hold.hold_id))
    assert env.sm.expire_due() == [hold]


# -- extend ---------------------------------------------------------------------------------------------


def test_extend_pushes_expiry_and_counts_extensions(env: Env) -> None:
    sm = env.sm
    hold = sm.hold("alice", ["A1"])
    env.events()
    env.clock.advance(300)
    once = sm.extend("alice", hold.hold_id)
    assert once.expires_at == env.clock.now + TTL
    assert once.extensions == 1
    assert (once.hold_id, once.seat_ids, once.created_at, once.amount) == (
        hold.hold_id,
        hold.seat_ids,
        hold.created_at,
        hold.amount,
    )
    assert env.events() == [HoldExtended(once)]
    assert sm.holds_of("alice") == [once]
    env.clock.advance(300)
    twice = sm.extend("alice", hold.hold_id)
    assert twice.extensions == 2
    assert twice.expires_at == env.clock.now + TTL
    env.clock.advance(300)
    err = assert_refused(sm, lambda: sm.extend("alice", hold.hold_id), ExtensionRefused)
    assert "2" in err.detail


def test_third_extension_is_refused(env: Env) -> None:
    hold = env.sm.hold("alice", ["A1"])
    env.sm.extend("alice", hold.hold_id)
    env.sm.extend("alice", hold.hold_id)
    env.sm.drain_events()
    before = state(env.sm)
    with pytest.raises(ExtensionRefused) as caught:
        env.sm.extend("alice", hold.hold_id)
    assert "extended" in caught.value.detail
    assert state(env.sm) == before
    assert env.sm.pending_events == []


def test_extension_never_runs_past_the_show_start(env: Env) -> None:
    sm = env.sm
    env.clock.now = STARTS_AT - timedelta(minutes=12)
    hold = sm.hold("alice", ["A1"])
    assert hold.expires_at == STARTS_AT - timedelta(minutes=2)
    env.clock.advance(5 * 60)  # now + hold_ttl would run 3 minutes past the start
    extended = sm.extend("alice", hold.hold_id)
    assert extended.expires_at == STARTS_AT
    assert extended.extensions == 1
    sm.drain_events()
    before = state(sm)
    with pytest.raises(ExtensionRefused) as caught:
        sm.extend("alice", hold.hold_id)
    assert "start" in caught.value.detail
    assert state(sm) == before
    assert sm.pending_events == []


def test_extension_never_shortens_a_hold() -> None:
    clock = FakeClock(T0)
    long_hold = Hold("h1", "alice", ("A1",), T0, T0 + timedelta(minutes=30), STANDARD)
    sm = SeatMap.restore(make_rules(), default_screen(), clock, holds=[long_hold], id_factory=Ids())
    extended = sm.extend("alice", "h1")
    assert extended.expires_at == T0 + timedelta(minutes=30)
    assert extended.extensions == 1


def test_extend_refusals(env: Env) -> None:
    sm = env.sm
    hold = sm.hold("alice", ["A1"])
    assert_refused(sm, lambda: sm.extend("alice", "nope"), HoldNotFound("nope"))
    assert_refused(sm, lambda: sm.extend("bob", hold.hold_id), HoldNotFound(hold.hold_id))
    env.clock.now = hold.expires_at
    assert_refused(sm, lambda: sm.extend("alice", hold.hold_id), HoldExpired(hold.hold_id))


def test_extend_after_sales_closed_is_refused() -> None:
    hold = Hold("h1", "alice", ("A1",), T0, T0 + TTL, STANDARD)
    sm = SeatMap.restore(make_rules(), default_screen(), FakeClock(T0), holds=[hold], sales_closed=True)
    assert_refused(sm, lambda: sm.extend("alice", "h1"), SalesClosed("show-1"))
    assert_refused(sm, lambda: sm.confirm("alice", ["h1"]), SalesClosed("show-1"))


# -- confirm -------------------------------------------------------------------------------------------


def test_confirm_turns_a_hold_into_a_booking(env: Env) -> None:
    sm = env.sm
    hold = sm.hold("alice", ["A1", "A2"])
    env.events()
    env.clock.advance(30)
    booking = sm.confirm("alice", [hold.hold_id])
    assert booking == Booking(
        booking_id="id-2",
        user_id="alice",
        seat_ids=("A1", "A2"),
        hold_ids=(hold.hold_id,),
        amount=STANDARD * 2,
        created_at=T0 + timedelta(seconds=30),
    )
    assert env.events() == [BookingConfirmed(booking)]
    assert sm.status("A1") is SeatStatus.BOOKED
    assert sm.counts()[SeatStatus.BOOKED] == 2
    assert sm.counts()[SeatStatus.HELD] == 0
    assert sm.live_holds() == []
    assert sm.next_expiry() is None
    assert sm.bookings_of("alice") == [booking]
    assert sm.bookings_of("bob") == []
    # booked seats stay booked forever, for everyone
    env.clock.advance(3600)
    assert sm.status("A1") is SeatStatus.BOOKED
    assert_refused(sm, lambda: sm.hold("bob", ["A1"]), SeatsUnavailable(["A1"]))
    assert_refused(sm, lambda: sm.block(["A2"]), SeatsUnavailable(["A2"]))
    assert_refused(sm, lambda: sm.confirm("alice", [hold.hold_id]), HoldNotFound(hold.hold_id))


def test_confirm_of_several_holds_makes_one_booking(env: Env) -> None:
    sm = env.sm
    first = sm.hold("alice", ["D4", "D5"])
    second = sm.hold("alice", ["A1"])
    env.events()
    booking = sm.confirm("alice", [second.hold_id, first.hold_id], booking_id="bk-42")
    assert booking.booking_id == "bk-42"
    assert booking.seat_ids == ("A1", "D4", "D5")
    assert booking.hold_ids == (second.hold_id, first.hold_id)
    assert booking.amount == STANDARD + 2 * PREMIUM
    assert env.events() == [BookingConfirmed(booking)]
    assert env.ids.issued == 2  # the given booking id was used
    assert seats_with(sm, SeatStatus.BOOKED) == ["A1", "D4", "D5"]
    again = sm.hold("alice", ["A2"])
    assert_refused(sm, lambda: sm.confirm("alice", [again.hold_id], booking_id="bk-42"), InvalidRequest)


def test_confirm_refusals(env: Env) -> None:
    sm = env.sm
    mine = sm.hold("alice", ["A1"])
    theirs = sm.hold("bob", ["A2"])
    assert_refused(sm, lambda: sm.confirm("alice", []), InvalidRequest)
    assert_refused(sm, lambda: sm.confirm("alice", [mine.hold_id, mine.hold_id]), InvalidRequest)
    assert_refused(sm, lambda: sm.confirm("alice", mine.hold_id), InvalidRequest)
    # one bad hold spoils the whole confirmation: the good one stays held
    assert_refused(sm, lambda: sm.confirm("alice", [mine.hold_id, theirs.hold_id]), HoldNotFound(theirs.hold_id))
    assert_refused(sm, lambda: sm.confirm("alice", [mine.hold_id, "nope"]), HoldNotFound("nope"))
    env.clock.advance(60)
    late = sm.hold("alice", ["A3"])
    env.clock.now = mine.expires_at
    assert_refused(sm, lambda: sm.confirm("alice", [late.hold_id, mine.hold_id]), HoldExpired(mine.hold_id))
    # holds are checked in order: the first problem wins
    assert_refused(sm, lambda: sm.confirm("alice", [mine.hold_id, "nope"]), HoldExpired(mine.hold_id))
    assert_refused(sm, lambda: sm.confirm("alice", ["nope", mine.hold_id]), HoldNotFound("nope"))
    assert sm.status("A3") is SeatStatus.HELD
    assert sm.confirm("alice", [late.hold_id]).seat_ids == ("A3",)


def test_confirm_after_start_finds_the_hold_expired(env: Env) -> None:
    env.clock.now = STARTS_AT - timedelta(minutes=1)
    hold = env.sm.hold("alice", ["A1"])
    env.clock.now = STARTS_AT
    assert_refused(env.sm, lambda: env.sm.confirm("alice", [hold.hold_id]), HoldExpired(hold.hold_id))


# -- close_sales ---------------------------------------------------------------------------------------


def test_close_sales_releases_every_hold_and_is_idempotent(env: Env) -> None:
    sm = env.sm
    stale = sm.hold("alice", ["A1"])
    env.clock.advance(120)
    booking = sm.confirm("bob", [sm.hold("bob", ["B1"]).hold_id])
    live = sm.hold("carol", ["C1", "C2"])
    env.clock.now = stale.expires_at
    env.events()
    released = sm.close_sales()
    assert released == [stale, live]
    assert env.events() == [HoldReleased(stale, "expired"), HoldReleased(live, "sales_closed")]
    assert sm.sales_closed
    assert sm.counts() == {
        SeatStatus.AVAILABLE: 31,
        SeatStatus.HELD: 0,
        SeatStatus.BOOKED: 1,
        SeatStatus.BLOCKED: 0,
    }
    assert sm.bookings_of("bob") == [booking]
    assert sm.next_expiry() is None
    assert sm.close_sales() == []
    assert env.events() == []
    assert_refused(sm, lambda: sm.hold("alice", ["A5"]), SalesClosed("show-1"))
    assert_refused(sm, lambda: sm.hold_best("alice", 2, "standard"), SalesClosed("show-1"))
    assert_refused(sm, lambda: sm.confirm("carol", [live.hold_id]), HoldNotFound(live.hold_id))
    # admins may still block and unblock
    sm.block(["A5"])
    sm.unblock(["A5"])
    assert env.events() == [SeatsBlocked(("A5",)), SeatsUnblocked(("A5",))]


# -- block / unblock -----------------------------------------------------------------------------------


def test_block_and_unblock(env: Env) -> None:
    sm = env.sm
    sm.block(["A1", "A2"])
    assert env.events() == [SeatsBlocked(("A1", "A2"))]
    assert sm.status("A1") is SeatStatus.BLOCKED
    assert sm.counts()[SeatStatus.BLOCKED] == 2
    sm.block(["A2", "A3"])
    assert env.events() == [SeatsBlocked(("A3",))]
    sm.block(["A1"])
    assert env.events() == []
    assert_refused(sm, lambda: sm.hold("alice", ["A3"]), SeatsUnavailable(["A3"]))
    sm.unblock(["A3", "A4", "A1"])
    assert env.events() == [SeatsUnblocked(("A3", "A1"))]
    sm.unblock(["A4"])
    assert env.events() == []
    assert seats_with(sm, SeatStatus.BLOCKED) == ["A2"]
    assert sm.hold("alice", ["A1", "A3"]).seat_ids == ("A1", "A3")


def test_block_refusals(env: Env) -> None:
    sm = env.sm
    sm.hold("alice", ["A1"])
    sm.confirm("bob", [sm.hold("bob", ["A2"]).hold_id])
    sm.block(["A3"])
    assert_refused(sm, lambda: sm.block([]), InvalidRequest)
    assert_refused(sm, lambda: sm.block(["A4", "A4"]), InvalidRequest)
    assert_refused(sm, lambda: sm.block(["A4", "Z1", "A1"]), UnknownSeats(["Z1"]))
    assert_refused(sm, lambda: sm.block(["A4", "A1", "A3", "A2"]), SeatsUnavailable(["A1", "A2"]))
    assert_refused(sm, lambda: sm.unblock([]), InvalidRequest)
    assert_refused(sm, lambda: sm.unblock(["A3", "Z1"]), UnknownSeats(["Z1"]))
    assert sm.status("A3") is SeatStatus.BLOCKED


def test_block_takes_seats_of_an_expired_hold(env: Env) -> None:
    sm = env.sm
    hold = sm.hold("alice", ["A1", "A2"])
    env.clock.now = hold.expires_at
    env.events()
    sm.block(["A2"])
    assert env.events() == [HoldReleased(hold, "expired"), SeatsBlocked(("A2",))]
    assert sm.expire_due() == []
    assert seats_with(sm, SeatStatus.BLOCKED) == ["A2"]


# -- best available ------------------------------------------------------------------------------------


def test_hold_best_prefers_the_centre_of_the_middle_row(env: Env) -> None:
    hold = env.sm.hold_best("alice", 2, "standard")
    assert hold.seat_ids == ("B4", "B5")
    assert env.events() == [SeatsHeld(hold)]
    assert hold.amount == 2 * STANDARD
    # odd count in an even row: two equally central blocks, the lower first number wins
    assert env.sm.hold_best("bob", 3, "premium").seat_ids == ("D3", "D4", "D5")


def test_hold_best_moves_to_the_nearest_row_when_the_middle_is_full(env: Env) -> None:
    sm = env.sm
    sm.block([f"B{n}" for n in range(1, 9)])
    # rows A and C are equally far from the middle (B): the lower row_index wins
    assert sm.hold_best("alice", 2, "standard").seat_ids == ("A4", "A5")
    assert sm.hold_best("alice", 2, "standard").seat_ids == ("C4", "C5")


def test_hold_best_avoids_stranding_a_single_seat() -> None:
    # row of 6, seat 1 taken: the centre block 3-4 would leave seat 2 alone, so take 2-3
    env = make_env([*row("A", 0, range(1, 7))])
    env.sm.hold("bob", ["A1"])
    assert env.sm.hold_best("alice", 2, "standard").seat_ids == ("A2", "A3")
    # 4-6 are left: every pair strands one seat, so the most central pair is taken anyway
    assert env.sm.hold_best("carol", 2, "standard").seat_ids == ("A4", "A5")


def test_hold_best_prefers_a_non_stranding_block_over_a_central_one() -> None:
    # row of 8, seat 7 taken: the central block 4-5 would strand seat 6
    env = make_env([*row("A", 0, range(1, 9))])
    env.sm.hold("bob", ["A7"])
    assert env.sm.hold_best("alice", 2, "standard").seat_ids == ("A3", "A4")


def test_hold_best_prefers_no_stranding_even_in_a_worse_row() -> None:
    seats = [*row("A", 0, range(1, 7)), *row("B", 1, range(1, 7)), *row("C", 2, range(1, 7))]
    env = make_env(seats)
    # row B (the middle row) has only 2-4 left: any pair there strands a seat
    env.sm.block(["B1", "B5", "B6"])
    assert env.sm.hold_best("alice", 2, "standard").seat_ids == ("A3", "A4")


def test_hold_best_strands_a_seat_when_there_is_no_other_choice() -> None:
    env = make_env([*row("A", 0, range(1, 4))])
    hold = env.sm.hold_best("alice", 2, "standard")
    assert hold.seat_ids == ("A1", "A2")
    assert env.sm.status("A3") is SeatStatus.AVAILABLE


def test_hold_best_keeps_to_the_category_and_to_adjacent_numbers() -> None:
    seats = [
        *row("A", 0, [1, 2], "standard"),
        *row("A", 0, [3, 4, 5, 6], "premium", PREMIUM),
        *row("A", 0, [7, 8], "standard"),
        *row("B", 1, [1, 2, 3, 5, 6, 7], "balcony"),  # no seat 4: an aisle
    ]
    env = make_env(seats)
    assert env.sm.hold_best("alice", 2, "premium").seat_ids == ("A4", "A5")
    assert env.sm.hold_best("bob", 2, "standard").seat_ids == ("A1", "A2")
    assert_refused(env.sm, lambda: env.sm.hold_best("carol", 3, "standard"), NoAdjacentSeats(3, "standard"))
    assert env.sm.hold_best("carol", 3, "balcony").seat_ids == ("B1", "B2", "B3")
    assert_refused(env.sm, lambda: env.sm.hold_best("bob", 4, "balcony"), NoAdjacentSeats(4, "balcony"))


def test_hold_best_finds_no_adjacent_seats(env: Env) -> None:
    sm = env.sm
    sm.block(["D2", "D4", "D6", "D8"])
    err = assert_refused(sm, lambda: sm.hold_best("alice", 2, "premium"), NoAdjacentSeats(2, "premium"))
    assert isinstance(err, NoAdjacentSeats)
    assert (err.count, err.category) == (2, "premium")
    assert sm.hold_best("alice", 1, "premium").seat_ids == ("D5",)  # the most central single seat


def test_hold_best_refusals(env: Env) -> None:
    sm = env.sm
    assert_refused(sm, lambda: sm.hold_best("alice", 0, "standard"), InvalidRequest)
    assert_refused(sm, lambda: sm.hold_best("alice", 5, "standard"), InvalidRequest)
    assert_refused(sm, lambda: sm.hold_best("alice", 2, "royal"), UnknownCategory("royal"))
    env.clock.now = STARTS_AT
    assert_refused(sm, lambda: sm.hold_best("alice", 0, "standard"), InvalidRequest)
    assert_refused(sm, lambda: sm.hold_best("alice", 2, "royal"), SalesClosed("show-1"))


def test_hold_best_reuses_seats_of_an_expired_hold(env: Env) -> None:
    sm = env.sm
    old = sm.hold("bob", ["B4", "B5"])
    env.clock.now = old.expires_at
    env.events()
    new = sm.hold_best("alice", 2, "standard")
    assert new.seat_ids == ("B4", "B5")
    assert env.events() == [HoldReleased(old, "expired"), SeatsHeld(new)]


# -- restore ---------------------------------------------------------------------------------------------


@dataclass
class Store:
    """What a persistence layer would keep, built only from the drained events."""

    holds: dict[str, Hold] = field(default_factory=dict)
    bookings: dict[str, Booking] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)

    def apply(self, events: Iterable[Event]) -> None:
        for event in events:
            match event:
                case SeatsHeld(hold) | HoldExtended(hold):
                    self.holds[hold.hold_id] = hold
                case HoldReleased(hold, _):
                    del self.holds[hold.hold_id]
                case BookingConfirmed(booking):
                    for hold_id in booking.hold_ids:
                        del self.holds[hold_id]
                    self.bookings[booking.booking_id] = booking
                case SeatsBlocked(seat_ids):
                    self.blocked.update(seat_ids)
                case SeatsUnblocked(seat_ids):
                    self.blocked.difference_update(seat_ids)


def test_restore_round_trip(env: Env) -> None:
    sm, clock = env.sm, env.clock
    store = Store()
    stale = sm.hold("carol", ["C1", "C2"])
    clock.advance(60)
    sm.confirm("alice", [sm.hold("alice", ["A1", "A2"]).hold_id, sm.hold("alice", ["D1"]).hold_id])
    held = sm.hold("bob", ["B3", "B4"])
    sm.extend("bob", held.hold_id)
    released = sm.hold("bob", ["B7"])
    sm.release("bob", released.hold_id)
    sm.block(["D8", "D7"])
    sm.unblock(["D7"])
    clock.now = stale.expires_at  # carol's hold is expired but still stored
    store.apply(sm.drain_events())

    restored = SeatMap.restore(
        sm.rules,
        default_screen(),
        clock,
        holds=list(store.holds.values()),
        bookings=list(store.bookings.values()),
        blocked=sorted(store.blocked),
        sales_closed=sm.sales_closed,
        id_factory=Ids("r-{}"),
    )
    assert restored.pending_events == []
    assert state(restored) == state(sm)
    assert restored.status("C1") is SeatStatus.AVAILABLE
    assert restored.next_expiry() == stale.expires_at
    # both copies go on identically
    assert restored.expire_due() == sm.expire_due() == [stale]
    assert_refused(restored, lambda: restored.hold("alice", ["C1", "C2", "C3", "C4"]), SeatLimitExceeded(6, 3, 4))
    assert restored.hold("alice", ["C1", "C2", "C3"]).hold_id == "r-1"


def test_restore_keeps_expired_holds_and_emits_nothing() -> None:
    clock = FakeClock(T0 + timedelta(hours=1))
    old = Hold("h1", "alice", ("A1",), T0, T0 + TTL, STANDARD)
    sm = SeatMap.restore(make_rules(), default_screen(), clock, holds=[old])
    assert sm.pending_events == []
    assert sm.status("A1") is SeatStatus.AVAILABLE
    assert sm.next_expiry() == old.expires_at
    assert sm.expire_due() == [old]
    assert sm.drain_events() == [HoldReleased(old, "expired")]


def _hold(hold_id: str, *seats: str) -> Hold:
    return Hold(hold_id, "alice", seats, T0, T0 + TTL, STANDARD * len(seats))


def _booking(booking_id: str, *seats: str) -> Booking:
    return Booking(booking_id, "bob", seats, ("old",), STANDARD * len(seats), T0)


@pytest.mark.parametrize(
    "rows",
    [
        {"holds": [_hold("h1", "A1", "A2"), _hold("h2", "A2")]},
        {"holds": [_hold("h1", "A1", "A1")]},
        {"holds": [_hold("h1", "A1")], "bookings": [_booking("b1", "A1")]},
        {"bookings": [_booking("b1", "A1"), _booking("b2", "A3", "A1")]},
        {"holds": [_hold("h1", "Z1")]},
        {"bookings": [_booking("b1", "Z1")]},
        {"blocked": ["Z1"]},
        {"holds": [_hold("h1", "A1")], "blocked": ["A1"]},
        {"bookings": [_booking("b1", "A1")], "blocked": ["A1"]},
        {"holds": [_hold("h1", "A1"), _hold("h1", "A2")]},
        {"bookings": [_booking("b1", "A1"), _booking("b1", "A2")]},
    ],
    ids=[
        "two-holds",
        "seat-twice-in-a-hold",
        "hold-and-booking",
        "two-bookings",
        "hold-unknown-seat",
        "booking-unknown-seat",
        "blocked-unknown-seat",
        "blocked-and-held",
        "blocked-and-booked",
        "hold-id-twice",
        "booking-id-twice",
    ],
)
def test_restore_rejects_contradictory_rows(rows: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        SeatMap.restore(make_rules(), default_screen(), FakeClock(T0), **rows)


def test_restore_rejects_an_expired_hold_overlapping_a_booking() -> None:
    clock = FakeClock(T0 + timedelta(hours=1))
    with pytest.raises(ValueError, match="A1"):
        SeatMap.restore(
            make_rules(), default_screen(), clock, holds=[_hold("h1", "A1")], bookings=[_booking("b1", "A1")]
        )


# -- errors cross process boundaries -----------------------------------------------------------------


def _raised_errors() -> Iterator[BookingError]:
    """One instance of every error class the seat map raises, produced by the seat map itself."""
    env = make_env(max_seats_per_user=2)
    sm, clock = env.sm, env.clock
    attempts: list[Callable[[], object]] = [
        lambda: sm.hold("alice", []),
        lambda: sm.hold("alice", ["Z1"]),
        lambda: sm.hold("alice", ["A1", "A2", "A3"]),
        lambda: sm.hold_best("alice", 4, "standard"),
        lambda: sm.hold_best("alice", 1, "royal"),
        lambda: sm.release("alice", "nope"),
    ]
    hold = sm.hold("bob", ["A1"])
    attempts.append(lambda: sm.hold("alice", ["A1"]))
    sm.block(["D1", "D3", "D5", "D7"])
    attempts.append(lambda: sm.hold_best("alice", 2, "premium"))
    for attempt in attempts:
        with pytest.raises(BookingError) as caught:
            attempt()
        yield caught.value
    sm.extend("bob", hold.hold_id)
    sm.extend("bob", hold.hold_id)
    with pytest.raises(ExtensionRefused) as refused:
        sm.extend("bob", hold.hold_id)
    yield refused.value
    clock.now = hold.expires_at
    with pytest.raises(HoldExpired) as expired:
        sm.confirm("bob", [hold.hold_id])
    yield expired.value
    sm.close_sales()
    with pytest.raises(SalesClosed) as closed:
        sm.hold("alice", ["B1"])
    yield closed.value


def test_every_raised_error_class_survives_pickling() -> None:
    errors = list(_raised_errors())
    assert {type(e) for e in errors} == {
        InvalidRequest,
        UnknownCategory,
        UnknownSeats,
        SeatsUnavailable,
        SeatLimitExceeded,
        NoAdjacentSeats,
        HoldNotFound,
        HoldExpired,
        ExtensionRefused,
        SalesClosed,
    }
    for err in errors:
        clone = pickle.loads(pickle.dumps(err))
        assert type(clone) is type(err)
        assert clone.args == err.args
        assert clone.detail == err.detail
        assert clone.code == err.code
        assert clone == err
        assert vars(clone) == vars(err)


@pytest.mark.parametrize(
    "make",
    [
        lambda: InvalidRequest("no seat requested"),
        lambda: UnknownSeats(["Z1", "Z2"]),
        lambda: SeatsUnavailable(["A1"]),
        lambda: SeatLimitExceeded(6, 5, 2),
        lambda: NoAdjacentSeats(3, "premium"),
        lambda: HoldNotFound("h-1"),
        lambda: HoldExpired("h-1"),
        lambda: ExtensionRefused("hold h-1 was already extended 2 times"),
        lambda: SalesClosed("show-1"),
    ],
    ids=[
        "InvalidRequest",
        "UnknownSeats",
        "SeatsUnavailable",
        "SeatLimitExceeded",
        "NoAdjacentSeats",
        "HoldNotFound",
        "HoldExpired",
        "ExtensionRefused",
        "SalesClosed",
    ],
)
def test_error_pickle_round_trip(make: Callable[[], BookingError]) -> None:
    err = make()
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is type(err)
    assert clone.args == err.args
    assert clone.detail == err.detail
    assert vars(clone) == vars(err)


def test_cancel_frees_the_seats_and_the_owners_cap(env: Env) -> None:
    sm = env.sm
    hold = sm.hold("alice", ["A1", "A2"])
    booking = sm.confirm("alice", [hold.hold_id])
    env.events()
    assert_refused(sm, lambda: sm.cancel("bob", booking.booking_id), BookingNotFound(booking.booking_id))
    assert_refused(sm, lambda: sm.cancel("alice", "no-such-booking"), BookingNotFound("no-such-booking"))
    cancelled = sm.cancel("alice", booking.booking_id)
    assert cancelled == BookingCancelled(booking, "customer", booking.amount)
    assert env.events() == [cancelled]
    assert sm.status("A1") is SeatStatus.AVAILABLE
    assert sm.bookings_of("alice") == []
    assert sum(sm.counts().values()) == len(sm.snapshot())
    # the seats can be sold again, and the owner's seat count went back down
    assert sm.hold("bob", ["A1"]).seat_ids == ("A1",)
    assert_refused(sm, lambda: sm.cancel("alice", booking.booking_id), BookingNotFound(booking.booking_id))


def test_an_operator_cancels_any_booking_but_not_after_the_start(env: Env) -> None:
    sm = env.sm
    booking = sm.confirm("alice", [sm.hold("alice", ["B1"]).hold_id])
    other = sm.confirm("bob", [sm.hold("bob", ["B2"]).hold_id])
    assert sm.cancel(None, booking.booking_id) == BookingCancelled(booking, "operator", booking.total)
    env.clock.now = STARTS_AT
    assert_refused(sm, lambda: sm.cancel("bob", other.booking_id), SalesClosed)
    assert sm.status("B2") is SeatStatus.BOOKED
