"""``SeatMapStream`` is this process's side of the live seat-map stream: ONE Redis pub/sub connection,
subscribed to the change channel of each show that has at least one client here (reference counted),
fanning every change out to bounded per-client mailboxes; plus reads of the shows' change logs (to
replay what a client missed) and of a client's own holds. Redis outages are reported to the clients
(``Subscription.live``), which then fall back to periodic snapshots from the reader. A show's clients
here share one read of its claims at a time, from which each cuts its view: every seat, or one section's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from actors.redis_publisher import log_entry_id, seatmap_channel, seatmap_log
from actors.seat_changes import Delta, Message, follows_on, parse_message
from persistence import catalog
from persistence.catalog import OwnHold
from persistence.database import Database
from persistence.periodic import StopFlag, repeat
from seat_views.reader import Claims, SeatMapReader, SeatMapView

log = logging.getLogger("booking.seatmaps")

CLIENT_QUEUE_LIMIT = 256  # changes queued for one client; beyond that it is told to re-sync
REPLAY_LIMIT = 500  # changes replayed to a reconnecting client; beyond that a snapshot is cheaper
READY_TIMEOUT_SECONDS = 1.0  # how long a new client waits for the show's subscription before going on
PUBSUB_READ_SECONDS = 1.0
PUBSUB_SILENCE_SECONDS = 3.0  # no answer to a ping for this long: the connection is dead
RECONNECT_FIRST_SECONDS = 0.2  # the pause before subscribing again, doubling while it keeps failing
RECONNECT_MAX_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Published:
    """A change as the clients of one process receive it: parsed once, its public form encoded once."""

    message: Message
    public: str | None = None  # a delta's ``seats`` event data (no owners, no hold ids)


class Subscription:
    """One client's mailbox for one show's changes. Bounded: when it overflows, what is queued is dropped
    and ``overflowed`` is set, so the client re-syncs from a snapshot instead of growing without limit."""

    def __init__(self, limit: int) -> None:
        self._items: deque[Published] = deque()
        self._limit = limit
        self._signal = asyncio.Event()
        self.overflowed = False
        self.live = False  # the show's Redis subscription is established
        self.resubscribed = False  # it was (re)established since the client last looked: changes may be missed

    def push(self, item: Published) -> None:
        if len(self._items) >= self._limit:
            self._items.clear()
            self.overflowed = True
        else:
            self._items.append(item)
        self._signal.set()

    def set_live(self, live: bool) -> None:
        self.live = live
        self.resubscribed = self.resubscribed or live
        self._signal.set()

    def pop(self) -> Published | None:
        return self._items.popleft() if self._items else None

    def discard_queued(self) -> None:
        self._items.clear()

    def poke(self) -> None:
        """Wake ``wait`` (something outside the mailbox needs the client's attention)."""
        self._signal.set()

    def seen(self) -> None:
        """The client is about to look at everything: later arrivals and changes wake ``wait`` again."""
        self._signal.clear()

    async def wait(self, seconds: float) -> None:
        """Until something arrives or the state changes since ``seen``, or ``seconds`` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._signal.wait(), timeout=max(0.0, seconds))


class _Feed:
    """One show watched from this process: its channel, its clients, and a shared recent read."""

    def __init__(self, show_id: str, channel: str) -> None:
        self.show_id = show_id
        self.channel = channel
        self.clients: set[Subscription] = set()
        self.live = False
        self.confirmed = asyncio.Event()
        self.claims: Claims | None = None
        self.claims_at = 0.0
        self.reading: asyncio.Task[Claims] | None = None

    def set_live(self, live: bool) -> None:
        self.live = live
        if live:
            self.confirmed.set()
        else:
            self.confirmed.clear()
        for client in self.clients:
            client.set_live(live)

    def publish(self, item: Published) -> None:
        self.claims = None
        for client in self.clients:
            client.push(item)


class SeatMapStream:
    def __init__(
        self,
        reader: SeatMapReader,
        database: Database,
        redis: aioredis.Redis,
        redis_url: str,
        prefix: str,
        client_queue_limit: int = CLIENT_QUEUE_LIMIT,
    ) -> None:
        self.reader = reader
        self._db = database
        self._redis = redis
        self._prefix = prefix
        self._client_queue_limit = client_queue_limit
        # Its own connection: a subscribed connection serves nothing else, and it must wait on reads
        # indefinitely. No retries inside redis-py: an outage must reach the clients at once.
        self._pubsub_redis = aioredis.Redis.from_url(
            redis_url, socket_timeout=2.0, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
        self._pubsub: PubSub | None = None
        self._feeds: dict[str, _Feed] = {}
        self._channels: dict[str, _Feed] = {}
        self._lock = asyncio.Lock()  # serialises (un)subscribe commands
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closing = StopFlag()
        self._reconnect_pause = RECONNECT_FIRST_SECONDS
        self._last_error_log = 0.0

    # -- clients ------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def watch(self, show_id: str) -> AsyncIterator[Subscription]:
        """A mailbox for the show's changes while the block runs. The show's channel is subscribed while
        it has clients in this process; on entry the subscription is established (``live``) unless Redis
        did not confirm it within ``READY_TIMEOUT_SECONDS``."""
        if self._closing.is_set():
            raise RuntimeError("the seat-map stream is closed")
        sub = Subscription(self._client_queue_limit)
        feed = self._feeds.get(show_id)
        created = feed is None
        if feed is None:
            feed = self._feeds[show_id] = _Feed(show_id, seatmap_channel(self._prefix, show_id))
            self._channels[feed.channel] = feed
        feed.clients.add(sub)
        try:
            if created:
                self._ensure_running()
                await self._subscribe(feed)
            if not feed.live:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.confirmed.wait(), timeout=READY_TIMEOUT_SECONDS)
            sub.live = feed.live
            sub.resubscribed = False
            yield sub
        finally:
            feed.clients.discard(sub)
            if not feed.clients and self._feeds.get(show_id) is feed:
                del self._feeds[show_id]
                del self._channels[feed.channel]
                self._spawn(self._unsubscribe(feed))

    async def read(self, show_id: str, max_age: float) -> SeatMapView:
        """The seat map (``SeatMapReader.read``), shared by the show's clients in this process (``claims``)."""
        return (await self.claims(show_id, max_age)).full()

    async def read_section(self, show_id: str, section: str, max_age: float) -> SeatMapView:
        """One section's seats (``Claims.section``), shared like ``read``."""
        return (await self.claims(show_id, max_age)).section(section)

    async def claims(self, show_id: str, max_age: float) -> Claims:
        """The show's claims (``SeatMapReader.claims``), shared by the show's clients in this process: at
        most one read at a time, reused for ``max_age`` seconds or until the next change."""
        feed = self._feeds.get(show_id)
        if feed is None:
            return await self.reader.claims(show_id)
        if feed.claims is not None and time.monotonic() - feed.claims_at <= max_age:
            return feed.claims
        task = feed.reading
        if task is None:
            task = feed.reading = asyncio.get_running_loop().create_task(self._read(feed))
        return await asyncio.shield(task)

    async def _read(self, feed: _Feed) -> Claims:
        try:
            started = time.monotonic()
            claims = await self.reader.claims(feed.show_id)
            feed.claims, feed.claims_at = claims, started
            return claims
        finally:
            feed.reading = None

    async def changes_after(self, show_id: str, seq: int, *, seq_in_log: bool = False) -> list[Message] | None:
        """The published changes after ``seq``, from the show's change log, if they follow on from it
        without a hole; None if the log cannot tell (Redis down, trimmed, a lost publish, too many).
        With ``seq_in_log`` the change ``seq`` itself must still be in the log (a client resuming from
        it proves it was a real change)."""
        start = log_entry_id(seq) if seq_in_log else log_entry_id(seq + 1)
        try:
            entries = await self._redis.xrange(
                seatmap_log(self._prefix, show_id), min=start, max="+", count=REPLAY_LIMIT + 2
            )
            messages = [parse_message(fields[b"m"]) for _, fields in entries or [] if fields]
        except Exception as exc:
            log.debug("seat-map change log unavailable: %r", exc)
            return None
        if seq_in_log:
            if not messages or messages[0].seq != seq:
                return None
            messages = messages[1:]
        if len(messages) > REPLAY_LIMIT or not follows_on(messages, seq):
            return None
        return messages

    async def own_holds(self, show_id: str, user_id: str, also: Iterable[str] = ()) -> list[OwnHold] | None:
        """The user's active holds on the show, and the current state of the holds named in ``also``,
        from PostgreSQL (None if it cannot be read)."""
        try:
            async with self._db.session() as session:
                return await catalog.own_holds(session, show_id, user_id, also)
        except Exception as exc:
            log.warning("could not read holds for the seat-map stream: %r", exc)
            return None

    # -- the subscription ----------------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        self._wanted.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _subscribe(self, feed: _Feed) -> None:
        async with self._lock:
            if self._pubsub is None or self._channels.get(feed.channel) is not feed:
                return  # the reader loop subscribes every watched show when it (re)connects
            try:
                await self._pubsub.subscribe(feed.channel)
            except Exception as exc:
                log.debug("subscribe failed: %r", exc)  # the reader loop notices and reconnects

    async def _unsubscribe(self, feed: _Feed) -> None:
        async with self._lock:
            if self._pubsub is None or feed.channel in self._channels:
                return
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(feed.channel)

    async def _run(self) -> None:
        await repeat(self._listen, self._listen_failed, stop=self._closing)

    async def _listen(self) -> float:
        """One subscription to every watched show, until no show is watched any more or it fails (raises);
        while no show is watched, waits for one. Returns the pause before the next."""
        if not self._feeds:
            self._wanted.clear()
            await self._wanted.wait()
            return 0.0
        pubsub = self._pubsub_redis.pubsub()
        try:
            async with self._lock:
                await pubsub.subscribe(*self._channels)
                self._pubsub = pubsub
            await self._read_messages(pubsub)
        finally:
            self._pubsub = None
            for feed in self._feeds.values():
                feed.set_live(False)
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        self._reconnect_pause = RECONNECT_FIRST_SECONDS
        return self._next_reconnect()

    def _listen_failed(self, exc: Exception) -> float:
        self._log_failure(exc)
        return self._next_reconnect()

    def _next_reconnect(self) -> float:
        """The pause before subscribing again (none when no show is watched): doubles each time."""
        if not self._feeds or self._closing.is_set():
            return 0.0
        pause = self._reconnect_pause
        self._reconnect_pause = min(pause * 2, RECONNECT_MAX_SECONDS)
        return pause

    async def _read_messages(self, pubsub: PubSub) -> None:
        """Dispatch until no show is watched any more; raises when the connection fails or goes silent."""
        heard = time.monotonic()
        pinged = False
        while self._feeds and not self._closing.is_set():
            message = await pubsub.get_message(timeout=PUBSUB_READ_SECONDS)
            now = time.monotonic()
            if message is not None:
                heard, pinged = now, False
                self._dispatch(message)
            elif now - heard > PUBSUB_SILENCE_SECONDS:
                raise ConnectionError("Redis stopped answering on the seat-map subscription")
            elif now - heard > PUBSUB_READ_SECONDS and not pinged:
                await pubsub.ping()
                pinged = True

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        feed = self._channels.get(channel) if isinstance(channel, str) else None
        if feed is None:
            return
        kind = message["type"]
        if kind == "subscribe":
            feed.set_live(True)
        elif kind == "message":
            try:
                change = parse_message(message["data"])
            except ValueError as exc:
                log.warning("ignored a malformed seat-map change: %s", exc)
                return
            public = change.public_json(feed.show_id) if isinstance(change, Delta) else None
            feed.publish(Published(change, public))

    def _log_failure(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log > 30:
            self._last_error_log = now
            log.warning("seat-map stream: Redis subscription lost (%r); clients fall back to snapshots", exc)

    async def aclose(self) -> None:
        self._closing.set()
        self._wanted.set()
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self._pubsub_redis.aclose()
