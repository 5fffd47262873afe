"""What an entry is told while it waits: the admission rate, an estimated wait and the chance of a ticket.

The chance treats each of the ``ahead`` entries as a buyer with probability ``conversion`` (the share of
admitted accounts that bought, measured on the show, or a prior before anyone has), each taking a number
of seats with the show's mean and variance; the seats that still serve those waiting are the free ones
less what the open passes are expected to take. The entry gets a ticket if the buyers ahead leave at
least one seat (a normal approximation of the compound sum, with continuity correction).
``tests/unit/test_waiting_room.py`` checks it against a simulation of buyers who take a random number of
seats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

__all__ = ["admissions_per_minute", "chance_of_ticket", "estimated_wait_seconds"]


def admissions_per_minute(history: Sequence[tuple[float, int]], now: float, horizon_seconds: float = 120.0) -> float:
    """From ``(time, admitted_through)`` points (oldest first): admissions per minute over the last
    ``horizon_seconds`` (0.0 with fewer than two points in it)."""
    recent = [(t, n) for t, n in history if now - t <= horizon_seconds]
    if len(recent) < 2:
        return 0.0
    (t0, n0), (t1, n1) = recent[0], recent[-1]
    span = max(now - t0, t1 - t0)
    return 0.0 if span <= 0 else 60.0 * (n1 - n0) / span


def estimated_wait_seconds(ahead: int, per_minute: float) -> float | None:
    """None while the queue does not move (nothing admitted lately) and someone is ahead."""
    if ahead <= 0:
        return 0.0
    if per_minute <= 0:
        return None
    return 60.0 * ahead / per_minute


def chance_of_ticket(
    ahead: int, seats_left: float, seats_per_buyer: float, conversion: float, seats_variance: float = 0.0
) -> float:
    """The probability that at least one seat is left when this entry's turn comes, in [0, 1].

    The seats the entries ahead take are ``S = K_1 + … + K_X`` with ``X ~ Binomial(ahead, conversion)``
    buyers and ``K_i`` seats each (mean ``seats_per_buyer``, variance ``seats_variance``, both measured
    on the show's bookings when there are some). ``S`` is taken as normal with the compound mean and
    variance, ``E[X]·Var(K) + Var(X)·E[K]²``; the entry is served if ``S <= seats_left - 1``."""
    if seats_left <= 0:
        return 0.0
    ahead = max(0, ahead)
    c = min(1.0, max(0.0, conversion))
    k = max(1.0, seats_per_buyer)
    mean = ahead * c * k
    variance = ahead * c * max(0.0, seats_variance) + ahead * c * (1 - c) * k * k
    limit = math.ceil(seats_left) - 1 + 0.5  # continuity correction: seats come whole
    if variance <= 1e-12:
        return 1.0 if mean <= limit else 0.0
    return NormalDist(mean, math.sqrt(variance)).cdf(limit)
