"""How many of the next waiting entries may be admitted now, and when a show is sold out.

Admission is stock-aware: each admitted account that has not held yet (an *open pass*) is expected to
take ``seats_per_buyer`` seats, so the room admits only as many as the free seats can still serve after
the open passes, never beyond the rate the show can take (``admit_per_second``), and never while nothing is
free. Held seats are not free: when their holds expire or are released they come back, and the next round
admits the next people. A pass that lapses unused stops counting, which returns its share to the pool.

A show is sold out when every seat is booked or blocked and none is held: then nobody waiting can ever be
served from the queue, and every waiting entry turns ``sold_out`` (seats that come back after that go to
the waiting list, not to the queue).

Pure: the numbers come in, a decision goes out; the round that reads and writes them is
``persistence.waiting_rooms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Decision", "Stock", "decide"]


@dataclass(frozen=True, slots=True)
class Stock:
    """A show's seats right now, as PostgreSQL has them (expired holds counted as free)."""

    total: int
    booked: int
    blocked: int
    held: int

    @property
    def free(self) -> int:
        return max(0, self.total - self.booked - self.blocked - self.held)

    @property
    def sold_out(self) -> bool:
        return self.booked + self.blocked >= self.total and self.held == 0


@dataclass(frozen=True, slots=True)
class Decision:
    admit: int  # how many of the next waiting entries, by number, to admit now
    sold_out: bool  # every waiting entry turns sold_out


def decide(stock: Stock, *, waiting: int, open_passes: int, seats_per_buyer: float, budget: int) -> Decision:
    """``waiting``: entries waiting, in order; ``open_passes``: admitted, window still open, nothing held or
    booked yet; ``budget``: admissions the rate allows in this round."""
    if stock.sold_out:
        return Decision(0, True)
    if stock.free == 0 or waiting <= 0 or budget <= 0:
        return Decision(0, False)
    per_buyer = max(1.0, seats_per_buyer)
    # ceil: a single free seat can still serve someone who wants one.
    buyers_served = math.ceil(stock.free / per_buyer)
    room = buyers_served - open_passes
    return Decision(max(0, min(room, waiting, budget)), False)
