"""The waiting room as the API uses it: join, poll, the fairness record, and the admission check of a hold.

Built for the crowd: a join is one cheap write (``persistence.waiting_rooms.join``) and a poll is a read of
this process's memory. Each process keeps the rooms it has been asked about (the row, re-read at most once
a ``refresh_seconds``) and the entries (immutable once numbered, but for their admission time, read once
more when the watermark passes them): an entry's state and the people ahead of it follow from its number
and the room's watermark, so no poll counts anything and none goes to the show's actor. A hold on a show
with a room asks ``check_admitted``, which re-reads before it refuses, so a fresh admission is never
refused for a stale cache.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from cachetools import LRUCache
from pydantic import Field

from actors.errors import UnknownShow
from persistence import catalog
from persistence import waiting_rooms as store
from persistence.database import Database
from persistence.waiting_rooms import Entry, Room
from waiting_room import fairness
from waiting_room.errors import NotAdmitted, NotInQueue, NoWaitingRoom
from waiting_room.estimates import admissions_per_minute, chance_of_ticket, estimated_wait_seconds
from waiting_room.rounds import order_pre_queue

__all__ = ["EntryView", "FairnessRecord", "RoomStatus", "WaitingRooms"]

ENTRY_CACHE_SIZE = 500_000  # entries kept in memory per process (a stadium on-sale's crowd, and then some)
_STOCK_KEYS: tuple[str, ...] = ("total", "free", "held", "booked", "blocked", "open_passes")
NO_ROOM_SECONDS = 5.0  # how long "this show has no room" is believed
MAX_JOIN_BATCHES = 2  # join batches of one show in flight at once, per process
SECOND_BATCH_AT = 8  # joins waiting behind the batch in flight before a second one starts


def _doc(text: str) -> Any:
    """A field's description in the OpenAPI document (FastAPI answers with these dataclasses as they are)."""
    return Field(description=text)


@dataclass(frozen=True, slots=True)
class EntryView:
    """What a waiting account is told; ``number`` and ``ahead`` are None until sales open."""

    entry_id: str
    show_id: str
    state: Annotated[str, _doc("`waiting`, `admitted`, `sold_out` or `closed`")]
    number: Annotated[int | None, _doc("place in the queue order, 1 first; null until sales open")]
    ahead: Annotated[int | None, _doc("entries before this one still waiting; null until sales open")]
    joined_at: datetime
    pre_queue: Annotated[bool, _doc("joined before sales opened: ordered by the seed at the opening")]
    opens_at: datetime
    admitted_at: datetime | None
    admission_expires_at: Annotated[datetime | None, _doc("hold seats before this, or the pass lapses")]
    closed_reason: Annotated[str | None, _doc("`admission-lapsed` or `sales-over` when `closed`")]
    admissions_per_minute: float
    estimated_wait_seconds: Annotated[float | None, _doc("null while the queue does not move")]
    chance_of_ticket: Annotated[float | None, _doc("0 to 1, for waiting entries; see docs/waiting-room.md")]
    updated_at: datetime


ORDER = "pre-queue by sha256(seed + ':' + entry_id) ascending (lowercase hex), then later joiners in join order"


@dataclass(frozen=True, slots=True)
class FairnessRecord:
    """What anyone may see: the commitment always; the seed, the Merkle root of the pre-queue and its size
    from the opening on."""

    show_id: str
    commitment: Annotated[str, _doc("sha256(seed), lowercase hex, published before sales open")]
    opens_at: datetime
    opened_at: datetime | None
    seed: Annotated[str | None, _doc("revealed at the opening")]
    merkle_root: Annotated[
        str | None, _doc("of the pre-queue's entry ids (docs/waiting-room.md), fixed at the opening")
    ]
    pre_queue_size: int | None
    order: str = ORDER


@dataclass(frozen=True, slots=True)
class RoomStatus:
    """The admins' view of a room."""

    show_id: str
    opens_at: datetime
    opened_at: datetime | None
    entries: int
    pre_queue_size: int | None
    admitted: int
    waiting: int
    admissions_per_minute: float
    sold_out_at: datetime | None
    closed_at: datetime | None
    stock: dict[str, Any]


