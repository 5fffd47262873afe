"""Pushes a show's seat map from its actor to Redis, where API processes read it without the actor.

Redis carries only what may be lost or stale: the key expires on its own, every snapshot carries the time
it was taken so readers can refuse one older than their staleness bound, and a Redis outage only means
readers fall back to PostgreSQL. Snapshots are coalesced (at most one write per interval while changes
keep coming) and also repeated as a heartbeat so an idle show's snapshot stays fresh.

Changes are also published one committed batch at a time (``actors.seat_changes``): each batch becomes a
numbered delta, sent on the show's pub/sub channel (live readers) and appended to a capped Redis stream
whose entry ids are the sequence numbers (readers that reconnect replay what they missed). The first
snapshot of each activation (epoch) is published the same way as a reset, from which readers re-sync.
All Redis writes happen in the ``run`` task, in order; ``committed`` only numbers the batch, O(changed
seats), on the actor's event loop between batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from actors.seat_changes import Message, SeatSequencer
from actors.seat_map_core import Event

log = logging.getLogger("booking.seatmap_publisher")

HEARTBEAT_SECONDS = 1.0
KEY_TTL_SECONDS = 30
LOG_MAX_ENTRIES = 1000  # replayable changes per show (approximate: Redis trims whole nodes)
LOG_TTL_SECONDS = 900  # an idle show's change log goes away; its readers then start from a snapshot
OUTBOX_LIMIT = 10_000  # unpublished messages kept while Redis is slow; beyond that readers re-sync

SnapshotSource = Callable[[], Awaitable[dict[str, Any] | None]]


def seatmap_key(prefix: str, show_id: str) -> str:
    return f"{prefix}seatmap:{show_id}"


def seatmap_channel(prefix: str, show_id: str) -> str:
    return f"{prefix}seatmap-changes:{show_id}"


def seatmap_log(prefix: str, show_id: str) -> str:
    return f"{prefix}seatmap-log:{show_id}"


def log_entry_id(seq: int) -> str:
    """Stream entry id of a message: its sequence number, so a reader can ask for "everything after N"."""
    return f"{seq}-0"


def publisher_redis(redis_url: str) -> aioredis.Redis:
    """The Redis client publishers use; one per process, shared by every show it hosts."""
    return aioredis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10)


class SeatMapPublisher:
    def __init__(self, redis: aioredis.Redis, prefix: str, show_id: str) -> None:
        self._redis = redis
        self._key = seatmap_key(prefix, show_id)
        self._channel = seatmap_channel(prefix, show_id)
        self._log = seatmap_log(prefix, show_id)
        self._dirty = asyncio.Event()
        self._wake = asyncio.Event()
        self._urgent = True  # take a snapshot as soon as possible (activation: maybe a new epoch)
        self._version = 0
        self._last_error_log = 0.0
        self._last_snapshot = 0.0
        self._sequencer = SeatSequencer()
        self._outbox: list[Message] = []
        self._io = asyncio.Lock()
        self._dropped = False  # the show is over: never write its snapshot again

    def mark_dirty(self) -> None:
        self._dirty.set()
        self._urgent = True
        self._wake.set()

    def committed(self, events: Sequence[Event]) -> None:
        """Called by the actor after each successful commit, with the events it made durable. Numbers the
        batch; the ``run`` task publishes it. Before the epoch is known the next snapshot covers it."""
        self._dirty.set()
        delta = self._sequencer.delta(events, time.time())
        if delta is None:
            self._urgent = self._urgent or self._sequencer.epoch is None
        elif len(self._outbox) < OUTBOX_LIMIT:
            self._outbox.append(delta)
        # else: dropped; the next delta's ``prev`` shows readers the hole and they re-sync.
        self._wake.set()

    async def run(self, source: SnapshotSource, interval: float) -> None:
        """Publish until ``drop``: changes as they are committed, snapshots coalesced and as a heartbeat."""
        while not self._dropped:
            now = time.monotonic()
            if self._urgent:
                due = now
            elif self._dirty.is_set():
                due = self._last_snapshot + interval
            else:
                due = self._last_snapshot + HEARTBEAT_SECONDS
            if not self._outbox and now < due:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=due - now)
                continue
            if self._outbox:
                await self._publish_outbox()
            if time.monotonic() >= due:
                self._urgent = False
                changed = self._dirty.is_set()
                self._dirty.clear()
                self._last_snapshot = time.monotonic()
                await self.flush(source, changed)

    async def flush(self, source: SnapshotSource, changed: bool = True) -> None:
        snapshot = await source()
        if snapshot is None or self._dropped:
            return
        # No await between the snapshot and here: the source took it under the actor's batch lock and
        # returned without yielding, so exactly the batches numbered so far are in it.
        epoch = int(snapshot.get("epoch", -1))
        if epoch != self._sequencer.epoch:
            # A new activation: everything still in the outbox is covered by this snapshot.
            self._outbox = [self._sequencer.reset(epoch, snapshot, time.time())]
            changed = True
        if changed:
            self._version += 1
        sequencer = self._sequencer
        # orjson: a busy show's snapshot (every held seat with its expiry, every changed seat's version) is
        # encoded several times a second; the standard library's encoder took ~9 % of a busy host actor.
        payload = orjson.dumps(
            {
                **snapshot,
                "version": self._version,
                "at": time.time(),
                "seq": sequencer.seq,
                "base": sequencer.base,
                "versions": sequencer.versions,
            }
        )
        await self._publish_outbox()
        try:
            async with self._io:
                if self._dropped:
                    return
                await self._redis.set(self._key, payload, ex=KEY_TTL_SECONDS)
        except Exception as exc:  # Redis is optional; never let it disturb the actor.
            if changed:
                self._dirty.set()
            self._log_failure(exc)

    async def stop(self) -> None:
        """The show passivates: send the changes still queued and write nothing more. Its last snapshot
        stays until readers find it older than their staleness bound (then they read PostgreSQL) or it
        expires; a later activation publishes a new epoch's snapshot over it. ``run`` ends by itself."""
        self._dropped = True
        self._wake.set()
        await self._publish_outbox()

    async def drop(self) -> None:
        """The show is over: send the changes still queued, then delete its snapshot and change log, so
        nothing of it stays live in Redis (readers fall back to PostgreSQL, which has the final map). No
        snapshot is written after this: ``flush`` checks the flag under the same lock the delete takes, and
        ``run`` ends by itself (it is not cancelled, so no write can be cut off half-sent)."""
        await self.stop()
        try:
            async with self._io:
                await self._redis.delete(self._key, self._log)
        except Exception as exc:
            self._log_failure(exc)

    async def _publish_outbox(self) -> None:
        """Append the pending messages to the change log and publish them, in order, in one round trip.
        On failure they are dropped: readers see the gap in ``prev`` and re-sync from a snapshot."""
        async with self._io:
            messages, self._outbox = self._outbox, []
            if not messages:
                return
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for message in messages:
                        payload = message.to_json()
                        pipe.xadd(
                            self._log,
                            {"m": payload},
                            id=log_entry_id(message.seq),
                            maxlen=LOG_MAX_ENTRIES,
                            approximate=True,
                        )
                        pipe.publish(self._channel, payload)
                    pipe.expire(self._log, LOG_TTL_SECONDS)
                    await pipe.execute()
            except Exception as exc:
                self._dirty.set()
                self._log_failure(exc)

    def _log_failure(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log > 30:
            self._last_error_log = now
            log.warning("could not publish seat map to Redis: %r", exc)
