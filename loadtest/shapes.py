"""The load shapes, as locust ``LoadTestShape``s driven by ``--users`` and ``--run-time``.

- ``FlashSaleShape``: the crowd arrives at on-sale time. Everyone is there within the first few seconds
  (``RAMP_SECONDS``, at most a sixth of the run), stays through the rush, and once the best seats are
  gone most of it leaves: after three quarters of the run a quarter of the crowd remains.
- ``BrowsingShape``: a steady day. Users arrive over the first tenth of the run and stay.
- ``WaitingRoomShape``: an on-sale with a waiting room. Users arrive over the first quarter of the run (at
  most ``ARRIVAL_SECONDS``), across the opening, and stay to the end: each is one account with one place
  in the queue, which it keeps until the room admits it or says the show is sold out.

All read locust's own ``--users`` / ``--run-time`` (``use_common_options``) so that a plain
``locust -f loadtest/locustfile.py --headless -u 500 -t 60s`` behaves like the harness. The locustfile
binds exactly one of them (``BY_SHAPE[LOADTEST_SHAPE]``), since locust runs the first shape it finds.
"""

from __future__ import annotations

import math
import time

from locust import LoadTestShape

RAMP_SECONDS = 5.0
ARRIVAL_SECONDS = 15.0
DEFAULT_RUN_SECONDS = 60.0


class _CommonShape(LoadTestShape):
    abstract = True
    use_common_options = True

    def _options(self) -> tuple[int, float]:
        options = self.runner.environment.parsed_options if self.runner is not None else None
        users = int(getattr(options, "num_users", None) or 1)
        run_time = float(getattr(options, "run_time", None) or DEFAULT_RUN_SECONDS)
        return users, run_time

    def elapsed(self) -> float:
        """Seconds since the shape started (``get_run_time``, typed)."""
        started: float = self.start_time
        return time.perf_counter() - started


class FlashSaleShape(_CommonShape):
    """A fast ramp to the whole crowd, a plateau through the rush, then most of the crowd leaves."""

    abstract = False

    def tick(self) -> tuple[int, float] | None:
        users, run_time = self._options()
        now = self.elapsed()
        if now >= run_time:
            return None
        ramp = max(1.0, min(RAMP_SECONDS, run_time / 6))
        if now < run_time * 0.75:
            return users, math.ceil(users / ramp)
        return max(1, users // 4), math.ceil(users / ramp)


class _ArriveAndStay(_CommonShape):
    """Users arrive at an even rate over ``arrival_share`` of the run (at most ``arrival_cap`` seconds) and
    stay until its end."""

    abstract = True
    arrival_share = 0.1
    arrival_cap = math.inf

    def arrival_seconds(self, run_time: float) -> float:
        return min(self.arrival_cap, run_time * self.arrival_share)

    def tick(self) -> tuple[int, float] | None:
        users, run_time = self._options()
        if self.elapsed() >= run_time:
            return None
        return users, max(1.0, users / max(1.0, self.arrival_seconds(run_time)))


class BrowsingShape(_ArriveAndStay):
    """A gentle ramp over the first tenth of the run, then a steady crowd until the end."""

    abstract = False
    arrival_share = 0.1


class WaitingRoomShape(_ArriveAndStay):
    """Arrivals spread over the first quarter of the run (at most ``ARRIVAL_SECONDS``), then everyone stays."""

    abstract = False
    arrival_share = 0.25
    arrival_cap = ARRIVAL_SECONDS


BY_SHAPE: dict[str, type[_CommonShape]] = {
    "flash-sale": FlashSaleShape,
    "browsing": BrowsingShape,
    "waiting-room": WaitingRoomShape,
}
