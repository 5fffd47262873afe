"""The seat-map core on a venue of sections and standing zones (``actors.seat_map_core``), no Ray, no I/O.

Owns the venue rules of issue 19 as the pure core keeps them: best-available within a section and across
sections by category, never stranding a single seat when it can be helped; the per-row cache of best blocks
(``_row_best``) giving the same choice as computing every row afresh, and as a brute force written straight
from the rule; standing zones held all or nothing (``NotEnoughPlaces`` with the right ``available`` and
nothing changed on refusal), expired holds' places reusable, the per-account cap, ``restore``. A stateful
test drives a standing zone with every command and checks that its places never have two owners and that
held + booked + blocked never exceeds its capacity.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.errors import (
    BookingError,
    NoAdjacentSeats,
    NotEnoughPlaces,
    SeatLimitExceeded,
    SeatsUnavailable,
    UnknownCategory,
    UnknownSection,
)
from actors.seat_map_core import (
    Booking,
    BookingCancelled,
    BookingConfirmed,
    Event,
    Hold,
    HoldExtended,
    HoldReleased,
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
from tests.unit.test_seat_map_core_state_machine import T0, USERS

PRICES = {"standard": Decimal("50.00"), "premium": Decimal("120.00"), "floor": Decimal("80.00")}
TTL = timedelta(minutes=10)


def seated(section: str, rows: Sequence[tuple[str, int, str]]) -> list[SeatSpec]:
    """A seated section: ``(label, seats, category)`` per row, nearest the stage first."""
    return [
        SeatSpec(f"{section}-{label}-{n}", label, index, n, category, PRICES[category], section)
        for index, (label, size, category) in enumerate(rows)
        for n in range(1, size + 1)
    ]


def standing(zone: str, capacity: int, category: str = "floor") -> list[SeatSpec]:
    """A standing zone's places, as the catalog lays them out (``FLA-1`` …)."""
    return [SeatSpec(f"{zone}-{n}", "", 0, n, category, PRICES[category], zone, True) for n in range(1, capacity + 1)]


# Two standard sections, a premium one with a standard back row (two categories in one section), two zones.
VENUE = [
    *seated("101", [("A", 8, "standard"), ("B", 8, "standard"), ("C", 8, "standard")]),
    *seated("102", [("A", 6, "standard"), ("B", 6, "standard")]),
    *seated("201", [("A", 6, "premium"), ("B", 6, "premium"), ("C", 7, "standard")]),
    *standing("FLA", 6),
    *standing("FLB", 3),
]
ZONES = ("FLA", "FLB")


def rules(max_per_user: int = 6, max_per_request: int = 6) -> ShowRules:
    return ShowRules(
        show_id="venue",
        starts_at=T0 + timedelta(days=1),
        hold_ttl=TTL,
        max_seats_per_user=max_per_user,
        max_seats_per_request=max_per_request,
    )


def venue_map(seats: Sequence[SeatSpec] = VENUE, **kwargs: int) -> tuple[SeatMap, FakeClock]:
    clock = FakeClock(T0)
    return SeatMap(rules(**kwargs), seats, clock, id_factory=Ids("h{}")), clock


def zone_places(seats: Iterable[SeatSpec], zone: str) -> list[str]:
    return [s.seat_id for s in seats if s.section == zone and s.standing]


def state(sm: SeatMap) -> tuple[Any, ...]:
    """Everything observable, and the derived indexes a refusal must leave as they were."""
    zone_free = {zone: list(free) for zone, free in sm._zone_free.items()}
    return sm.snapshot(), sm.counts(), sm.live_holds(), sm.next_expiry(), zone_free, list(sm.pending_events)


def refused(sm: SeatMap, command: Callable[[], object], error: BookingError) -> None:
    """``command`` raises exactly ``error`` (type and arguments) and changes nothing."""
    before = state(sm)
    with pytest.raises(BookingError) as raised:
        command()
    assert (type(raised.value), raised.value.args) == (type(error), error.args)
    assert state(sm) == before


