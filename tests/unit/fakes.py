"""In-memory stand-ins for what a show actor talks to, so that unit tests run it without PostgreSQL or Redis.

``MemoryJournals`` is the journal port (``actors/journal.py``) kept in dicts: the shows "table" with each
show's epoch, placement, status, holds, bookings and blocked seats, which every journal made from it shares
(two entities on one ``MemoryJournals`` are two copies of a show on one database). An activation bumps the
epoch and loads the rows; a commit is refused with ``StaleEpoch`` once a newer activation took the epoch,
and otherwise applies the batch's events to the rows all at once, as one transaction. Tests can hold
commits at a gate (to see what queues behind one in flight) and make the next commit fail with an outcome
unknown to the caller. ``QuietPublisher`` is a seat-map publisher that publishes nothing. ``FakeClock`` and
``Ids`` are a seat map's clock and id factory, moved and counted by the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis.asyncio as aioredis

from actors import seat_map_core as sm
from actors.errors import Moved, StaleEpoch, UnknownShow
from actors.journal import CommitExtras, StoredShow
from actors.redis_publisher import SeatMapPublisher, SnapshotSource
from actors.seat_map_core import Admission, Booking, Event, Hold, SeatSpec


class FakeClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Ids:
    """Deterministic id factory: ``template`` formatted with 1, 2, ..."""

    def __init__(self, template: str = "id-{}") -> None:
        self.template = template
        self.issued = 0

    def __call__(self) -> str:
        self.issued += 1
        return self.template.format(self.issued)


def seats(count: int, category: str = "standard", price: Decimal = Decimal(10)) -> tuple[SeatSpec, ...]:
    """One row of ``count`` seats, A1..An."""
    return tuple(SeatSpec(f"A{n}", "A", 0, n, category, price) for n in range(1, count + 1))


@dataclass(slots=True)
class ShowRow:
    """A show as the journal stores it."""

    starts_at: datetime
    seats: tuple[SeatSpec, ...]
    epoch: int = 0
    own_actor: bool = False
    status: str = "on_sale"
    hold_ttl: timedelta = timedelta(minutes=10)
    holds: dict[str, Hold] = field(default_factory=dict)
    bookings: dict[str, Booking] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    reentry: bool = False
    admissions: dict[tuple[str, int], Admission] = field(default_factory=dict)  # (booking, entry): the key
    conflicts: list[sm.EntryConflict] = field(default_factory=list)

    def apply(self, event: Event) -> None:
        match event:
            case sm.SeatsHeld(hold=h) | sm.HoldExtended(hold=h):
                self.holds[h.hold_id] = h
            case sm.HoldReleased(hold=h):
                self.holds.pop(h.hold_id, None)
            case sm.PaymentStarted(payment=p):
                self.holds.update((h.hold_id, h) for h in p.holds)
            case sm.PaymentAborted(holds=holds):
                self.holds.update((h.hold_id, h) for h in holds)
            case sm.BookingConfirmed(booking=b):
                self.bookings[b.booking_id] = b
                for hold_id in b.hold_ids:
                    self.holds.pop(hold_id, None)
            case sm.BookingCancelled(booking=b):
                self.bookings.pop(b.booking_id, None)
            case sm.SeatsBlocked(seat_ids=ids):
                self.blocked.update(ids)
            case sm.SeatsUnblocked(seat_ids=ids):
                self.blocked.difference_update(ids)
            case sm.ShowCancelled():
                self.status = "cancelled"
            case sm.Admitted(admission=a):
                key = (a.booking_id, a.entry)
                assert key not in self.admissions, f"{key} admitted twice (the primary key refuses it)"
                self.admissions[key] = a
            case sm.Exited(admission=a):
                self.admissions[(a.booking_id, a.entry)] = a
            case sm.EntryConflict():
                self.conflicts.append(event)
            case _:
                raise AssertionError(f"the fake journal does not know {event!r}")


@dataclass(frozen=True, slots=True)
class Commit:
    """One transaction the fake committed."""

    show_id: str
    epoch: int
    events: tuple[Event, ...]
    extras: CommitExtras
    close_show: bool


class MemoryJournals:
    """The in-memory database, the ``Journals`` factory over it, and the ``Journal`` of every show on it."""

    def __init__(self) -> None:
        self.shows: dict[str, ShowRow] = {}
        self.commits: list[Commit] = []
        self.activations: list[tuple[str, int]] = []  # (show, epoch taken)
        self.discarded = 0  # connections a journal was told to drop
        self.opened = 0  # shared journals opened (a host's pool)
        self.gate: asyncio.Event | None = None  # set: commits wait for it before writing
        self._failures = 0

    def add_show(self, show_id: str, starts_in: timedelta = timedelta(days=1), seat_count: int = 10) -> ShowRow:
        row = ShowRow(datetime.now(UTC) + starts_in, seats(seat_count))
        self.shows[show_id] = row
        return row

    def fail_next_commits(self, count: int = 1) -> None:
        """The next ``count`` commits write nothing and raise as a broken connection would."""
        self._failures = count

    def hold_commits(self) -> asyncio.Event:
        """Commits wait until the returned event is set."""
        self.gate = asyncio.Event()
        return self.gate

    # -- Journals -------------------------------------------------------------------------------------

    def own(self) -> MemoryJournals:
        return self  # every journal on this database behaves the same

    def shared(self, connections: int) -> MemoryHostJournals:
        return MemoryHostJournals(self)

    # -- Journal ------------------------------------------------------------------------------------

    async def activate(self, show_id: str, own_actor: bool | None = None) -> StoredShow:
        await asyncio.sleep(0)  # a real activation is a round trip
        row = self.shows.get(show_id)
        if row is None:
            raise UnknownShow(show_id)
        if own_actor is not None and row.own_actor != own_actor:
            raise Moved(show_id, row.own_actor)
        row.epoch += 1
        self.activations.append((show_id, row.epoch))
        return StoredShow(
            show_id=show_id,
            epoch=row.epoch,
            starts_at=row.starts_at,
            hold_ttl=row.hold_ttl,
            status=row.status,
            sales_open_at=None,
            sales_close_at=None,
            seats=row.seats,
            holds=tuple(row.holds.values()),
            bookings=tuple(row.bookings.values()),
            blocked=tuple(sorted(row.blocked)),
            reentry=row.reentry,
            admissions=tuple(row.admissions.values()),
        )

    async def commit(
        self,
        show_id: str,
        epoch: int,
        events: Sequence[Event],
        extras: CommitExtras | None = None,
        close_show: bool = False,
    ) -> None:
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        if self._failures:
            self._failures -= 1
            raise ConnectionError("the fake database dropped the connection")
        row = self.shows[show_id]
        if row.epoch != epoch:
            raise StaleEpoch(show_id, epoch, row.epoch)
        for event in events:
            row.apply(event)
        if close_show and row.status == "on_sale":
            row.status = "closed"
        self.commits.append(Commit(show_id, epoch, tuple(events), extras or CommitExtras(), close_show))

    async def place(self, show_id: str, epoch: int, own_actor: bool) -> bool:
        row = self.shows[show_id]
        if row.epoch != epoch:
            return False
        row.own_actor = own_actor
        return True

    async def discard_connection(self) -> None:
        self.discarded += 1


class MemoryHostJournals:
    """What a host's shows share (the ``SharedJournals`` port): here only the database."""

    def __init__(self, db: MemoryJournals) -> None:
        self._db = db

    @property
    def transactions(self) -> int:
        return len(self._db.commits)

    @property
    def batches(self) -> int:
        return len(self._db.commits)

    async def open(self) -> None:
        self._db.opened += 1

    def journal(self) -> MemoryJournals:
        return self._db


class QuietPublisher(SeatMapPublisher):
    """A seat-map publisher that sends nothing anywhere and remembers what it was told."""

    def __init__(self, show_id: str = "show") -> None:
        super().__init__(aioredis.Redis(), "test:", show_id)  # never connects: nothing here writes
        self.published: list[Event] = []
        self.dropped = False
        self._stop = asyncio.Event()

    def committed(self, events: Sequence[Event]) -> None:
        self.published.extend(events)

    async def run(self, source: SnapshotSource, interval: float) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()

    async def drop(self) -> None:
        self.dropped = True
        self._stop.set()
