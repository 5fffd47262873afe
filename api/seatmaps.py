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
from actors.seatmap_publisher import seatmap_key
from persistence import catalog
from persistence.catalog import Database, ScreenInfo, ShowInfo

log = logging.getLogger("booking.seatmaps")


@dataclass(frozen=True, slots=True)
class SeatView:
    id: str
    row: str
    number: int
    category: str
    price: Decimal
    status: str


@dataclass(frozen=True, slots=True)
class SeatMapView:
    show: ShowInfo
    seats: tuple[SeatView, ...]
    source: str
    as_of: float

    def available(self) -> list[str]:
        return [s.id for s in self.seats if s.status == "available"]


class SeatMapReader:
    def __init__(self, database: Database, redis: aioredis.Redis, prefix: str, max_staleness: float) -> None:
        self._db = database
        self._redis = redis
        self._prefix = prefix
        self._max_staleness = max_staleness
        self._layouts: dict[str, tuple[ShowInfo, ScreenInfo]] = {}
        self._loading: dict[str, asyncio.Task[tuple[ShowInfo, ScreenInfo]]] = {}

    async def layout(self, show_id: str) -> tuple[ShowInfo, ScreenInfo]:
        """Show and seat layout, loaded once per process: a crowd's first requests share one load."""
        cached = self._layouts.get(show_id)
        if cached is not None:
            return cached
        task = self._loading.get(show_id)
        if task is None:
            task = self._loading[show_id] = asyncio.get_running_loop().create_task(self._load(show_id))
            task.add_done_callback(lambda _: self._loading.pop(show_id, None))
        return await asyncio.shield(task)

    async def _load(self, show_id: str) -> tuple[ShowInfo, ScreenInfo]:
        async with self._db.session() as session:
            show = await catalog.get_show(session, show_id)
            if show is None:
                raise UnknownShow(show_id)
            screen = await catalog.get_screen(session, show.screen_id)
        assert screen is not None
        self._layouts[show_id] = (show, screen)
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
        now = time.time()
        held = {seat for seat, expires in snapshot["held"].items() if expires > now}
        booked = set(snapshot["booked"])
        blocked = set(snapshot["blocked"])
        seats = tuple(
            SeatView(
                id=s.seat_id,
                row=s.row,
                number=s.number,
                category=s.category,
                price=show.prices.get(s.category, Decimal(0)),
                status=(
                    "booked"
                    if s.seat_id in booked
                    else "blocked"
                    if s.seat_id in blocked
                    else "held"
                    if s.seat_id in held
                    else "available"
                ),
            )
            for s in screen.seats
        )
        return SeatMapView(show=show, seats=seats, source=source, as_of=float(snapshot["at"]))
