"""Seat-map reads that never wait on a show actor, at any venue size.

The actor publishes its seat map to Redis after every committed change and as a heartbeat. This reader
takes that snapshot if it is fresh enough (``max_staleness``), and otherwise — no snapshot, too old, or
Redis down — reads the committed seat claims from PostgreSQL. Either way a held seat whose hold has
expired is shown available: expiry is a matter of time, not of whether a timer fired. Static parts (seat
layout, categories, prices) are cached per show in this process, the layout indexed once per screen.

A read yields ``Claims``: the status of the claimed seats only (a snapshot names nothing else), so what a
read costs grows with the claims, not with the venue. Views are cut from it on demand: ``overview``
(counts per section, O(claimed seats)), ``section`` (one section's seats, O(its seats)) and ``full`` (every
seat, O(all seats): ``GET /seats``, the pinned contract). Each is computed once per ``Claims``, which a
crowd's requests share for a moment (``claims`` with ``max_age``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import redis.asyncio as aioredis

from actors.errors import UnknownShow
from actors.redis_publisher import seatmap_key
from actors.seat_map_core import SeatStatus, seat_statuses
from persistence import catalog
from persistence.catalog import ScreenInfo, SeatLayout, SectionInfo, ShowInfo
from persistence.database import Database

log = logging.getLogger("booking.seatmaps")

SHOW_ROW_TTL = 5.0  # seconds a cached show row is used before it is reloaded (in the background)
CACHE_LIMIT = 10_000  # shows whose recent claims one process keeps; beyond that the cache starts over
CLAIMED = (SeatStatus.HELD, SeatStatus.BOOKED, SeatStatus.BLOCKED)


@dataclass(frozen=True, slots=True)
class SeatView:
    id: str
    row: str
    number: int
    category: str
    price: Decimal
    status: str
    version: int | None = None  # seq of the last published change of this seat (None: read from PostgreSQL)


@dataclass(frozen=True, slots=True)
class SeatMapView:
    """Seats of a show with their status: all of them (``Claims.full``) or one section's (``Claims.section``)."""

    show: ShowInfo
    seats: tuple[SeatView, ...]
    source: str
    as_of: float
    seq: int | None = None  # the last published change this view includes (None: read from PostgreSQL)
    epoch: int | None = None

    def available(self) -> list[str]:
        return [s.id for s in self.seats if s.status == "available"]


@dataclass(frozen=True, slots=True)
class SectionLayout:
    """One section of a venue: its record, its places in display order and the categories they are in."""

    info: SectionInfo
    seats: tuple[SeatLayout, ...]
    categories: frozenset[str]


class VenueIndex:
    """A screen's layout indexed once per process (screens never change): each place's section, and each
    section's places. Building it is O(places); everything a read asks of it afterwards is O(1) a seat."""

    def __init__(self, screen: ScreenInfo) -> None:
        self.screen = screen
        self.capacity = len(screen.seats)
        self.section_by_seat = {seat.seat_id: seat.section for seat in screen.seats}
        places: dict[str, list[SeatLayout]] = {info.code: [] for info in screen.sections}
        for seat in screen.seats:
            if seat.section in places:
                places[seat.section].append(seat)
        self.sections: dict[str, SectionLayout] = {
            info.code: SectionLayout(
                info, tuple(places[info.code]), frozenset(s.category for s in places[info.code] or (info,))
            )
            for info in screen.sections
        }

    def section_of(self, seat_id: str) -> str | None:
        """The code of the seat's section ("" on a cinema screen); None for an id that is not a place here."""
        return self.section_by_seat.get(seat_id)


def empty_counts() -> dict[str, int]:
    return {"available": 0, "held": 0, "booked": 0, "blocked": 0}


