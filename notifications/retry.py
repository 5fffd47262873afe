"""How often and how long delivery is retried: a bounded number of attempts with exponential backoff.

Pure: the consumer asks for the delay after a target's n-th failed attempt and whether n is the last.
Attempts are counted in PostgreSQL (``notification_deliveries.attempts``), so the bound holds even when
consumers die mid-retry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float
    # Each delay is shortened by up to this fraction at random, so entries that failed together (a webhook
    # that was down) do not all retry in the same instant.
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_seconds <= 0 or self.max_seconds < self.base_seconds:
            raise ValueError("need max_attempts >= 1 and 0 < base_seconds <= max_seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``attempts`` failed attempts: base, 2·base, 4·base, … capped at max."""
        exponent = min(max(attempts, 1) - 1, 62)
        delay = min(self.max_seconds, self.base_seconds * (2.0**exponent))
        if self.jitter:
            delay *= 1 - self.jitter * (rng or random).random()
        return delay

    def schedule(self) -> list[float]:
        """The waits between the attempts of a target that always fails (without jitter)."""
        return [
            RetryPolicy(self.max_attempts, self.base_seconds, self.max_seconds).delay(n)
            for n in range(1, self.max_attempts)
        ]
