"""The delivery ledger (``notification_deliveries``): what was delivered to whom, and who is trying now.

One row per (outbox event, channel, target). ``claim`` starts an attempt: it counts the attempt and takes
a lease for as long as one send may take, unless the row is delivered, leased by an attempt in flight
elsewhere, or out of attempts. Only the lease holder sends, so two consumers handling the same event (a
duplicate stream entry, or an entry taken over from a slow consumer) never send it to a target twice at
once; ``delivered`` is final. A process that dies mid-send leaves its lease to expire, and the next claim
after that retries; if that send had in fact arrived, the receiver sees the same ``X-Seatwise-Delivery``
again (at-least-once, deduplicable).

``notification_outcomes`` records which events' stream entries are finished, so that events Redis lost
(relayed, never finished) can be relayed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import text

from persistence.database import Database


class ClaimState(Enum):
    CLAIMED = "claimed"  # this caller may send now
    DELIVERED = "delivered"  # done; never send again
    BUSY = "busy"  # an attempt is in flight elsewhere
    EXHAUSTED = "exhausted"  # out of attempts


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    attempts: int
    last_error: str | None = None


ENSURE = text(
    "INSERT INTO notification_deliveries (outbox_id, channel, target) VALUES (:o, :c, :t) ON CONFLICT DO NOTHING"
)
TAKE = text(
    """
    UPDATE notification_deliveries
    SET attempts = attempts + 1, lease_until = now() + make_interval(secs => :lease)
    WHERE outbox_id = :o AND channel = :c AND target = :t
      AND delivered_at IS NULL AND attempts < :max AND (lease_until IS NULL OR lease_until <= now())
    RETURNING attempts, last_error
    """
)
STATE = text(
    "SELECT delivered_at IS NOT NULL AS delivered, attempts, coalesce(lease_until > now(), false) AS leased, "
    "last_error FROM notification_deliveries WHERE outbox_id = :o AND channel = :c AND target = :t"
)
SUCCEEDED = text(
    "UPDATE notification_deliveries SET delivered_at = now(), lease_until = NULL, last_error = NULL "
    "WHERE outbox_id = :o AND channel = :c AND target = :t"
)
FAILED = text(
    "UPDATE notification_deliveries SET lease_until = NULL, last_error = :e "
    "WHERE outbox_id = :o AND channel = :c AND target = :t AND delivered_at IS NULL"
)
SETTLE = text(
    "INSERT INTO notification_outcomes (outbox_id, outcome) VALUES (:o, :outcome) "
    "ON CONFLICT (outbox_id) DO UPDATE SET outcome = EXCLUDED.outcome, settled_at = now()"
)
UNSETTLE = text("DELETE FROM notification_outcomes WHERE outbox_id = :o")
RESET = text(
    "UPDATE notification_deliveries SET attempts = 0, last_error = NULL "
    "WHERE outbox_id = :o AND delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= now())"
)


class DeliveryLedger:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def claim(self, outbox_id: int, channel: str, target: str, lease_seconds: float, max_attempts: int) -> Claim:
        key = {"o": outbox_id, "c": channel, "t": target}
        async with self._db.engine.begin() as conn:
            await conn.execute(ENSURE, key)
            taken = (await conn.execute(TAKE, {**key, "lease": lease_seconds, "max": max_attempts})).first()
            if taken is not None:
                return Claim(ClaimState.CLAIMED, taken.attempts, taken.last_error)
            row = (await conn.execute(STATE, key)).one()
        if row.delivered:
            return Claim(ClaimState.DELIVERED, row.attempts)
        if row.leased:
            return Claim(ClaimState.BUSY, row.attempts, row.last_error)
        return Claim(ClaimState.EXHAUSTED, row.attempts, row.last_error)

    async def succeeded(self, outbox_id: int, channel: str, target: str) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(SUCCEEDED, {"o": outbox_id, "c": channel, "t": target})

    async def failed(self, outbox_id: int, channel: str, target: str, error: str) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(FAILED, {"o": outbox_id, "c": channel, "t": target, "e": error[:2000]})

    async def settle(self, outbox_id: int, outcome: str) -> None:
        """The event's stream entry is finished: ``delivered`` or ``dead`` (see ``notification_outcomes``)."""
        async with self._db.engine.begin() as conn:
            await conn.execute(SETTLE, {"o": outbox_id, "outcome": outcome})

    async def reset_attempts(self, outbox_id: int) -> None:
        """Give every target not yet delivered a fresh set of attempts, and mark the event unfinished
        again (a dead letter being replayed)."""
        async with self._db.engine.begin() as conn:
            await conn.execute(RESET, {"o": outbox_id})
            await conn.execute(UNSETTLE, {"o": outbox_id})
