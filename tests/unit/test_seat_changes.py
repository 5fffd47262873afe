"""The seat-change protocol (``actors.seat_changes``): events to per-seat changes, sequence numbers and
versions, the wire format, countdown ticks; the publisher's ordering of deltas and resets; the bounded
client mailbox of the stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sse_starlette import ServerSentEvent

from actors.redis_publisher import SeatMapPublisher, publisher_redis
from actors.seat_changes import (
    SEQ_PER_EPOCH,
    Delta,
    HoldChange,
    Reset,
    SeatChange,
    SeatSequencer,
    countdown_seconds,
    follows_on,
    is_continuation,
    next_countdown,
    parse_message,
    seat_changes,
)
from actors.seat_map_core import Event, SeatMap, SeatSpec, SeatStatus, ShowRules
from api.routes.stream import SeatStreamSession
from persistence.catalog import ShowInfo
from seat_views.reader import SeatMapView, SeatView
from seat_views.stream import Published, Subscription
from tests.unit.fakes import FakeClock, Ids

T0 = datetime(2030, 1, 1, 18, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def seat_map(clock: FakeClock) -> SeatMap:
    seats = [SeatSpec(f"A{n}", "A", 0, n, "standard", Decimal(100)) for n in range(1, 7)]
    rules = ShowRules("show-1", T0 + timedelta(hours=2), TTL, max_seats_per_user=6)
    return SeatMap(rules, seats, clock, id_factory=Ids())


def by_seat(events: list[Event]) -> dict[str, tuple[SeatStatus, str | None, str | None]]:
    seats, _ = seat_changes(events)
    return {seat: (state.status, state.hold_id, state.owner) for seat, state in seats.items()}


# -- events to changes ----------------------------------------------------------------------------------


def test_each_event_becomes_the_seats_final_state(seat_map: SeatMap) -> None:
    hold = seat_map.hold("alice", ["A1", "A2"])
    assert by_seat(seat_map.drain_events()) == {
        "A1": (SeatStatus.HELD, hold.hold_id, "alice"),
        "A2": (SeatStatus.HELD, hold.hold_id, "alice"),
    }
    seat_map.confirm("alice", [hold.hold_id])
    assert by_seat(seat_map.drain_events()) == {
        "A1": (SeatStatus.BOOKED, None, "alice"),
        "A2": (SeatStatus.BOOKED, None, "alice"),
    }
    seat_map.block(["A5"])
    assert by_seat(seat_map.drain_events()) == {"A5": (SeatStatus.BLOCKED, None, None)}
    seat_map.unblock(["A5"])
    assert by_seat(seat_map.drain_events()) == {"A5": (SeatStatus.AVAILABLE, None, None)}


def test_a_batch_keeps_only_the_last_state_of_a_seat_and_each_holds_last_fate(
    seat_map: SeatMap, clock: FakeClock
) -> None:
    first = seat_map.hold("alice", ["A3"])
    seat_map.drain_events()
    clock.now += TTL  # alice's hold lapses; bob's hold of the same seat removes it first
    second = seat_map.hold("bob", ["A3"])
    extended = seat_map.extend("bob", second.hold_id)
    seats, holds = seat_changes(seat_map.drain_events())
    assert list(seats) == ["A3"]
    assert seats["A3"].status is SeatStatus.HELD
    assert seats["A3"].owner == "bob"
    assert seats["A3"].expires_at == extended.expires_at.timestamp()
    assert [(h.hold_id, h.owner, h.status) for h in holds] == [
        (first.hold_id, "alice", "expired"),
        (second.hold_id, "bob", "active"),
    ]


def test_a_confirmation_names_the_holds_and_keeps_seats_seen_earlier_in_the_batch(seat_map: SeatMap) -> None:
    hold = seat_map.hold("carol", ["A4", "A5"])
    seat_map.confirm("carol", [hold.hold_id])
    _, holds = seat_changes(seat_map.drain_events())
    assert holds == [HoldChange(hold.hold_id, "carol", ("A4", "A5"), "confirmed")]


def test_release_expiry_and_closing_sales_free_the_seats(seat_map: SeatMap, clock: FakeClock) -> None:
    released = seat_map.hold("alice", ["A1"])
    seat_map.release("alice", released.hold_id)
    lapsing = seat_map.hold("bob", ["A2"])
    clock.now += TTL
    seat_map.expire_due()
    closing = seat_map.hold("carol", ["A3"])
    seat_map.close_sales()
    seats, holds = seat_changes(seat_map.drain_events())
    assert {seat: state.status for seat, state in seats.items()} == {
        "A1": SeatStatus.AVAILABLE,
        "A2": SeatStatus.AVAILABLE,
        "A3": SeatStatus.AVAILABLE,
    }
    assert [(h.hold_id, h.status) for h in holds] == [
        (released.hold_id, "released"),
        (lapsing.hold_id, "expired"),
        (closing.hold_id, "closed"),
    ]


# -- numbering ------------------------------------------------------------------------------------------


def test_no_delta_before_the_epoch_is_known(seat_map: SeatMap) -> None:
    sequencer = SeatSequencer()
    seat_map.hold("alice", ["A1"])
    assert sequencer.delta(seat_map.drain_events()) is None


def test_sequence_and_per_seat_versions_only_grow_and_chain(seat_map: SeatMap) -> None:
    sequencer = SeatSequencer()
    reset = sequencer.reset(7, {"held": {}, "booked": [], "blocked": []})
    assert reset.seq == 7 * SEQ_PER_EPOCH
    seen: dict[str, list[int]] = {}
    last = reset.seq
    hold = seat_map.hold("alice", ["A1", "A2"])
    batches = [seat_map.drain_events()]
    seat_map.release("alice", hold.hold_id)
    batches.append(seat_map.drain_events())
    seat_map.hold("bob", ["A2", "A3"])
    batches.append(seat_map.drain_events())
    for events in batches:
        delta = sequencer.delta(events)
        assert delta is not None
        assert delta.prev == last
        assert delta.seq == last + 1
        assert is_continuation(delta, last)
        last = delta.seq
        for change in delta.changes:
            assert change.version == delta.seq
            seen.setdefault(change.seat_id, []).append(change.version)
    assert all(versions == sorted(set(versions)) for versions in seen.values())
    assert seen["A2"] == [reset.seq + 1, reset.seq + 2, reset.seq + 3]
    assert sequencer.version_of("A2") == reset.seq + 3
    assert sequencer.version_of("A6") == reset.seq  # untouched since the reset


def test_a_new_epoch_restarts_above_everything_before() -> None:
    sequencer = SeatSequencer()
    sequencer.reset(3, {})
    sequencer.seq += 12345  # many deltas later
    old = sequencer.seq
    reset = sequencer.reset(4, {"held": {}})
    assert reset.prev == old
    assert reset.seq == 4 * SEQ_PER_EPOCH > old
    assert sequencer.versions == {}
    assert is_continuation(reset, 0)  # a reset stands on its own


def test_a_run_follows_on_only_without_a_hole() -> None:
    deltas = [Delta(1, n, n - 1, ()) for n in range(5, 9)]
    assert follows_on(deltas, 4)
    assert follows_on([], 4)
    assert not follows_on(deltas, 3)  # the reader misses seq 4
    assert not follows_on([deltas[0], *deltas[2:]], 4)  # seq 6 was lost
    reset = Reset(2, 2 * SEQ_PER_EPOCH, 99, {})
    assert follows_on([deltas[0], reset, Delta(2, reset.seq + 1, reset.seq, ())], 4)  # a reset re-syncs


# -- the wire -------------------------------------------------------------------------------------------


def test_messages_round_trip_and_the_public_form_has_no_owner_or_hold(seat_map: SeatMap) -> None:
    sequencer = SeatSequencer()
    sequencer.reset(1, {})
    hold = seat_map.hold("alice-user-id", ["A1"])
    delta = sequencer.delta(seat_map.drain_events(), at=12.5)
    assert delta is not None
    assert parse_message(delta.to_json()) == delta
    public = delta.public_json("show-1")
    assert "alice-user-id" not in public
    assert hold.hold_id not in public
    assert json.loads(public) == {
        "show_id": "show-1",
        "seq": delta.seq,
        "epoch": 1,
        "changes": [{"seat": "A1", "status": "held", "version": delta.seq}],
    }
    reset = Reset(2, 2 * SEQ_PER_EPOCH, delta.seq, {"held": {"A1": 1.5}, "booked": [], "blocked": []}, 3.0)
    assert parse_message(reset.to_json()) == reset


@pytest.mark.parametrize(
    "raw", ["{}", "[]", '{"type": "delta"}', '{"type": "x", "epoch": 1, "seq": 1, "prev": 0, "at": 0}']
)
def test_malformed_messages_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="seat-change message"):
        parse_message(raw)


# -- countdown ------------------------------------------------------------------------------------------


def ticks(seconds_left: float) -> list[int]:
    """The ``seconds_left`` a hold shows at each tick from now until it expires."""
    shown = [countdown_seconds(seconds_left)]
    while (delay := next_countdown(seconds_left)) > 0:
        seconds_left -= delay
        shown.append(countdown_seconds(seconds_left))
    return shown


def test_countdown_every_ten_seconds_then_every_second_in_the_last_minute() -> None:
    assert ticks(95.3) == [96, 86, 76, 66, 60, *range(59, -1, -1)]
    assert ticks(2.4) == [3, 2, 1, 0]
    assert ticks(60.0) == list(range(60, -1, -1))
    assert next_countdown(0.0) == 0.0
    assert next_countdown(-3) == 0.0


def test_countdown_is_steady_when_timers_fire_a_little_late_or_early() -> None:
    assert countdown_seconds(1.999) == 2
    assert countdown_seconds(2.01) == 2
    assert next_countdown(2.01) == pytest.approx(1.01)


# -- the publisher (Redis faked) ------------------------------------------------------------------------


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.commands: list[tuple[str, Any]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def xadd(self, name: str, fields: dict[str, str], id: str, maxlen: int, approximate: bool) -> None:
        self.commands.append(("xadd", (id, json.loads(fields["m"]))))

    def publish(self, channel: str, payload: str) -> None:
        self.commands.append(("publish", json.loads(payload)))

    def expire(self, name: str, seconds: int) -> None:
        self.commands.append(("expire", seconds))

    async def execute(self) -> None:
        if self.redis.down:
            raise ConnectionError("down")
        self.redis.log.extend(self.commands)


class FakeRedis:
    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.down = False

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)

    async def set(self, key: str, payload: str, ex: int) -> None:
        if self.down:
            raise ConnectionError("down")
        self.log.append(("set", json.loads(payload)))


def published(redis: FakeRedis) -> list[tuple[str, int, int]]:
    return [(m["type"], m["seq"], m["prev"]) for kind, m in redis.log if kind == "publish"]


async def test_publisher_sends_a_reset_first_then_chained_deltas_and_snapshots_carry_seq(seat_map: SeatMap) -> None:
    publisher = SeatMapPublisher(publisher_redis("redis://127.0.0.1:1"), "p:", "show-1")
    redis = FakeRedis()
    publisher._redis = redis  # type: ignore[assignment]
    epoch = 5
    lock = asyncio.Lock()

    async def source() -> dict[str, Any]:
        async with lock:
            return {"epoch": epoch, "held": {}, "booked": [], "blocked": [], "sales_closed": False}

    seat_map.hold("alice", ["A1"])
    publisher.committed(seat_map.drain_events())  # before the epoch is known: covered by the reset
    await publisher.flush(source)
    seat_map.hold("bob", ["A2"])
    publisher.committed(seat_map.drain_events())
    seat_map.hold("carol", ["A3"])
    publisher.committed(seat_map.drain_events())
    await publisher.flush(source, changed=True)
    base = epoch * SEQ_PER_EPOCH
    assert published(redis) == [("reset", base, 0), ("delta", base + 1, base), ("delta", base + 2, base + 1)]
    xadds = [m[0] for kind, m in redis.log if kind == "xadd"]
    assert xadds == [f"{base}-0", f"{base + 1}-0", f"{base + 2}-0"]
    snapshots = [m for kind, m in redis.log if kind == "set"]
    assert [s["seq"] for s in snapshots] == [base, base + 2]
    assert snapshots[-1]["versions"] == {"A2": base + 1, "A3": base + 2}
    assert snapshots[-1]["base"] == base

    # A new activation (epoch): pending deltas are covered by the reset, which restarts above them.
    redis.log.clear()
    seat_map.hold("alice", ["A4"])
    publisher.committed(seat_map.drain_events())
    epoch = 6
    await publisher.flush(source)
    assert published(redis) == [("reset", 6 * SEQ_PER_EPOCH, base + 3)]


async def test_publisher_drops_what_redis_refused_and_the_next_delta_shows_the_hole(seat_map: SeatMap) -> None:
    publisher = SeatMapPublisher(publisher_redis("redis://127.0.0.1:1"), "p:", "show-1")
    redis = FakeRedis()
    publisher._redis = redis  # type: ignore[assignment]

    async def source() -> dict[str, Any]:
        return {"epoch": 1, "held": {}, "booked": [], "blocked": []}

    await publisher.flush(source)
    redis.down = True
    seat_map.hold("alice", ["A1"])
    publisher.committed(seat_map.drain_events())
    await publisher.flush(source)  # bookings go on; nothing reaches Redis and nothing is raised
    redis.down = False
    seat_map.hold("bob", ["A2"])
    publisher.committed(seat_map.drain_events())
    await publisher.flush(source)
    base = SEQ_PER_EPOCH
    assert published(redis) == [("reset", base, 0), ("delta", base + 2, base + 1)]


# -- the stream's mailbox -------------------------------------------------------------------------------


async def test_a_slow_clients_mailbox_is_bounded_and_flags_the_overflow() -> None:
    sub = Subscription(limit=3)
    items = [Published(Delta(1, n, n - 1, ())) for n in range(1, 6)]
    for item in items[:3]:
        sub.push(item)
    assert not sub.overflowed
    sub.push(items[3])
    assert sub.overflowed
    assert sub.pop() is None  # what was queued is dropped: the client re-syncs from a snapshot
    sub.push(items[4])
    assert sub.pop() == items[4]
    await asyncio.wait_for(sub.wait(5), timeout=1)  # returns at once: something happened since `seen`
    sub.seen()
    sub.set_live(True)
    await asyncio.wait_for(sub.wait(5), timeout=1)  # so does a change of the subscription's state


# -- one client's stream (the fan-out and Redis faked) --------------------------------------------------


def seat_view(seq: int | None, statuses: dict[str, str]) -> SeatMapView:
    show = ShowInfo("show-1", "m", "t", "s", T0, {"standard": Decimal(100)}, 600, "on_sale")
    seats = tuple(
        SeatView(seat, "A", n, "standard", Decimal(100), status, None if seq is None else seq)
        for n, (seat, status) in enumerate(statuses.items(), start=1)
    )
    return SeatMapView(show, seats, "database" if seq is None else "cache", 0.0, seq, None if seq is None else 1)


def delta(seq: int, seat: str, status: str = "held", prev: int | None = None) -> Delta:
    return Delta(1, seq, seq - 1 if prev is None else prev, (SeatChange(seat, SeatStatus(status), seq),))


class FakeStream:
    """What ``SeatStreamSession`` needs of ``SeatMapStream``: a mailbox, reads, the change log."""

    def __init__(self) -> None:
        self.sub = Subscription(limit=4)
        self.sub.live = True
        self.seq: int | None = 10
        self.statuses = {"A1": "available", "A2": "available"}
        self.log: list[Delta] = []
        self.log_readable = True
        self.reader = self

    @contextlib.asynccontextmanager
    async def watch(self, show_id: str) -> AsyncIterator[Subscription]:
        yield self.sub

    async def read(self, show_id: str, max_age: float) -> SeatMapView:
        return seat_view(self.seq, self.statuses)

    async def changes_after(self, show_id: str, seq: int, *, seq_in_log: bool = False) -> list[Delta] | None:
        if not self.log_readable or (seq_in_log and seq not in {m.seq for m in self.log}):
            return None
        after = [m for m in self.log if m.seq > seq]
        return after if follows_on(after, seq) else None

    async def own_holds(self, show_id: str, user_id: str, also: Any = ()) -> list[Any]:
        return []

    def send(self, *deltas: Delta, log: bool = True) -> None:
        for d in deltas:
            if log:
                self.log.append(d)
            self.sub.push(Published(d, d.public_json("show-1")))


async def next_events(events: AsyncIterator[ServerSentEvent], count: int) -> list[tuple[str | None, str | None]]:
    got = []
    for _ in range(count):
        event = await asyncio.wait_for(anext(events), timeout=3)
        got.append((event.event, event.id))
    return got


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeStream, AsyncIterator[ServerSentEvent]]]:
    stream = FakeStream()
    events = SeatStreamSession(stream, "show-1", None, None).events(None)  # type: ignore[arg-type]
    assert (await anext(events)).retry is not None
    assert await next_events(events, 1) == [("snapshot", "10")]
    yield stream, events
    await events.aclose()  # type: ignore[attr-defined]


async def test_stream_forwards_in_order_skips_repeats_and_fills_holes_from_the_log(
    fake: tuple[FakeStream, AsyncIterator[ServerSentEvent]],
) -> None:
    stream, events = fake
    stream.send(delta(11, "A1"))
    assert await next_events(events, 1) == [("seats", "11")]
    stream.sub.push(Published(delta(11, "A1")))  # a repeat: nothing
    stream.send(delta(12, "A2"), log=True)
    stream.log.append(delta(13, "A1", "available"))  # lost on the way, but in the log
    stream.send(delta(14, "A2", "available"))
    assert await next_events(events, 3) == [("seats", "12"), ("seats", "13"), ("seats", "14")]


async def test_stream_resyncs_a_slow_client_and_one_that_missed_changes(
    fake: tuple[FakeStream, AsyncIterator[ServerSentEvent]],
) -> None:
    stream, events = fake
    stream.send(*(delta(n, "A1") for n in range(11, 16)))  # one more than the mailbox holds
    stream.seq = 15
    assert await next_events(events, 2) == [("resync", None), ("snapshot", "15")]
    stream.log_readable = False
    stream.send(delta(17, "A2", prev=16))  # 16 never arrived and the log cannot help
    stream.seq = 17
    assert await next_events(events, 2) == [("resync", None), ("snapshot", "17")]
    stream.log_readable = True  # out of step until now: the next change brings it back in step
    stream.send(delta(18, "A1"))
    assert await next_events(events, 2) == [("snapshot", "17"), ("seats", "18")]
    stream.send(delta(19, "A2"))
    assert await next_events(events, 1) == [("seats", "19")]


async def test_stream_polls_while_redis_is_down_and_gets_back_in_step(
    fake: tuple[FakeStream, AsyncIterator[ServerSentEvent]],
) -> None:
    stream, events = fake
    stream.seq = None  # Redis down: reads come from PostgreSQL
    stream.statuses = {"A1": "held", "A2": "available"}
    stream.sub.set_live(False)
    assert await next_events(events, 1) == [("snapshot", "")]
    stream.seq = 20
    stream.sub.set_live(True)
    assert await next_events(events, 1) == [("snapshot", "20")]
    stream.send(delta(21, "A2"), delta(22, "A1", "available"))
    assert await next_events(events, 2) == [("seats", "21"), ("seats", "22")]