# -- the rule, by brute force ---------------------------------------------------------------------------


def reference_best(
    seats: Sequence[SeatSpec],
    statuses: dict[str, SeatStatus],
    count: int,
    categories: Sequence[str],
    section: str | None,
) -> tuple[str, ...] | None:
    """The best block by ``hold_best``'s written rule, trying every window of every row: no stranded single
    seat first, then centre of the row, then nearest the middle of the section's rows of the category,
    then earliest section, lowest row, lowest first number. Distances are doubled to stay whole."""
    order: dict[str, int] = {}
    rows: dict[tuple[str, int], list[SeatSpec]] = {}
    for seat in seats:
        order.setdefault(seat.section, len(order))
        if not seat.standing:
            rows.setdefault((seat.section, seat.row_index), []).append(seat)
    best: tuple[tuple[Any, ...], tuple[str, ...]] | None = None
    for (sec, row_index), row in rows.items():
        if section is not None and sec != section:
            continue
        by_number = {s.number: s for s in row}

        def free(number: int, by_number: dict[int, SeatSpec] = by_number) -> bool:
            seat = by_number.get(number)
            return seat is not None and statuses[seat.seat_id] is SeatStatus.AVAILABLE

        for category in categories:
            indexes = [ri for (s2, ri), r in rows.items() if s2 == sec and any(x.category == category for x in r)]
            if not indexes:
                continue
            mid2 = min(indexes) + max(indexes)
            for first in range(1, len(row) + 1):
                last = first + count - 1
                window = [by_number.get(n) for n in range(first, last + 1)]
                if not all(w is not None and w.category == category and free(w.number) for w in window):
                    continue
                strands = (free(first - 1) and not free(first - 2)) or (free(last + 1) and not free(last + 2))
                key = (
                    strands,
                    abs(first + last - (1 + len(row))),
                    abs(2 * row_index - mid2),
                    order[sec],
                    row_index,
                    first,
                )
                if best is None or key < best[0]:
                    best = (key, tuple(by_number[n].seat_id for n in range(first, last + 1)))
    return None if best is None else best[1]


# -- best available -------------------------------------------------------------------------------------


def test_best_within_a_section_is_its_middle_row_centre() -> None:
    sm, _ = venue_map()
    assert sm.hold_best("u1", 2, None, "101").seat_ids == ("101-B-4", "101-B-5")
    # Row B's centre is taken: the centre of rows A and C (equally far from the middle) beats B's sides.
    assert sm.hold_best("u1", 2, None, "101").seat_ids == ("101-A-4", "101-A-5")
    assert sm.hold_best("u2", 2, None, "101").seat_ids == ("101-C-4", "101-C-5")
    # Section 102's rows are 0 and 1: equally far from their middle, the lower row_index wins.
    # Three of six: the centred windows 2-4 and 3-5 would each strand an end seat, so an end it is.
    assert sm.hold_best("u2", 3, None, "102").seat_ids == ("102-A-1", "102-A-2", "102-A-3")


def test_a_section_of_two_categories_by_category_or_any() -> None:
    sm, _ = venue_map()
    # Any category of 201: the premium rows' middle (between A and B) ties, row A first; the lone standard
    # row C is its category's middle row, with a window exactly centred in 7 seats.
    assert sm.hold_best("u1", 3, None, "201").seat_ids == ("201-C-3", "201-C-4", "201-C-5")
    assert sm.hold_best("u1", 2, "premium", "201").seat_ids == ("201-A-3", "201-A-4")
    refused(sm, lambda: sm.hold_best("u2", 2, "premium", "101"), UnknownCategory("premium"))
    refused(sm, lambda: sm.hold_best("u2", 2, "balcony"), UnknownCategory("balcony"))


