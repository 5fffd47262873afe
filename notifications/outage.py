"""Logging a dependency outage once when it starts and once when it ends, not once per retry."""

from __future__ import annotations

import logging
import time


class Outage:
    def __init__(self, log: logging.Logger, what: str, repeat_seconds: float = 60.0) -> None:
        self._log = log
        self._what = what
        self._repeat = repeat_seconds
        self._since: float | None = None
        self._logged_at = 0.0
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns a back-off (seconds) for the caller to sleep, growing to 5 s."""
        now = time.monotonic()
        self.failures += 1
        if self._since is None:
            self._since = now
            self._logged_at = now
            self._log.warning("%s failed: %r; retrying", self._what, exc)
        elif now - self._logged_at >= self._repeat:
            self._logged_at = now
            self._log.warning("%s still failing after %.0f s: %r", self._what, now - self._since, exc)
        return float(min(5.0, 0.1 * 2 ** min(self.failures, 6)))

    def ok(self) -> None:
        if self._since is not None:
            self._log.info("%s recovered after %.1f s", self._what, time.monotonic() - self._since)
        self._since = None
        self.failures = 0
