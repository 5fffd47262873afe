"""Seat-map reads that never wait on a show actor.

The actor publishes its seat map to Redis after every committed change and as a heartbeat. This reader
takes that snapshot if it is fresh enough (``max_staleness``), and otherwise — no snapshot, too old, or
Redis down — reads the committed seat claims from PostgreSQL. Either way a held seat whose hold has
expired is shown available: expiry is a matter of time, not of whether a timer fired. Static parts (seat
layout, categories, prices) are cached per show in this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from actors.errors import UnknownShow
from actors.redis_publisher import seatmap_key
from actors.seat_map_core import SeatStatus, seat_statuses
from persistence import catalog
from persistence.catalog import ScreenInfo, ShowInfo
from persistence.database import Database

log = logging.getLogger("booking.seatmaps")

SHOW_ROW_TTL = 5.0  # seconds a cached show row is used before it is reloaded (in the background)


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
    show: ShowInfo
    seats: tuple[SeatView, ...]
    source: str
    as_of: float
    seq: int | None = None  # the last published change this view includes (None: read from PostgreSQL)
    epoch: int | None = None

    def available(self) -> list[str]:
        return [s.id for s in self.seats if s.status == "available"]


class SeatMapReader:
    def __init__(self, database: Database, redis: aioredis.Redis, prefix: str, max_staleness: float) -> None:
        self._db = database
        self._redis = redis
        self._prefix = prefix
        self._max_staleness = max_staleness
        self._layouts: dict[str, tuple[ShowInfo, ScreenInfo]] = {}
        self._loaded_at: dict[str, float] = {}
        self._loading: dict[str, asyncio.Task[tuple[ShowInfo, ScreenInfo]]] = {}

    async def layout(self, show_id: str) -> tuple[ShowInfo, ScreenInfo]:
        """Show and seat layout, loaded once per process: a crowd's first requests share one load. The
        show row (status, schedule) can change in another process (a show cancelled there): a cached row
        older than ``SHOW_ROW_TTL`` is reloaded in the background while requests go on with it."""
        cached = self._layouts.get(show_id)
        if cached is not None:
            if time.monotonic() - self._loaded_at.get(show_id, 0.0) > SHOW_ROW_TTL and show_id not in self._loading:
                self._start_load(show_id)
            return cached
        task = self._loading.get(show_id) or self._start_load(show_id)
        return await asyncio.shield(task)

    def _start_load(self, show_id: str) -> asyncio.Task[tuple[ShowInfo, ScreenInfo]]:
        task = self._loading[show_id] = asyncio.get_running_loop().create_task(self._load(show_id))

        def done(finished: asyncio.Task[tuple[ShowInfo, ScreenInfo]]) -> None:
            self._loading.pop(show_id, None)
            if not finished.cancelled():
                finished.exception()  # a failed background refresh keeps the cached row; never unretrieved

        task.add_done_callback(done)
        return task

    def forget(self, show_id: str) -> None:
        """Drop the cached show row (its status changed here, e.g. the show was cancelled)."""
        self._layouts.pop(show_id, None)
        self._loaded_at.pop(show_id, None)

    async def _load(self, show_id: str) -> tuple[ShowInfo, ScreenInfo]:
        async with self._db.session() as session:
            show = await catalog.get_show(session, show_id)
            if show is None:
                raise UnknownShow(show_id)
            screen = await catalog.get_screen(session, show.screen_id)
        assert screen is not None
        self._layouts[show_id] = (show, screen)
        self._loaded_at[show_id] = time.monotonic()
        return show, screen

    async def _from_redis(self, show_id: str) -> dict[str, Any] | None:
        try:
            raw = await self._redis.get(seatmap_key(self._prefix, show_id))
        except Exception as exc:
            log.debug("redis unavailable for seat maps: %r", exc)
            return None
        if raw is None:
            return None
        snapshot: dict[str, Any] = json.loads(raw)
        if time.time() - float(snapshot.get("at", 0)) > self._max_staleness:
            return None
        return snapshot

    async def read(self, show_id: str) -> SeatMapView:
        show, screen = await self.layout(show_id)
        snapshot = await self._from_redis(show_id)
        source = "cache"
        if snapshot is None:
            async with self._db.session() as session:
                claims = await catalog.seat_claims(session, show_id)
            snapshot = {
                "held": claims.held,
                "booked": claims.booked,
                "blocked": claims.blocked,
                "at": time.time(),
            }
            source = "database"
        return self._view(show, screen, snapshot, source)

    async def render(self, show_id: str, snapshot: dict[str, Any], seq: int, epoch: int, at: float) -> SeatMapView:
        """The view of a snapshot published with a reset (every seat's version is ``seq``)."""
        show, screen = await self.layout(show_id)
        return self._view(show, screen, {**snapshot, "at": at, "seq": seq, "base": seq, "epoch": epoch}, "cache")

    @staticmethod
    def _view(show: ShowInfo, screen: ScreenInfo, snapshot: dict[str, Any], source: str) -> SeatMapView:
        now = time.time()
        held = (seat for seat, expires in snapshot["held"].items() if expires > now)
        status_of, available = seat_statuses(snapshot["booked"], snapshot["blocked"], held).get, SeatStatus.AVAILABLE
        seq = snapshot.get("seq")
        base = int(snapshot.get("base", 0))
        versions: dict[str, int] = snapshot.get("versions") or {}
        seats = tuple(
            SeatView(
                id=s.seat_id,
                row=s.row,
                number=s.number,
                category=s.category,
                price=show.prices.get(s.category, Decimal(0)),
                status=status_of(s.seat_id, available),
                version=None if seq is None else versions.get(s.seat_id, base),
            )
            for s in screen.seats
        )
        return SeatMapView(
            show=show,
            seats=seats,
            source=source,
            as_of=float(snapshot["at"]),
            seq=None if seq is None else int(seq),
            epoch=None if seq is None else int(snapshot["epoch"]),
        )