class WaitingRooms:
    def __init__(
        self, database: Database, refresh_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._database = database
        self._refresh = refresh_seconds
        self._clock = clock
        self._rooms: dict[str, tuple[Room | None, float]] = {}
        self._reading: dict[str, asyncio.Task[Room | None]] = {}
        self._entries: LRUCache[tuple[str, str], Entry] = LRUCache(ENTRY_CACHE_SIZE)
        self._joining: dict[str, list[tuple[str, asyncio.Future[Entry | None]]]] = {}
        self._flushing: dict[str, set[asyncio.Task[None]]] = {}

    # -- rooms ---------------------------------------------------------------------------------------

    async def room(self, show_id: str, fresh: bool = False) -> Room | None:
        """The room row (None: the show has none), at most ``refresh_seconds`` old unless ``fresh``."""
        cached = self._rooms.get(show_id)
        if cached is not None and not fresh:
            room, at = cached
            if self._clock() - at < (self._refresh if room is not None else NO_ROOM_SECONDS):
                return room
        task = self._reading.get(show_id)
        if task is None:  # one read per show at a time, shared by every request that wants it
            task = asyncio.get_running_loop().create_task(self._read_room(show_id))
            self._reading[show_id] = task
            task.add_done_callback(lambda _: self._reading.pop(show_id, None))
        return await asyncio.shield(task)

    async def _read_room(self, show_id: str) -> Room | None:
        async with self._database.session() as session:
            room = await store.room(session, show_id)
        self._rooms[show_id] = (room, self._clock())
        return room

    # -- entries -------------------------------------------------------------------------------------

    async def join(self, show_id: str, user_id: str) -> EntryView:
        """The caller's entry; joining again returns the same one. ``UnknownShow`` / ``NoWaitingRoom``.

        Joins of one show in this process travel together: while one batch is being written, the next
        gathers, and each batch is one transaction whatever its size (``persistence.waiting_rooms.join``)."""
        entry = self._entries.get((show_id, user_id))
        if entry is None:
            entry = await self._join_batched(show_id, user_id)
        room = await self._existing(show_id)  # UnknownShow / NoWaitingRoom if the batch found no room
        if entry is None:
            raise NoWaitingRoom()
        if entry.number is None and room.opened_at is not None:  # numbered at the opening since
            entry = await self._entry(room, show_id, user_id, fresh=True) or entry
        return self._view(room, entry)

    async def _join_batched(self, show_id: str, user_id: str) -> Entry | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Entry | None] = loop.create_future()
        pending = self._joining.setdefault(show_id, [])
        pending.append((user_id, future))
        writers = self._flushing.setdefault(show_id, set())
        # One batch in flight, and a second once enough wait behind it (they do not wait on each other
        # before the opening; after it, the room's counter takes them in turn).
        if not writers or (len(writers) < MAX_JOIN_BATCHES and len(pending) >= SECOND_BATCH_AT):
            task = loop.create_task(self._flush_joins(show_id))
            writers.add(task)
            task.add_done_callback(lambda done: self._writer_done(show_id, done))
        return await future

    def _writer_done(self, show_id: str, task: asyncio.Task[None]) -> None:
        writers = self._flushing.get(show_id)
        if writers is not None:
            writers.discard(task)
            if not writers:
                del self._flushing[show_id]

    async def _flush_joins(self, show_id: str) -> None:
        while batch := self._joining.pop(show_id, None):
            users = list(dict.fromkeys(user for user, _ in batch))
            known = self._rooms.get(show_id)
            opened = known is not None and known[0] is not None and known[0].opened_at is not None
            try:
                outcome = await store.join(self._database, show_id, users, opened=opened)
                if outcome.must_open:
                    await store.open_room(self._database, show_id, order_pre_queue)
                    self._rooms.pop(show_id, None)  # what this process knows of the room changed
                    outcome = await store.join(self._database, show_id, users)
            except Exception as exc:  # PostgreSQL down: every join of the batch fails alike (503)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for entry in outcome.entries.values():
                self._remember(entry)
            for user, future in batch:
                if not future.done():
                    future.set_result(outcome.entries.get(user))

    async def entry(self, show_id: str, user_id: str) -> EntryView:
        """The caller's entry as of now. ``NoWaitingRoom`` / ``NotInQueue``."""
        room = await self._existing(show_id)
        entry = await self._entry(room, show_id, user_id)
        if entry is None:
            raise NotInQueue()
        if entry.number is None and room.opened_at is not None:  # numbered at the opening: read again
            entry = await self._entry(room, show_id, user_id, fresh=True)
            assert entry is not None
        return self._view(room, entry)

    async def _entry(self, room: Room, show_id: str, user_id: str, fresh: bool = False) -> Entry | None:
        key = (show_id, user_id)
        entry = None if fresh else self._entries.get(key)
        stale = entry is not None and (
            (entry.number is None and room.opened_at is not None)
            or (entry.number is not None and entry.number <= room.admitted_through and entry.admitted_at is None)
        )
        if entry is None or stale:
            async with self._database.session() as session:
                entry = await store.entry_of(session, show_id, user_id)
            if entry is not None:
                self._remember(entry)
        return entry

    def _remember(self, entry: Entry) -> None:
        self._entries[(entry.show_id, entry.user_id)] = entry

    @staticmethod
    def _state(room: Room, entry: Entry, now: datetime) -> tuple[str, str | None, datetime | None]:
        """The entry's state, why it is closed, and when its admission lapses: the one rule for all three,
        for polls and for the hold path alike."""
        number = entry.number
        expires = None
        if number is not None and number <= room.admitted_through and entry.admitted_at is not None:
            expires = entry.admitted_at + timedelta(seconds=room.admission_window_seconds)
        if expires is not None and now >= expires:
            return "closed", "admission-lapsed", expires
        if room.closed_at is not None:
            return "closed", "sales-over", expires
        if expires is not None:
            return "admitted", None, expires
        if room.sold_out_at is not None:
            return "sold_out", None, None
        return "waiting", None, None

    def _view(self, room: Room, entry: Entry) -> EntryView:
        now = datetime.now(UTC)
        stats: dict[str, Any] = room.stats
        number = entry.number
        state, reason, expires = self._state(room, entry, now)
        admitted = expires is not None
        ahead = None if number is None else max(0, number - room.admitted_through - 1) if state == "waiting" else 0
        per_minute = admissions_per_minute([(float(t), int(n)) for t, n in stats.get("history", [])], time.time())
        wait = estimated_wait_seconds(ahead, per_minute) if ahead is not None else None
        chance = None
        if state == "waiting" and ahead is not None and "free" in stats:
            per_buyer = float(stats.get("seats_per_buyer", 2.0))
            left = float(stats["free"]) - float(stats.get("open_passes", 0)) * per_buyer
            chance = chance_of_ticket(
                ahead, left, per_buyer, float(stats.get("conversion", 0.8)), float(stats.get("seats_variance", 0.0))
            )
        elif state == "admitted":
            chance = None
        elif state in ("sold_out", "closed"):
            chance = 0.0
        return EntryView(
            entry_id=entry.id,
            show_id=entry.show_id,
            state=state,
            number=number,
            ahead=ahead,
            joined_at=entry.joined_at,
            pre_queue=entry.pre_queue,
            opens_at=room.opens_at,
            admitted_at=entry.admitted_at if admitted else None,
            admission_expires_at=expires,
            closed_reason=reason,
            admissions_per_minute=round(per_minute, 1),
            estimated_wait_seconds=None if wait is None else round(wait, 1),
            chance_of_ticket=None if chance is None else round(chance, 3),
            updated_at=now,
        )

    # -- the hold path -------------------------------------------------------------------------------

    async def check_admitted(self, show_id: str, user_id: str) -> None:
        """Nothing for a show without a room; ``NotAdmitted`` unless the room has admitted this account and
        its window is open. A refusal is only given after reading the room and the entry afresh."""
        room = await self.room(show_id)
        if room is None:
            return
        for fresh in (False, True):
            if fresh:
                room = await self.room(show_id, fresh=True)
                assert room is not None
            entry = await self._entry(room, show_id, user_id, fresh=fresh)
            if entry is not None and self._state(room, entry, datetime.now(UTC))[0] == "admitted":
                return
        raise NotAdmitted()

    # -- fairness ------------------------------------------------------------------------------------

    async def _existing(self, show_id: str, fresh: bool = False) -> Room:
        """The room; ``UnknownShow`` or ``NoWaitingRoom`` if there is none."""
        room = await self.room(show_id, fresh=fresh)
        if room is None:
            async with self._database.session() as session:
                if await catalog.get_show(session, show_id) is None:
                    raise UnknownShow(show_id)
            raise NoWaitingRoom()
        return room

    async def fairness(self, show_id: str) -> FairnessRecord:
        room = await self._existing(show_id)
        if room.opened_at is None and datetime.now(UTC) >= room.opens_at:
            room = await self._existing(show_id, fresh=True)  # opened since it was read, perhaps
        if room.opened_at is None and room.now >= room.opens_at:
            await store.open_room(self._database, show_id, order_pre_queue)
            room = await self._existing(show_id, fresh=True)
        opened = room.opened_at is not None
        return FairnessRecord(
            show_id=show_id,
            commitment=room.commitment,
            opens_at=room.opens_at,
            opened_at=room.opened_at,
            seed=room.seed if opened else None,
            merkle_root=room.merkle_root if opened else None,
            pre_queue_size=room.pre_queue_size if opened else None,
        )

    async def pre_queue(self, show_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        """A page of the published pre-queue, ``(number, entry_id)``; empty before the opening."""
        room = await self._existing(show_id)
        if room.opened_at is None:
            return []
        async with self._database.session() as session:
            return await store.pre_queue(session, show_id, after, limit)

    async def status(self, show_id: str) -> RoomStatus:
        room = await self._existing(show_id, fresh=True)
        async with self._database.session() as session:
            entries = await store.count_entries(session, show_id)
        history = [(float(t), int(n)) for t, n in room.stats.get("history", [])]
        stock = {k: room.stats[k] for k in _STOCK_KEYS if k in room.stats}
        return RoomStatus(
            show_id=show_id,
            opens_at=room.opens_at,
            opened_at=room.opened_at,
            entries=entries,
            pre_queue_size=room.pre_queue_size,
            admitted=room.admitted_through,
            waiting=0 if room.sold_out_at or room.closed_at else max(0, entries - room.admitted_through),
            admissions_per_minute=round(admissions_per_minute(history, time.time()), 1),
            sold_out_at=room.sold_out_at,
            closed_at=room.closed_at,
            stock=stock,
        )

    async def create(self, session: Any, show_id: str, opens_at: datetime, admission_window_seconds: int) -> Room:
        """A room for a new show, in the show's own transaction."""
        seed = fairness.new_seed()
        return await store.create_room(
            session, show_id, opens_at, admission_window_seconds, seed, fairness.commitment(seed)
        )
