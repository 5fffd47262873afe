"""Pre-warming: the actors of shows with timed work ahead are running before it is due.

A show's actor is created on the first request that needs it, and that first request pays the cold start:
Ray starting a worker process and the actor activating (new epoch, rows loaded, seat map rebuilt), about
0.3–0.7 s on our machines against ~10 ms warm (``docs/measurements.md``). For an ordinary show nobody
notices; at a blockbuster's on-sale time every buyer of the first wave queues behind it. So each API
process looks, every ``interval`` seconds, for on-sale shows whose ``sales_open_at`` falls within the next
``lead`` seconds and pings their actors (``ShowActors.ping`` finds or creates the actor by name and waits
for its activation), soonest first.

Two kinds of timed work need a show's actor: a sales opening (the crowd arrives) and a hold's expiry (the
actor's timer is what releases it). After a restart of everything (the machine went down: nothing left
but PostgreSQL), no actor runs until a request needs it, so without this a show nobody touches keeps its
expired holds, and shows their seats held, indefinitely. So the same round also wakes every on-sale show
with an active hold expiring within the lead, overdue ones first; its actor re-arms the timers from the
stored rows on activation and releases what is overdue at once.

Several API processes doing this is harmless: actors are found by name (``get_if_exists``), so they all
reach one actor, and a ping of a live actor costs one round trip. Each process remembers what it warmed
for twice the lead, so a show is pinged about once per process and lead, not every round. A show that
fails to warm (PostgreSQL or the cluster down) is tried again next round; its first buyer would simply
pay the cold start, as without pre-warming. Once warm, an actor stays up: if its process dies, Ray
restarts it and the new copy activates at once, without waiting for a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from persistence import catalog
from persistence.database import Database
from persistence.periodic import Periodic

log = logging.getLogger("booking.prewarm")


class Pingable(Protocol):
    async def ping(self, show_id: str) -> dict[str, Any]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Prewarmer:
    """Warms the actors of shows whose sales open, or whose holds expire, within ``lead_seconds``; off when
    that is 0."""

    def __init__(
        self,
        database: Database,
        actors: Pingable,
        lead_seconds: float,
        interval_seconds: float,
        clock: Callable[[], datetime] = utc_now,
        concurrency: int = 4,
    ) -> None:
        self._db = database
        self._actors = actors
        self._lead = timedelta(seconds=lead_seconds)
        self._interval = interval_seconds
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._warmed: dict[str, datetime] = {}  # show id → when this process warmed it
        # PostgreSQL down, say: the next round tries again.
        self._periodic = Periodic(self.run_once, interval_seconds, log=log, what="pre-warm round")

    @property
    def enabled(self) -> bool:
        return self._lead > timedelta(0)

    def start(self) -> None:
        if self.enabled:
            self._periodic.start()

    async def aclose(self) -> None:
        await self._periodic.aclose()

    async def run_once(self) -> list[str]:
        """One round: warm every show with holds expiring or sales opening within the lead, not warmed yet by
        this process; returns the ids warmed."""
        now = self._clock()
        for show_id, warmed_at in list(self._warmed.items()):
            if warmed_at < now - 2 * self._lead:  # long enough: ping it again if still due
                del self._warmed[show_id]
        # From one interval back too, so a show created just before its sales open is not missed.
        since = now - timedelta(seconds=self._interval)
        async with self._db.session() as session:
            expiring = await catalog.shows_with_holds_expiring_before(session, now + self._lead)
            opening = await catalog.shows_opening_between(session, since, now + self._lead)
        due = dict.fromkeys(expiring + opening)  # overdue holds first, then the soonest openings
        todo = [show_id for show_id in due if show_id not in self._warmed]
        results = await asyncio.gather(*(self._warm(show_id) for show_id in todo))
        return [show_id for show_id, ok in zip(todo, results, strict=True) if ok]

    async def _warm(self, show_id: str) -> bool:
        async with self._slots:
            started = time.perf_counter()
            try:
                await self._actors.ping(show_id)
            except Exception as exc:
                log.warning("could not pre-warm show %s (next round tries again): %r", show_id, exc)
                return False
            self._warmed[show_id] = self._clock()
            log.info("pre-warmed show %s in %.3fs", show_id, time.perf_counter() - started)
            return True