class Claims:
    """What one read found: the status of each claimed seat (live holds only), with the snapshot's
    versions, time and source. The views below are computed on first use and kept, so every request that
    shares this read shares them too."""

    def __init__(
        self, show: ShowInfo, venue: VenueIndex, snapshot: dict[str, Any], source: str, read_at: float = 0.0
    ) -> None:
        now = time.time()
        held = (seat for seat, expires in snapshot["held"].items() if expires > now)
        self.show = show
        self.venue = venue
        self.statuses = seat_statuses(snapshot["booked"], snapshot["blocked"], held)
        self.source = source
        self.as_of = float(snapshot["at"])
        seq = snapshot.get("seq")
        self.seq = None if seq is None else int(seq)
        self.epoch = None if seq is None else int(snapshot["epoch"])
        self.read_at = read_at  # time.monotonic() when the read began
        self._base = int(snapshot.get("base", 0))
        self._versions: dict[str, int] = snapshot.get("versions") or {}
        self._full: SeatMapView | None = None
        self._sections: dict[str, SeatMapView] = {}
        self._counts: tuple[dict[str, int], dict[str, dict[str, int]]] | None = None

    def full(self) -> SeatMapView:
        """Every seat in display order: O(all seats), once per read."""
        if self._full is None:
            self._full = self._view(self.venue.screen.seats)
        return self._full

    def section(self, code: str) -> SeatMapView:
        """One section's seats in display order (none for a standing zone): O(its seats). ``KeyError`` for a
        section the venue does not have."""
        view = self._sections.get(code)
        if view is None:
            section = self.venue.sections[code]
            view = self._sections[code] = self._view(() if section.info.standing else section.seats)
        return view

    def counts(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """How many places are in each status, in the whole show and per section: O(claimed seats)."""
        if self._counts is None:
            section_of = self.venue.section_by_seat.get
            # A claim on an id that is not a place of this layout (None) is not counted: claims read
            # elsewhere are only as consistent as their source.
            tally = Counter((section_of(seat_id), status) for seat_id, status in self.statuses.items())
            sections = {code: empty_counts() for code in self.venue.sections}
            total = empty_counts()
            for (code, status), count in tally.items():
                if code is None:
                    continue
                total[status] += count
                if code in sections:
                    sections[code][status] += count
            total["available"] = self.venue.capacity - sum(total[s] for s in CLAIMED)
            for code, counts in sections.items():
                counts["available"] = self.venue.sections[code].info.capacity - sum(counts[s] for s in CLAIMED)
            self._counts = total, sections
        return self._counts

    def section_counts(self, code: str) -> dict[str, int]:
        """One section's counts: from ``counts`` if they are at hand or the section is a standing zone
        (no seats to count), else from the section's seats, O(its seats)."""
        section = self.venue.sections[code]
        if self._counts is not None or section.info.standing:
            return self.counts()[1][code]
        counts = empty_counts()
        for seat in self.section(code).seats:
            counts[seat.status] += 1
        return counts

    def _view(self, seats: tuple[SeatLayout, ...]) -> SeatMapView:
        status_of, available, prices = self.statuses.get, SeatStatus.AVAILABLE, self.show.prices
        seq, versions, base = self.seq, self._versions, self._base
        views = tuple(
            SeatView(
                id=s.seat_id,
                row=s.row,
                number=s.number,
                category=s.category,
                price=prices.get(s.category, Decimal(0)),
                status=status_of(s.seat_id, available),
                version=None if seq is None else versions.get(s.seat_id, base),
            )
            for s in seats
        )
        return SeatMapView(self.show, views, self.source, self.as_of, self.seq, self.epoch)


class SeatMapReader:
    def __init__(self, database: Database, redis: aioredis.Redis, prefix: str, max_staleness: float) -> None:
        self._db = database
        self._redis = redis
        self._prefix = prefix
        self._max_staleness = max_staleness
        self._layouts: dict[str, tuple[ShowInfo, VenueIndex]] = {}
        self._venues: dict[str, VenueIndex] = {}  # by screen id: shared by the screen's shows
        self._loaded_at: dict[str, float] = {}
        self._loading: dict[str, asyncio.Task[tuple[ShowInfo, VenueIndex]]] = {}
        self._claims: dict[str, Claims] = {}
        self._claims_loading: dict[str, asyncio.Task[Claims]] = {}

    async def layout(self, show_id: str) -> tuple[ShowInfo, ScreenInfo]:
        """Show and seat layout (see ``venue``)."""
        show, venue = await self.venue(show_id)
        return show, venue.screen

    async def venue(self, show_id: str) -> tuple[ShowInfo, VenueIndex]:
        """Show and indexed seat layout, loaded once per process: a crowd's first requests share one load.
        The show row (status, schedule) can change in another process (a show cancelled there): a cached
        row older than ``SHOW_ROW_TTL`` is reloaded in the background while requests go on with it (the
        layout is not read again: screens never change). Raises ``UnknownShow``."""
        cached = self._layouts.get(show_id)
        if cached is not None:
            if time.monotonic() - self._loaded_at.get(show_id, 0.0) > SHOW_ROW_TTL and show_id not in self._loading:
                self._start_load(show_id)
            return cached
        task = self._loading.get(show_id) or self._start_load(show_id)
        return await asyncio.shield(task)

    def _start_load(self, show_id: str) -> asyncio.Task[tuple[ShowInfo, VenueIndex]]:
        task = self._loading[show_id] = asyncio.get_running_loop().create_task(self._load(show_id))

        def done(finished: asyncio.Task[tuple[ShowInfo, VenueIndex]]) -> None:
            self._loading.pop(show_id, None)
            if not finished.cancelled():
                finished.exception()  # a failed background refresh keeps the cached row; never unretrieved

        task.add_done_callback(done)
        return task

    def forget(self, show_id: str) -> None:
        """Drop the cached show row (its status changed here, e.g. the show was cancelled)."""
        self._layouts.pop(show_id, None)
        self._loaded_at.pop(show_id, None)
        self._claims.pop(show_id, None)

    async def _load(self, show_id: str) -> tuple[ShowInfo, VenueIndex]:
        async with self._db.session() as session:
            show = await catalog.get_show(session, show_id)
            if show is None:
                raise UnknownShow(show_id)
            venue = self._venues.get(show.screen_id)
            screen = None if venue is not None else await catalog.get_screen(session, show.screen_id)
        if venue is None:
            assert screen is not None
            venue = self._venues[show.screen_id] = VenueIndex(screen)
        self._layouts[show_id] = (show, venue)
        self._loaded_at[show_id] = time.monotonic()
        return show, venue

    async def _from_redis(self, show_id: str) -> dict[str, Any] | None:
        try:
            raw = await self._redis.get(seatmap_key(self._prefix, show_id))
        except Exception as exc:
            log.debug("redis unavailable for seat maps: %r", exc)
            return None
        if raw is None:
            return None
        snapshot: dict[str, Any] = orjson.loads(raw)
        if time.time() - float(snapshot.get("at", 0)) > self._max_staleness:
            return None
        return snapshot

    async def claims(self, show_id: str, max_age: float = 0.0) -> Claims:
        """The show's claims, read now; or, with ``max_age``, a read begun less than ``max_age`` seconds ago
        (``Claims.read_at``) if there is one, a crowd's concurrent misses sharing one read. A caller that
        keeps what it renders from them must date it by ``read_at``, so the staleness adds up to at most
        ``max_staleness + max_age``."""
        if max_age <= 0:
            return await self._read_claims(show_id)
        cached = self._claims.get(show_id)
        if cached is not None and time.monotonic() - cached.read_at < max_age:
            return cached
        task = self._claims_loading.get(show_id)
        if task is None:
            task = self._claims_loading[show_id] = asyncio.get_running_loop().create_task(self._shared_read(show_id))

            def done(finished: asyncio.Task[Claims]) -> None:
                self._claims_loading.pop(show_id, None)
                if not finished.cancelled():
                    finished.exception()

            task.add_done_callback(done)
        return await asyncio.shield(task)

    async def _shared_read(self, show_id: str) -> Claims:
        claims = await self._read_claims(show_id)
        if len(self._claims) > CACHE_LIMIT:
            self._claims.clear()
        self._claims[show_id] = claims
        return claims

    async def _read_claims(self, show_id: str) -> Claims:
        started = time.monotonic()
        show, venue = await self.venue(show_id)
        snapshot = await self._from_redis(show_id)
        source = "cache"
        if snapshot is None:
            async with self._db.session() as session:
                found = await catalog.seat_claims(session, show_id)
            snapshot = {"held": found.held, "booked": found.booked, "blocked": found.blocked, "at": time.time()}
            source = "database"
        return Claims(show, venue, snapshot, source, started)

    async def read(self, show_id: str) -> SeatMapView:
        """Every seat of the show, read now."""
        return (await self.claims(show_id)).full()

    async def render_claims(self, show_id: str, snapshot: dict[str, Any], seq: int, epoch: int, at: float) -> Claims:
        """The claims of a snapshot published with a reset (every seat's version is ``seq``)."""
        show, venue = await self.venue(show_id)
        published = {**snapshot, "at": at, "seq": seq, "base": seq, "epoch": epoch}
        return Claims(show, venue, published, "cache", time.monotonic())

    async def render(self, show_id: str, snapshot: dict[str, Any], seq: int, epoch: int, at: float) -> SeatMapView:
        """Every seat of a snapshot published with a reset (``render_claims``)."""
        return (await self.render_claims(show_id, snapshot, seq, epoch, at)).full()

    @staticmethod
    def _view(show: ShowInfo, screen: ScreenInfo, snapshot: dict[str, Any], source: str) -> SeatMapView:
        """Every seat of ``screen`` as ``snapshot`` shows it (the rule every read applies)."""
        return Claims(show, VenueIndex(screen), snapshot, source).full()