def test_across_sections_by_category() -> None:
    sm, _ = venue_map(max_per_user=100)
    # The best standard block of the venue: 101's middle row, centred (101 is also the earliest section).
    assert sm.hold_best("u1", 4, "standard").seat_ids == ("101-B-3", "101-B-4", "101-B-5", "101-B-6")
    # Premium exists only in 201.
    assert sm.hold_best("u1", 2, "premium").seat_ids == ("201-A-3", "201-A-4")
    # With the rest of 101 and 102 off sale, standard seats come from 201's standard row only.
    snapshot = sm.snapshot()
    sm.block([s.seat_id for s in VENUE if s.section in ("101", "102") and snapshot[s.seat_id] is SeatStatus.AVAILABLE])
    assert sm.hold_best("u2", 3, "standard").seat_ids == ("201-C-3", "201-C-4", "201-C-5")
    # Left: 1-2 and 6-7, equally far from the centre: the lower numbers.
    assert sm.hold_best("u2", 2, "standard").seat_ids == ("201-C-1", "201-C-2")
    refused(sm, lambda: sm.hold_best("u3", 3, "standard"), NoAdjacentSeats(3, "standard"))


def test_no_stranded_single_seat_when_it_can_be_helped() -> None:
    seats = seated("S", [("A", 5, "standard")])
    sm, _ = venue_map(seats)
    # The centred pair 2-3 would leave seat 1 alone; 1-2 and 4-5 do not, 1-2 comes first.
    assert sm.hold_best("u1", 2, None, "S").seat_ids == ("S-A-1", "S-A-2")
    # Left: 3, 4, 5. A pair must strand a seat now (3-4 strands 5, 4-5 strands 3): allowed, centre wins.
    assert sm.hold_best("u2", 2, None, "S").seat_ids == ("S-A-3", "S-A-4")
    assert sm.snapshot()["S-A-5"] is SeatStatus.AVAILABLE


def test_seated_section_refuses_unknown_section() -> None:
    sm, _ = venue_map()
    refused(sm, lambda: sm.hold_best("u1", 2, None, "999"), UnknownSection("999"))
    refused(sm, lambda: sm.hold_best("u1", 2, "standard", "999"), UnknownSection("999"))


# -- the per-row cache agrees with computing afresh --------------------------------------------------------

SEATED_IDS = [s.seat_id for s in VENUE if not s.standing]
ALL_IDS = [s.seat_id for s in VENUE]
SECTIONS_OF = {"101": ("standard",), "102": ("standard",), "201": ("premium", "standard")}
best_requests = st.one_of(
    st.tuples(st.sampled_from(["standard", "premium"]), st.none()),
    st.tuples(st.none(), st.sampled_from(["101", "102", "201", "FLA"])),
    st.tuples(st.sampled_from(["standard", "premium"]), st.sampled_from(["201"])),
)
operations = st.one_of(
    st.tuples(st.just("best"), st.sampled_from(USERS), st.integers(1, 6), best_requests),
    st.tuples(st.just("hold"), st.sampled_from(USERS), st.lists(st.sampled_from(ALL_IDS), min_size=1, max_size=4)),
    st.tuples(st.just("release"), st.integers(0, 20)),
    st.tuples(st.just("advance"), st.sampled_from([1, 300, 599, 600, 601, 1200])),
    st.tuples(st.just("expire")),
    st.tuples(st.just("confirm"), st.integers(0, 20)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("block"), st.lists(st.sampled_from(ALL_IDS), min_size=1, max_size=6, unique=True)),
    st.tuples(st.just("unblock"), st.lists(st.sampled_from(ALL_IDS), min_size=1, max_size=6, unique=True)),
)


def outcome(command: Callable[[], Hold]) -> tuple[str, Any]:
    try:
        return "held", command().seat_ids
    except BookingError as err:
        return type(err).__name__, err.args


