"""The producing side of delivery: the hold-reminder sweep and the outbox relay.

``HoldReminderSweep`` writes ``hold.expiring`` outbox rows for active holds about to expire. One statement
finds the due holds, claims each (hold, deadline) in ``hold_reminders`` with ``ON CONFLICT DO NOTHING
RETURNING`` and inserts an outbox row only for the claims it won, so sweeps running at once in several
processes write one reminder per deadline.

``OutboxRelay`` moves unrelayed outbox rows, in id order, to the Redis Stream and marks them relayed, in
one transaction per batch. ``FOR UPDATE SKIP LOCKED`` lets several processes relay at once without taking
the same rows. A crash between the ``XADD`` and the commit relays the rows again: the stream may hold an
event twice, and delivery is idempotent by outbox id. With Redis down the transaction rolls back and the
rows wait. When Redis comes back empty (the consumer had to create its group afresh), ``requeue_unfinished``
makes the relay send again every recent event not yet finished.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy import text

from notifications.events import HOLD_EXPIRING, Notification
from persistence.database import Database

SWEEP = text(
    """
    WITH due AS (
        SELECT h.id, h.show_id, h.user_id, h.seat_ids, h.expires_at
        FROM holds h
        WHERE h.status = 'active'
          AND h.payment_key IS NULL  -- being paid for: it cannot expire mid-payment, so no reminder
          AND h.expires_at > now()
          AND h.expires_at <= now() + make_interval(secs => :lead)
          AND NOT EXISTS (
              SELECT 1 FROM hold_reminders r WHERE r.hold_id = h.id AND r.expires_at = h.expires_at
          )
        ORDER BY h.expires_at
        LIMIT :batch
    ),
    claimed AS (
        INSERT INTO hold_reminders (hold_id, expires_at)
        SELECT id, expires_at FROM due
        ON CONFLICT DO NOTHING
        RETURNING hold_id, expires_at
    )
    INSERT INTO notification_outbox (kind, user_id, show_id, payload)
    SELECT :kind, d.user_id, d.show_id, jsonb_build_object(
        'hold_id', d.id,
        'show_id', d.show_id,
        'user_id', d.user_id,
        'seat_ids', to_jsonb(d.seat_ids),
        'expires_at', to_char(d.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    )
    FROM due d JOIN claimed c ON c.hold_id = d.id AND c.expires_at = d.expires_at
    ORDER BY d.expires_at
    RETURNING id
    """
)

UNRELAYED = text(
    "SELECT id, kind, user_id, show_id, payload, created_at FROM notification_outbox "
    "WHERE relayed_at IS NULL ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED"
)
MARK_RELAYED = text("UPDATE notification_outbox SET relayed_at = now() WHERE id = ANY(:ids)")
# Relayed, recent, and never finished: what a Redis that lost the stream may have lost. Dead letters are
# relayed again too (they go straight back to the dead letters: their targets are out of attempts), but a
# reminder for a hold that has expired meanwhile is not.
REQUEUE_UNFINISHED = text(
    """
    UPDATE notification_outbox o SET relayed_at = NULL
    WHERE o.relayed_at IS NOT NULL
      AND o.created_at > now() - make_interval(secs => :window)
      AND NOT EXISTS (
          SELECT 1 FROM notification_outcomes s WHERE s.outbox_id = o.id AND s.outcome = 'delivered'
      )
      AND NOT (o.kind = :reminder AND o.payload->>'expires_at' IS NOT NULL
               AND (o.payload->>'expires_at')::timestamptz <= now())
    RETURNING o.id
    """
)


class HoldReminderSweep:
    def __init__(self, database: Database, lead_seconds: float, batch_size: int = 500) -> None:
        self._db = database
        self._lead = lead_seconds
        self._batch = batch_size

    async def run_once(self) -> list[int]:
        """Write the reminders now due; returns the outbox ids written."""
        async with self._db.engine.begin() as conn:
            result = await conn.execute(SWEEP, {"lead": self._lead, "batch": self._batch, "kind": HOLD_EXPIRING})
            return [row.id for row in result]


class OutboxRelay:
    def __init__(self, database: Database, redis: aioredis.Redis, stream: str, batch_size: int = 500) -> None:
        self._db = database
        self._redis = redis
        self._stream = stream
        self.batch_size = batch_size

    async def run_once(self) -> int:
        """Relay one batch; returns how many rows it moved (0: nothing was waiting)."""
        async with self._db.engine.begin() as conn:
            rows = (await conn.execute(UNRELAYED, {"batch": self.batch_size})).all()
            if not rows:
                return 0
            async with self._redis.pipeline(transaction=True) as pipe:
                for row in rows:
                    notification = Notification(row.id, row.kind, row.user_id, row.show_id, row.payload, row.created_at)
                    pipe.xadd(self._stream, notification.stream_fields())  # type: ignore[arg-type]
                await pipe.execute()
            await conn.execute(MARK_RELAYED, {"ids": [row.id for row in rows]})
        return len(rows)

    async def requeue_unfinished(self, window_seconds: float) -> int:
        """Relay again every recent event whose stream entry was never finished (Redis lost the stream)."""
        async with self._db.engine.begin() as conn:
            result = await conn.execute(REQUEUE_UNFINISHED, {"window": window_seconds, "reminder": HOLD_EXPIRING})
            return len(result.all())
