"""How busy a hosted show is: its commands per second over a sliding window, for promotion.

A host (``actors/show_host.py``) moves a show whose rate stays above ``BOOKING_SHOW_PROMOTE_RATE`` into a
Ray actor of its own. The window is a sliding-window counter (the previous fixed window weighted by how
much of it still overlaps, plus the current one), so a show must be busy for about a window, not for one
burst, before it moves; it costs O(1) per batch and two numbers per show.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CommandRate:
    """Commands per second of one show over the last ``window`` seconds."""

    __slots__ = ("_clock", "_current", "_previous", "_started", "_window")

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._started = clock()
        self._previous = 0
        self._current = 0

    def _roll(self, now: float) -> None:
        elapsed = now - self._started
        if elapsed < self._window:
            return
        windows = int(elapsed // self._window)
        self._previous = self._current if windows == 1 else 0
        self._current = 0
        self._started += windows * self._window

    def add(self, commands: int) -> None:
        self._roll(self._clock())
        self._current += commands

    def per_second(self) -> float:
        now = self._clock()
        self._roll(now)
        overlap = 1.0 - (now - self._started) / self._window
        return (self._previous * overlap + self._current) / self._window