def apply_operation(sm: SeatMap, clock: FakeClock, op: tuple[Any, ...]) -> None:
    """One command of ``operations`` (refusals are part of the game: they must change nothing)."""
    holds = sorted(sm._holds.values(), key=lambda h: h.hold_id)
    bookings = sorted(sm._bookings.values(), key=lambda b: b.booking_id)
    try:
        match op:
            case ("hold", user, seat_ids):
                sm.hold(user, seat_ids)
            case ("release", i) if holds:
                hold = holds[i % len(holds)]
                sm.release(hold.user_id, hold.hold_id)
            case ("advance", seconds):
                clock.advance(seconds)
            case ("expire",):
                sm.expire_due()
            case ("confirm", i) if holds:
                hold = holds[i % len(holds)]
                sm.confirm(hold.user_id, [hold.hold_id])
            case ("cancel", i) if bookings:
                sm.cancel(None, bookings[i % len(bookings)].booking_id)
            case ("block", seat_ids):
                sm.block(seat_ids)
            case ("unblock", seat_ids):
                sm.unblock(seat_ids)
    except BookingError:
        pass
    sm.drain_events()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operations, min_size=1, max_size=40))
def test_cached_best_available_is_the_uncached_choice(ops: list[tuple[Any, ...]]) -> None:
    """After any history of holds, releases, expiries, bookings, cancellations and blocks, ``hold_best``
    (reading the per-row cache) picks what a copy with the cache dropped picks, and what the brute force
    picks from the seats' statuses."""
    sm, clock = venue_map(max_per_user=100)
    for op in ops:
        if op[0] == "best":
            _, user, count, (category, section) = op
            check_best(sm, user, count, category, section)
        else:
            apply_operation(sm, clock, op)


def check_best(sm: SeatMap, user: str, count: int, category: str | None, section: str | None) -> None:
    uncached = copy.deepcopy(sm)
    uncached._row_best.clear()
    statuses = sm.snapshot()
    expected = outcome(lambda: uncached.hold_best(user, count, category, section))
    got = outcome(lambda: sm.hold_best(user, count, category, section))
    assert got == expected, (user, count, category, section)
    if section not in ZONES:
        categories = (category,) if category is not None else SECTIONS_OF[section or ""]
        reference = reference_best(VENUE, statuses, count, categories, section)
        assert got == (("held", reference) if reference else ("NoAdjacentSeats", (count, category or section)))
    sm.drain_events()


# -- standing zones -------------------------------------------------------------------------------------


def test_standing_holds_are_quantities_all_or_nothing() -> None:
    sm, _ = venue_map()
    first = sm.hold_best("u1", 4, None, "FLA")
    assert len(set(first.seat_ids)) == 4
    assert set(first.seat_ids) <= set(zone_places(VENUE, "FLA"))
    assert first.amount == 4 * PRICES["floor"]
    assert sm.drain_events() == [SeatsHeld(first)]
    # Two left: three are refused as a whole, and the answer says how many are free.
    refused(sm, lambda: sm.hold_best("u2", 3, None, "FLA"), NotEnoughPlaces("FLA", 3, 2))
    # A category given with a standing section is ignored: the zone decides.
    second = sm.hold_best("u2", 2, "standard", "FLA")
    assert not set(first.seat_ids) & set(second.seat_ids)
    refused(sm, lambda: sm.hold_best("u3", 1, None, "FLA"), NotEnoughPlaces("FLA", 1, 0))
    # The other zone is its own count.
    assert len(sm.hold_best("u3", 3, None, "FLB").seat_ids) == 3
    counts = sm.counts()
    assert counts[SeatStatus.HELD] == 9
    assert counts[SeatStatus.AVAILABLE] == len(VENUE) - 9


def test_blocked_places_are_not_sold_and_come_back() -> None:
    sm, _ = venue_map()
    sm.block(["FLA-1", "FLA-2", "FLA-3"])
    refused(sm, lambda: sm.hold_best("u1", 4, None, "FLA"), NotEnoughPlaces("FLA", 4, 3))
    hold = sm.hold_best("u1", 3, None, "FLA")
    assert set(hold.seat_ids) == {"FLA-4", "FLA-5", "FLA-6"}
    refused(sm, lambda: sm.block(["FLA-4"]), SeatsUnavailable(["FLA-4"]))
    sm.unblock(["FLA-2"])
    assert sm.hold_best("u2", 1, None, "FLA").seat_ids == ("FLA-2",)


