"""Retention: the pruning job that keeps tables which would otherwise grow forever to a bounded age.

What goes, and when (each age is a setting; see the README's configuration table):

- ``idempotency_keys``: a key past its lifetime (24 h), except one whose payment is still pending (the
  reconciler stores the booking as that key's answer; see ``persistence.idempotency``). The lookup already
  treats such a key as absent; pruning only reclaims the space.
- ``notification_outbox`` (with its ``notification_outcomes`` row): an event delivered to every target,
  that long after it was finished (7 days). Events not yet relayed, in flight, or dead-lettered stay: a
  dead letter keeps its event until it is replayed and delivered, since replaying needs it.
- ``notification_deliveries`` (the delivery ledger: what was sent to whom): rows that old (30 days), and
  never before their event is pruned, so an event still kept keeps its record of who got it.
- ``seat_ledger`` stays forever: it is the audit trail of every seat.

Deleting never blocks bookings: every statement deletes at most ``batch_size`` rows picked with ``FOR UPDATE
SKIP LOCKED`` and commits on its own, with a short pause between batches, so no lock is held for long and
none that a booking waits on (bookings write none of the rows pruned, except an idempotency key that a
request is using right now, which the ``SKIP LOCKED`` passes over). Each batch first takes a transaction-level
advisory lock with ``pg_try_advisory_xact_lock``: when several API processes run the job, one prunes and
the others find the lock taken and leave the round to it. A database error ends the round with a warning;
the next round tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import TextClause, text

from persistence.database import Database
from persistence.idempotency import EXPIRED
from persistence.periodic import Periodic

log = logging.getLogger("booking.retention")

# Any fixed 64-bit number that no other advisory lock of this database uses: "seatwise retention".
ADVISORY_LOCK_KEY = 0x5EA7_0000_0000_0014

TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")

PRUNE_IDEMPOTENCY_KEYS = text(
    "DELETE FROM idempotency_keys WHERE id IN ("  # noqa: S608
    f"SELECT k.id FROM idempotency_keys k WHERE {EXPIRED} "
    "ORDER BY k.created_at LIMIT :batch FOR UPDATE OF k SKIP LOCKED)"
)
# An outcome references its event, so both go in one statement (the reference is checked at its end).
PRUNE_OUTBOX = text(
    """
    WITH doomed AS (
        SELECT outbox_id FROM notification_outcomes
        WHERE outcome = 'delivered' AND settled_at < now() - make_interval(secs => :age)
        ORDER BY settled_at LIMIT :batch FOR UPDATE SKIP LOCKED
    ), outcomes AS (
        DELETE FROM notification_outcomes WHERE outbox_id IN (SELECT outbox_id FROM doomed)
    )
    DELETE FROM notification_outbox WHERE id IN (SELECT outbox_id FROM doomed)
    """
)
PRUNE_DELIVERY_LEDGER = text(
    """
    DELETE FROM notification_deliveries WHERE (outbox_id, channel, target) IN (
        SELECT d.outbox_id, d.channel, d.target FROM notification_deliveries d
        WHERE d.created_at < now() - make_interval(secs => :age)
          AND NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.id = d.outbox_id)
        ORDER BY d.created_at LIMIT :batch FOR UPDATE OF d SKIP LOCKED
    )
    """
)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each pruned table keeps its rows, and how the pruning job paces itself."""

    idempotency_key_ttl: timedelta = timedelta(hours=24)
    outbox: timedelta = timedelta(days=7)
    delivery_ledger: timedelta = timedelta(days=30)
    batch_size: int = 1000
    pause_seconds: float = 0.05  # between two batches of one table: lets other work at the rows in between


@dataclass(frozen=True, slots=True)
class PruneReport:
    """Rows deleted in one round. ``skipped``: another process held the lock and pruned instead."""

    idempotency_keys: int = 0
    outbox_events: int = 0
    delivery_ledger: int = 0
    skipped: bool = False

    @property
    def total(self) -> int:
        return self.idempotency_keys + self.outbox_events + self.delivery_ledger


class _LockTaken(Exception):
    """Another process is pruning right now (after this one deleted ``deleted`` rows of the table)."""

    def __init__(self, deleted: int) -> None:
        super().__init__(deleted)
        self.deleted = deleted


class Pruner:
    """Deletes what is past retention, in small batches, every ``interval_seconds`` (0: never)."""

    def __init__(self, database: Database, policy: RetentionPolicy, interval_seconds: float) -> None:
        self._db = database
        self.policy = policy
        self._interval = interval_seconds
        # PostgreSQL down, say: a failed round is logged, and the next one is the retry.
        self._rounds = Periodic(self.run_once, interval_seconds, log=log, what="retention: pruning round")

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    def start(self) -> None:
        if self.enabled:
            self._rounds.start()

    @property
    def running(self) -> bool:
        return self._rounds.running

    async def aclose(self) -> None:
        await self._rounds.aclose()

    async def run_once(self) -> PruneReport:
        """One round over every table; logs one INFO line if it deleted anything."""
        started = time.perf_counter()
        p = self.policy
        rounds = (
            (PRUNE_IDEMPOTENCY_KEYS, {"ttl": p.idempotency_key_ttl.total_seconds()}),
            (PRUNE_OUTBOX, {"age": p.outbox.total_seconds()}),
            (PRUNE_DELIVERY_LEDGER, {"age": p.delivery_ledger.total_seconds()}),
        )
        counts = [0, 0, 0]
        skipped = False
        for i, (statement, params) in enumerate(rounds):
            try:
                counts[i] = await self._prune(statement, params)
            except _LockTaken as taken:
                counts[i] = taken.deleted
                skipped = True
                break
        report = PruneReport(counts[0], counts[1], counts[2], skipped=skipped)
        if report.total:
            log.info(
                "retention: pruned %d idempotency keys, %d delivered notification events, %d delivery-ledger "
                "rows in %.2f s",
                *counts,
                time.perf_counter() - started,
            )
        return report

    async def _prune(self, statement: TextClause, params: dict[str, float]) -> int:
        """Run ``statement`` batch by batch, one transaction each, until a batch comes back short."""
        total = 0
        while True:
            async with self._db.engine.begin() as conn:
                if not (await conn.execute(TRY_LOCK, {"key": ADVISORY_LOCK_KEY})).scalar_one():
                    raise _LockTaken(total)
                result = await conn.execute(statement, {**params, "batch": self.policy.batch_size})
                deleted = int(getattr(result, "rowcount", 0) or 0)
            total += deleted
            if deleted < self.policy.batch_size:
                return total
            await asyncio.sleep(self.policy.pause_seconds)
