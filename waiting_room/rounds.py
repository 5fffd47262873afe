"""The admission round of one waiting room: open it when sales open, then admit the next entries as the
stock allows, and call the show sold out (or closed) when it is.

Every API process runs rounds for every room that has work (``Admitter``, once a second by default); a
transaction-scoped advisory lock makes one of them do each room's round and the others skip it, so the
rounds are one writer per room without a leader to elect, and a process that dies mid-round loses
nothing (its transaction rolls back; the next round, anywhere, does it again). What the round saw (the
stock, the rate, the estimate inputs) is stored with the room, so that polls read one row, not counts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from persistence import catalog
from persistence import waiting_rooms as store
from persistence.database import Database
from persistence.periodic import Periodic
from waiting_room import fairness
from waiting_room.admission import Stock, decide

log = logging.getLogger("booking.waiting_room")

__all__ = ["Admitter", "RoundRules", "order_pre_queue", "run_round"]

HISTORY_SECONDS = 300.0  # admission history kept with the room, for the rate shown to those waiting
PRIOR_SEATS_PER_BUYER = 2.0  # until the show has bookings of its own
PRIOR_SEATS_VARIANCE = 0.67
PRIOR_CONVERSION = 0.8
MIN_SAMPLES = 20  # bookings (or decided admissions) before the show's own figures replace the priors


@dataclass(frozen=True, slots=True)
class RoundRules:
    admission_window_seconds: int = 600
    admit_per_second: float = 20.0
    interval_seconds: float = 1.0


def order_pre_queue(seed: str, entry_ids: list[str]) -> tuple[list[str], str]:
    """The fairness rule handed to ``persistence.waiting_rooms.open_room``."""
    return fairness.pre_queue_order(seed, entry_ids), fairness.merkle_root(entry_ids)


def _allowance(rules: RoundRules, stats: dict[str, Any], now: float) -> float:
    """Admissions the rate allows since the last round, with the fraction the last round left over (at
    most two intervals' worth, so a pause of the rounds does not release a burst)."""
    last = float(stats.get("at", now - rules.interval_seconds))
    elapsed = min(max(now - last, 0.0), 2 * rules.interval_seconds)
    return rules.admit_per_second * elapsed + float(stats.get("carry", 0.0))


async def run_round(
    database: Database, show_id: str, rules: RoundRules, clock: Callable[[], float] = time.time
) -> bool:
    """One round for one room; False if another process holds the room's round or it had nothing to do."""
    opened = await store.open_room(database, show_id, order_pre_queue)
    if not opened:
        return False
    async with database.session() as session:
        if not await store.lock_for_round(session, show_id):
            return False
        room = await store.room(session, show_id, "FOR UPDATE")
        show = await catalog.get_show(session, show_id)
        if room is None or show is None or room.sold_out_at is not None or room.closed_at is not None:
            return False
        now = clock()
        stats = dict(room.stats)
        closed = not show.on_sale(room.now)
        seats = await store.stock(session, show_id)
        stock = Stock(seats.total, seats.booked, seats.blocked, seats.held)
        passes = await store.open_passes(session, show_id, room.admission_window_seconds)
        bought = await store.buying_figures(session, show_id, room.admission_window_seconds)
        per_buyer = bought["mean"] if bought["bookings"] >= MIN_SAMPLES else PRIOR_SEATS_PER_BUYER
        variance = bought["variance"] if bought["bookings"] >= MIN_SAMPLES else PRIOR_SEATS_VARIANCE
        conversion = bought["bought"] / bought["decided"] if bought["decided"] >= MIN_SAMPLES else PRIOR_CONVERSION
        waiting = room.numbered - room.admitted_through
        allowance = _allowance(rules, stats, now)
        decision = decide(
            stock, waiting=waiting, open_passes=passes, seats_per_buyer=per_buyer, budget=math.floor(allowance)
        )
        admit = 0 if closed else decision.admit
        through = room.admitted_through + admit
        if admit:
            await store.admit(session, show_id, room.admitted_through, through)
        history = [p for p in stats.get("history", []) if now - p[0] <= HISTORY_SECONDS]
        if admit or not history or now - history[-1][0] >= 5.0:
            history.append([now, through])
        stats.update(
            at=now,
            carry=min(1.0, allowance - admit),
            total=stock.total,
            free=stock.free,
            held=stock.held,
            booked=stock.booked,
            blocked=stock.blocked,
            open_passes=passes + admit,
            seats_per_buyer=per_buyer,
            seats_variance=variance,
            conversion=conversion,
            history=history,
        )
        await store.update_room(
            session,
            show_id,
            admitted_through=through,
            stats=stats,
            sold_out=decision.sold_out and not closed,
            closed=closed,
        )
        if decision.sold_out or closed or admit:
            ending = ", closed" if closed else ", sold out" if decision.sold_out else ""
            log.info(
                "waiting room %s: admitted %d (through %d), free %d, held %d, open passes %d%s",
                *(show_id, admit, through, stock.free, stock.held, passes, ending),
            )
        return True


class Admitter:
    """Runs a round for every room with work, every ``interval_seconds``, in this process."""

    def __init__(self, database: Database, rules: RoundRules) -> None:
        self._database = database
        self._rules = rules
        self._periodic = Periodic(self.run_once, rules.interval_seconds, log=log, what="waiting-room round")

    async def run_once(self) -> None:
        async with self._database.session() as session:
            due = await store.rooms_due(session)
        for show_id in due:
            try:
                await run_round(self._database, show_id, self._rules)
            except Exception as exc:  # one room's failure must not stop the others' rounds
                log.warning("waiting-room round for %s failed: %r", show_id, exc)

    def start(self) -> None:
        self._periodic.start()

    async def aclose(self) -> None:
        await self._periodic.aclose()