def test_expired_holds_places_are_reusable() -> None:
    sm, clock = venue_map()
    old = sm.hold_best("u1", 3, None, "FLB")
    sm.drain_events()
    refused(sm, lambda: sm.hold_best("u2", 1, None, "FLB"), NotEnoughPlaces("FLB", 1, 0))
    clock.advance(TTL.total_seconds())  # expired, and not yet removed by expire_due
    # Too many for even the expired hold's places: refused with them counted, and the expired hold stays.
    refused(sm, lambda: sm.hold_best("u2", 4, None, "FLB"), NotEnoughPlaces("FLB", 4, 3))
    assert sm.next_expiry() == old.expires_at
    new = sm.hold_best("u2", 2, None, "FLB")
    assert set(new.seat_ids) <= set(old.seat_ids)
    assert sm.drain_events() == [HoldReleased(old, "expired"), SeatsHeld(new)]
    assert sm.counts()[SeatStatus.HELD] == 2
    # A paid booking's place is not reusable, an expired hold's is.
    sm.confirm("u2", [new.hold_id])
    assert len(sm.hold_best("u3", 1, None, "FLB").seat_ids) == 1
    refused(sm, lambda: sm.hold_best("u1", 1, None, "FLB"), NotEnoughPlaces("FLB", 1, 0))


def test_cancelled_booking_places_go_back_to_the_zone() -> None:
    sm, _ = venue_map()
    hold = sm.hold_best("u1", 3, None, "FLB")
    booking = sm.confirm("u1", [hold.hold_id])
    refused(sm, lambda: sm.hold_best("u2", 1, None, "FLB"), NotEnoughPlaces("FLB", 1, 0))
    sm.cancel("u1", booking.booking_id)
    assert len(sm.hold_best("u2", 3, None, "FLB").seat_ids) == 3


def test_user_cap_counts_standing_places_and_comes_before_the_zone_count() -> None:
    sm, _ = venue_map(max_per_user=5)
    sm.hold_best("u1", 3, None, "FLA")
    sm.hold_best("u1", 1, None, "101")
    refused(sm, lambda: sm.hold_best("u1", 2, None, "FLB"), SeatLimitExceeded(5, 4, 2))
    sm.hold_best("u2", 3, None, "FLB")  # FLB is now full
    refused(sm, lambda: sm.hold_best("u1", 2, None, "FLB"), SeatLimitExceeded(5, 4, 2))
    refused(sm, lambda: sm.hold_best("u1", 1, None, "FLB"), NotEnoughPlaces("FLB", 1, 0))


def _asking(sm: SeatMap, user: str, count: int, section: str) -> Callable[[], Hold]:
    return lambda: sm.hold_best(user, count, None, section)


def test_restore_rebuilds_zones_and_rows() -> None:
    sm, clock = venue_map(max_per_user=100)
    kept = sm.hold_best("u1", 2, None, "FLA")
    sm.hold_best("u2", 2, None, "FLA")  # will lapse
    paid = sm.hold_best("u3", 1, None, "FLB")
    seated_hold = sm.hold_best("u1", 3, "standard")
    booking = sm.confirm("u3", [paid.hold_id])
    sm.block(["FLA-6", "102-A-1"])
    clock.advance(300)
    sm.extend("u1", kept.hold_id)
    sm.extend("u1", seated_hold.hold_id)
    clock.advance(400)  # ``lapsing`` has expired, the extended holds have not
    holds = list(sm._holds.values())
    restored = SeatMap.restore(
        rules(max_per_user=100),
        VENUE,
        clock,
        holds=holds,
        bookings=[booking],
        blocked=["FLA-6", "102-A-1"],
        id_factory=Ids("r{}"),
    )
    assert restored.pending_events == []
    assert restored.snapshot() == sm.snapshot()
    assert restored.counts() == sm.counts()
    assert restored.live_holds() == sm.live_holds()
    assert {z: set(f) for z, f in restored._zone_free.items()} == {z: set(f) for z, f in sm._zone_free.items()}
    # The expired hold's two places plus the one never taken are free, in both.
    for seat_map in (restored, copy.deepcopy(sm)):
        refused(seat_map, _asking(seat_map, "u2", 4, "FLA"), NotEnoughPlaces("FLA", 4, 3))
        assert len(seat_map.hold_best("u2", 3, None, "FLA").seat_ids) == 3
    assert restored.hold_best("u2", 4, "standard").seat_ids == sm.hold_best("u2", 4, "standard").seat_ids
    with pytest.raises(ValueError, match="claimed by both"):
        SeatMap.restore(
            rules(), VENUE, clock, holds=[kept], bookings=[Booking("b", "u1", kept.seat_ids, (), Decimal(0), T0)]
        )


