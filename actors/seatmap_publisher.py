"""Pushes a show's seat map from its actor to Redis, where API processes read it without the actor.

Redis carries only what may be lost or stale: the key expires on its own, every snapshot carries the time
it was taken so readers can refuse one older than their staleness bound, and a Redis outage only means
readers fall back to PostgreSQL. Publishing is coalesced (at most one write per interval while changes
keep coming) and also repeated as a heartbeat so an idle show's snapshot stays fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis

from actors.seatmap import Event

log = logging.getLogger("booking.seatmap_publisher")

HEARTBEAT_SECONDS = 1.0
KEY_TTL_SECONDS = 30

SnapshotSource = Callable[[], Awaitable[dict[str, Any] | None]]


def seatmap_key(prefix: str, show_id: str) -> str:
    return f"{prefix}seatmap:{show_id}"


def seatmap_channel(prefix: str, show_id: str) -> str:
    return f"{prefix}seatmap-changes:{show_id}"


class SeatMapPublisher:
    def __init__(self, redis_url: str, prefix: str, show_id: str) -> None:
        self._redis = aioredis.Redis.from_url(
            redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10
        )
        self._key = seatmap_key(prefix, show_id)
        self._channel = seatmap_channel(prefix, show_id)
        self._dirty = asyncio.Event()
        self._version = 0
        self._last_error_log = 0.0

    def mark_dirty(self) -> None:
        self._dirty.set()

    def committed(self, events: Sequence[Event]) -> None:
        """Called by the actor after each successful commit, with the events it made durable."""
        self._dirty.set()

    async def run(self, source: SnapshotSource, interval: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), timeout=HEARTBEAT_SECONDS)
            changed = self._dirty.is_set()
            self._dirty.clear()
            await self.flush(source, changed)
            await asyncio.sleep(interval)

    async def flush(self, source: SnapshotSource, changed: bool = True) -> None:
        snapshot = await source()
        if snapshot is None:
            return
        if changed:
            self._version += 1
        payload = json.dumps({**snapshot, "version": self._version, "at": time.time()})
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._key, payload, ex=KEY_TTL_SECONDS)
                if changed:
                    pipe.publish(self._channel, payload)
                await pipe.execute()
        except Exception as exc:  # Redis is optional; never let it disturb the actor.
            if changed:
                self._dirty.set()
            now = time.monotonic()
            if now - self._last_error_log > 30:
                self._last_error_log = now
                log.warning("could not publish seat map to Redis: %r", exc)