# -- a standing zone under every command: a stateful test --------------------------------------------------

MACHINE_VENUE = [*seated("101", [("A", 4, "standard")]), *standing("FLA", 8), *standing("FLB", 3)]
MACHINE_RULES = rules(max_per_user=7, max_per_request=4)
MACHINE_BY_ID = {s.seat_id: s for s in MACHINE_VENUE}
CAPACITY = {zone: len(zone_places(MACHINE_VENUE, zone)) for zone in ZONES}
MACHINE_PLACES = [s.seat_id for s in MACHINE_VENUE]


class StandingZoneMachine(RuleBasedStateMachine):
    """Holds of N places, releases, expiries, payments begun and aborted, bookings confirmed and
    cancelled, blocks and unblocks on two zones (and a seated row beside them). The model is fed by the
    events alone; it predicts every standing hold's outcome, including ``NotEnoughPlaces``'s count."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(T0)
        self.sm = SeatMap(MACHINE_RULES, MACHINE_VENUE, self.clock, id_factory=Ids("id{:04d}"))
        self.holds: dict[str, Hold] = {}  # stored (live or expired)
        self.bookings: dict[str, Booking] = {}
        self.blocked: set[str] = set()
        self.payments: list[str] = []

    # -- the model -----------------------------------------------------------------------------------

    def live(self) -> list[Hold]:
        return [h for h in self.holds.values() if self.clock.now < h.expires_at]

    def owners(self) -> Counter[str]:
        """How many claims each place has: live holds, bookings, blocks (at most one, or it is a bug)."""
        claims = [s for h in self.live() for s in h.seat_ids]
        claims += [s for b in self.bookings.values() for s in b.seat_ids]
        return Counter([*claims, *self.blocked])

    def free(self, zone: str) -> list[str]:
        """The zone's places no live hold, booking or block claims: what a customer may get."""
        taken = self.owners()
        return [s for s in zone_places(MACHINE_VENUE, zone) if not taken[s]]

    def unstored(self, zone: str) -> set[str]:
        """The zone's places no stored hold (expired included), booking or block claims."""
        stored = {s for h in self.holds.values() for s in h.seat_ids}
        booked = {s for b in self.bookings.values() for s in b.seat_ids}
        return set(zone_places(MACHINE_VENUE, zone)) - stored - booked - self.blocked

    def user_seats(self, user: str) -> int:
        held = sum(len(h.seat_ids) for h in self.live() if h.user_id == user)
        return held + sum(len(b.seat_ids) for b in self.bookings.values() if b.user_id == user)

    def apply(self, events: list[Event]) -> None:
        now = self.clock.now
        for event in events:
            match event:
                case SeatsHeld(hold):
                    taken = self.owners()
                    assert not any(taken[s] for s in hold.seat_ids), f"{hold.seat_ids} already claimed"
                    assert all(s not in {x for h in self.holds.values() for x in h.seat_ids} for s in hold.seat_ids)
                    assert hold.amount == sum((MACHINE_BY_ID[s].price for s in hold.seat_ids), Decimal(0))
                    self.holds[hold.hold_id] = hold
                case HoldReleased(hold, reason):
                    assert self.holds.pop(hold.hold_id) == hold
                    assert (hold.expires_at <= now) == (reason == "expired")
                case HoldExtended(hold):
                    self.replace_holds([hold])
                case PaymentStarted(payment):
                    self.replace_holds(payment.holds)
                    self.payments.append(payment.payment_key)
                case PaymentAborted(_, holds, _):
                    self.replace_holds(holds)
                case BookingConfirmed(booking):
                    for hold_id in booking.hold_ids:
                        assert self.holds.pop(hold_id).is_live(now)
                    self.bookings[booking.booking_id] = booking
                case BookingCancelled(booking, _, _):
                    del self.bookings[booking.booking_id]
                case SeatsBlocked(seat_ids):
                    assert not any(self.owners()[s] for s in seat_ids)
                    self.blocked.update(seat_ids)
                case SeatsUnblocked(seat_ids):
                    assert set(seat_ids) <= self.blocked
                    self.blocked.difference_update(seat_ids)
                case _:
                    raise AssertionError(f"unexpected event {event!r}")

    def replace_holds(self, holds: Iterable[Hold]) -> None:
        for hold in holds:
            assert self.holds[hold.hold_id].seat_ids == hold.seat_ids
            self.holds[hold.hold_id] = hold

    def run(self, command: Callable[[], Any], expected: BookingError | None = None, *, loose: bool = False) -> Any:
        """Run ``command``. A refusal must change nothing, and be ``expected`` (same type and arguments;
        any ``BookingError`` when ``loose``); a success must be expected, and its events feed the model."""
        before = state(self.sm)
        refusal: BookingError | None = None
        try:
            result = command()
        except BookingError as err:
            refusal = err
        if refusal is not None:
            wanted = (type(expected), getattr(expected, "args", None))
            assert loose or (type(refusal), refusal.args) == wanted, (refusal, expected)
            assert state(self.sm) == before
            return None
        assert loose or expected is None, f"expected {expected!r}, got {result!r}"
        self.apply(self.sm.drain_events())
        return result

    def pick_hold(self, data: st.DataObject) -> Hold | None:
        holds = sorted(self.holds.values(), key=lambda h: h.hold_id)
        return data.draw(st.sampled_from(holds)) if holds else None

    # -- rules ---------------------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), zone=st.sampled_from(ZONES), count=st.integers(1, 4))
    def hold_places(self, user: str, zone: str, count: int) -> None:
        already = self.user_seats(user)
        free = self.free(zone)
        expected: BookingError | None = None
        if already + count > MACHINE_RULES.max_seats_per_user:
            expected = SeatLimitExceeded(MACHINE_RULES.max_seats_per_user, already, count)
        elif len(free) < count:
            expected = NotEnoughPlaces(zone, count, len(free))
        hold = self.run(lambda: self.sm.hold_best(user, count, None, zone), expected)
        if hold is not None:
            assert len(hold.seat_ids) == count
            assert set(hold.seat_ids) <= set(free)

    @rule(user=st.sampled_from(USERS), count=st.integers(1, 3))
    def hold_seats_beside(self, user: str, count: int) -> None:
        self.run(lambda: self.sm.hold_best(user, count, None, "101"), loose=True)

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        hold = self.pick_hold(data)
        if hold is not None:
            self.run(lambda: self.sm.release(hold.user_id, hold.hold_id), loose=True)

    @rule(seconds=st.sampled_from([1, 60, 300, 599, 600, 700]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def expire_due(self) -> None:
        due = {h.hold_id for h in self.holds.values() if h.expires_at <= self.clock.now}
        assert {h.hold_id for h in self.run(self.sm.expire_due)} == due

    @rule(user=st.sampled_from(USERS))
    def begin_payment(self, user: str) -> None:
        self.run(lambda: self.sm.begin_payment(user), loose=True)

    @precondition(lambda self: bool(self.payments))
    @rule(data=st.data())
    def abort_payment(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.payments))
        self.run(lambda: self.sm.abort_payment(key, "declined"))

    @rule(data=st.data(), paid=st.booleans())
    def confirm(self, data: st.DataObject, paid: bool) -> None:
        hold = self.pick_hold(data)
        if hold is not None:
            key = hold.payment_key if paid else None
            pending = [h.hold_id for h in self.holds.values() if key is not None and h.payment_key == key]
            self.run(lambda: self.sm.confirm(hold.user_id, pending or [hold.hold_id], payment_key=key), loose=True)

    @precondition(lambda self: bool(self.bookings))
    @rule(data=st.data(), operator=st.booleans())
    def cancel(self, data: st.DataObject, operator: bool) -> None:
        booking = data.draw(st.sampled_from(sorted(self.bookings.values(), key=lambda b: b.booking_id)))
        self.run(lambda: self.sm.cancel(None if operator else booking.user_id, booking.booking_id))

    @rule(places=st.lists(st.sampled_from(MACHINE_PLACES), min_size=1, max_size=3, unique=True))
    def block(self, places: list[str]) -> None:
        taken = [s for s in places if any(s in h.seat_ids for h in self.live()) or s in self.booked_places()]
        self.run(lambda: self.sm.block(places), SeatsUnavailable(taken) if taken else None)

    @precondition(lambda self: bool(self.blocked))
    @rule(data=st.data())
    def unblock(self, data: st.DataObject) -> None:
        places = data.draw(st.lists(st.sampled_from(sorted(self.blocked)), min_size=1, unique=True))
        self.run(lambda: self.sm.unblock(places))

    def booked_places(self) -> set[str]:
        return {s for b in self.bookings.values() for s in b.seat_ids}

    # -- invariants ----------------------------------------------------------------------------------

    @invariant()
    def no_place_has_two_owners(self) -> None:
        assert max(self.owners().values(), default=0) <= 1
        live = [s for h in self.sm.live_holds() for s in h.seat_ids]
        booked = [s for user in USERS for b in self.sm.bookings_of(user) for s in b.seat_ids]
        claims = Counter([*live, *booked, *self.sm._blocked])
        assert max(claims.values(), default=0) <= 1, claims.most_common(3)

    @invariant()
    def zones_never_exceed_capacity(self) -> None:
        snapshot = self.sm.snapshot()
        for zone in ZONES:
            statuses = Counter(snapshot[s] for s in zone_places(MACHINE_VENUE, zone))
            claimed = statuses[SeatStatus.HELD] + statuses[SeatStatus.BOOKED] + statuses[SeatStatus.BLOCKED]
            assert claimed <= CAPACITY[zone]
            assert claimed + statuses[SeatStatus.AVAILABLE] == CAPACITY[zone]

    @invariant()
    def counts_add_up(self) -> None:
        counts = self.sm.counts()
        assert sum(counts.values()) == len(MACHINE_VENUE)
        assert counts == {status: Counter(self.sm.snapshot().values())[status] for status in SeatStatus}
        assert all(n >= 0 for n in counts.values())

    @invariant()
    def free_places_match_the_model(self) -> None:
        snapshot = self.sm.snapshot()
        for zone in ZONES:
            available = [s for s in zone_places(MACHINE_VENUE, zone) if snapshot[s] is SeatStatus.AVAILABLE]
            assert available == self.free(zone)
            assert set(self.sm._zone_free[zone]) == self.unstored(zone)
        assert self.sm.pending_events == []


StandingZoneMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_standing_zone_state_machine = StandingZoneMachine.TestCase


def test_the_reference_agrees_with_a_fresh_map() -> None:
    """The brute force is no echo of the code it checks: on a fresh venue it gives the choices the tests
    above spell out by hand."""
    fresh = {s.seat_id: SeatStatus.AVAILABLE for s in VENUE}
    assert reference_best(VENUE, fresh, 2, ("standard",), "101") == ("101-B-4", "101-B-5")
    assert reference_best(VENUE, fresh, 3, ("premium", "standard"), "201") == ("201-C-3", "201-C-4", "201-C-5")
    assert reference_best(VENUE, fresh, 4, ("standard",), None) == ("101-B-3", "101-B-4", "101-B-5", "101-B-6")
