"""A host for many shows in one Ray actor: virtual actors, as Orleans grains or Akka's sharded entities.

Each hosted show is still an actor of its own (``ShowEntity``: one writer, its own mailbox, seat map, hold
timers, epoch and fencing); what the shows share is the process, a small PostgreSQL pool and a Redis
client. A show costs its seat map in memory, not a process and a connection, so a node keeps as many as its
memory allows, and a Ray call costs what it costs once per host instead of once per show.

Lifecycle of a hosted show:

- **activated on demand** by the first command (a new epoch from PostgreSQL, as for any activation);
- **passivated when idle**: no command for ``idle_seconds``, nothing staged, no payment in flight. Every
  acknowledged change is already in PostgreSQL, so dropping it from memory loses nothing; an expired hold
  owns nothing whether or not a timer ran (design rule 4), readers respect ``expires_at``, and the API's
  pre-warmer wakes shows whose holds are about to expire (``routing/prewarm.py``);
- **evicted at the budget**: a host holds at most ``max_shows``; a new show then passivates the least
  recently used show that is not busy and has no payment in flight, and if every show is busy the new
  show's request is refused with ``Unavailable`` (503, ``Retry-After``), never an out-of-memory kill;
- **gone** when retired (the show started or was cancelled) or fenced (a newer activation elsewhere took
  the epoch): dropped from the host, which keeps serving its other shows.

A host that has served no show and had no call for ``recycle_seconds`` exits (``ray.actor.exit_actor``),
and the next call for any of its shows starts a fresh one. This is how a quiet catalog gives its memory
back: passivating a show frees its Python objects, but the process keeps the memory they used (the C
allocator's arenas and Python's own are fragmented by the shows that came and went, and are not returned
to the system), so only a new process is as small as a new one. The exit is decided and made without an
``await`` in between and with no call running, so a call that reaches the exiting host has run nothing and
the API sends it to the new one (``host_recycled``).

A batch that waited for a show being passivated ran nothing (``EntityStopped``), so it goes to a fresh
activation of that show.

**Promotion.** A show busier than ``promote_rate`` commands/s over a sliding window (``actors/show_rate.py``)
gets a Ray actor of its own (``actors/show_actor.py``, ``show:<id>``): the host starts that actor's process
first (not activating the show: the crowd keeps being served here meanwhile), then commits what the show has
staged and stops it (``ShowEntity.hand_over``), then records the move in PostgreSQL (``shows.own_actor``,
under the epoch it served at). Batches that waited meanwhile run nothing here: every activation in a host
checks the show's placement and, for a show with an actor of its own, answers ``Moved`` without taking an
epoch, so the API re-routes them (and later stale routes) to the show's own actor, whose activation is the
only new epoch. Isolation is what that buys (a crowd does not slow the host's other shows, nor they it; on
a bigger node, a core of its own), not speed: a hot show in a host runs at ~0.97x its own actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import AsyncioActorExit

from actors.commands import Command, Reply
from actors.errors import Unavailable
from actors.metrics import HostMetrics, LifecycleEvent
from actors.redis_publisher import SeatMapPublisher, publisher_redis
from actors.show_actor import RemoteShowActor, actor_name, actor_options, set_niceness
from actors.show_entity import ActorConfig, EntityStopped, Gone, ShowEntity
from actors.show_rate import CommandRate
from actors.wire import pack, unpack

log = logging.getLogger("booking.show_host")

# A batch for a show that keeps being stopped under it is refused after this many fresh activations.
MAX_HANDOVERS = 3
START_TIMEOUT_SECONDS = 30.0  # a promoted show's own actor must be up within this, or the show stays here


@dataclass(frozen=True, slots=True)
class OwnActorOptions:
    """Where a promoted show's own actor lives and what it asks Ray for: as the API process would make it
    (the namespace is the API's: a host's own job may be another's)."""

    namespace: str | None = None  # None: the host's job's
    num_cpus: float = 0.0
    memory_mb: int = 0
    scheduling: str = "DEFAULT"


@dataclass(frozen=True, slots=True)
class HostConfig:
    max_shows: int  # the live-show budget of this host
    idle_seconds: float  # a show with no command for this long is passivated
    db_connections: int  # the PostgreSQL pool the host's shows share
    recycle_seconds: float = 0.0  # an empty host with no call for this long exits; 0: never
    promote_rate: float = 0.0  # a show above this many commands/s moves to an actor of its own; 0: never
    promote_window_seconds: float = 2.0  # the sliding window that rate is measured over
    own_actor: OwnActorOptions = OwnActorOptions()  # Ray resources of a promoted show's own actor


HOST_BASE_MEMORY_MB = 120  # a host process before any show: Ray worker, psycopg pool, Redis client


def derived_max_shows(node_memory_bytes: int, hosts: int, show_memory_mb: float, share: float = 0.25) -> int:
    """A host's live-show budget when none is set: the hosts together may use ``share`` of the node's
    memory (the rest is for PostgreSQL, Redis, the API and the OS) at ``show_memory_mb`` per show."""
    usable_mb = node_memory_bytes / 2**20 * share - hosts * HOST_BASE_MEMORY_MB
    return max(1, int(usable_mb / hosts / show_memory_mb))


HOST_PREFIX = "shows:"


def host_name(index: int) -> str:
    return f"{HOST_PREFIX}{index}"


def host_recycled(error: BaseException) -> bool:
    """Whether a failed call reached a host that exited on purpose (recycled, or any actor that called
    ``exit_actor``): then the call ran nothing, and may go to a fresh actor. Ray says so only in the
    error's text; ``tests/integration/test_show_hosts.py`` pins it for the Ray version we pin."""
    return isinstance(error, ray.exceptions.ActorDiedError) and "INTENDED_USER_EXIT" in str(error)


class ShowHost:
    """Hosts shows as virtual actors in one Ray actor. Found by name (``shows:<n>``)."""

    def __init__(self, name: str, config: ActorConfig, host: HostConfig) -> None:
        set_niceness(config.niceness)
        self.name = name
        self._config = config
        self._host = host
        self._journals = config.journals.shared(host.db_connections)  # the pool and group commit
        self._pool_open: asyncio.Task[None] | None = None
        self._redis = publisher_redis(config.redis_url)
        self._shows: OrderedDict[str, ShowEntity] = OrderedDict()  # least recently used first
        self._closing: set[asyncio.Task[None]] = set()
        self._rates: dict[str, CommandRate] = {}  # commands/s of each live show, for promotion
        self._promoting: dict[str, asyncio.Task[None]] = {}  # shows whose own actor is being started
        self._moves: dict[str, asyncio.Future[None]] = {}  # shows being handed over to it (batches wait)
        self._figures = {
            "activations": 0,
            "passivations": 0,
            "evictions": 0,
            "refusals": 0,
            "fenced": 0,
            "promotions": 0,
            "moved": 0,
        }
        self._metrics = HostMetrics(name)
        self._calls = 0  # apply/ping calls running now
        self._last_call = time.monotonic()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_idle())

    def __repr__(self) -> str:  # what the Ray dashboard and log prefixes show for this actor
        return f"ShowHost({self.name})"

    # -- the batch path -----------------------------------------------------------------------------

    async def apply(self, show_id: str, commands: Sequence[Command]) -> list[Reply]:
        """Run a batch on ``show_id``, activating it here first if it is not live."""
        with self._call():
            return await self._apply(show_id, commands)

    async def _apply(self, show_id: str, commands: Sequence[Command]) -> list[Reply]:
        for _ in range(MAX_HANDOVERS):
            entity = await self._entity(show_id)
            if entity is None:
                self._count("refusals", "refused")
                return [Unavailable("this host serves as many shows as it may; retry", 2) for _ in commands]
            self._measure(show_id, entity, len(commands))
            try:
                return await entity.apply(commands)
            except EntityStopped:
                continue  # passivated or moved while the batch waited: nothing ran; a fresh activation takes it
        return [Unavailable("the show is being moved; retry", 1) for _ in commands]

    async def apply_many(self, batches: dict[str, list[Command]]) -> dict[str, list[Reply]]:
        """Batches for several shows in one call (the API's lane of this host): each show runs its own
        batch in its own mailbox, concurrently with the others."""
        shows = list(batches)
        with self._call():
            outcomes = await asyncio.gather(
                *(self._apply(show_id, batches[show_id]) for show_id in shows), return_exceptions=True
            )
        answered: dict[str, list[Reply]] = {}
        for show_id, outcome in zip(shows, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # one show's failure never answers for another's
                log.error("%s: batch for show %s failed: %r", self.name, show_id, outcome)
                outcome = [Unavailable("the show failed to answer; retry", 1) for _ in batches[show_id]]
            answered[show_id] = outcome
        return answered

    async def apply_many_packed(self, batches: bytes) -> bytes:
        """``apply_many`` for batches packed by ``actors.wire``, the replies packed the same way: what the
        API calls."""
        return pack(await self.apply_many(unpack(batches)))

    async def ping(self, show_id: str) -> dict[str, Any]:
        """A hosted show's figures (activating it if needed), and where it lives."""
        with self._call():
            return await self._ping(show_id)

    async def _ping(self, show_id: str) -> dict[str, Any]:
        for _ in range(MAX_HANDOVERS):
            entity = await self._entity(show_id)
            if entity is None:
                raise Unavailable("this host serves as many shows as it may; retry", 2)
            try:
                figures = await entity.ping()
            except EntityStopped:
                continue
            return {
                **figures,
                "host": self.name,
                "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id(),
            }
        raise Unavailable("the show is being moved; retry", 1)

    async def stats(self) -> dict[str, Any]:
        """For operators and tests: the live shows (least recently used first) and lifecycle counts."""
        return {
            "host": self.name,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "max_shows": self._host.max_shows,
            "live_shows": list(self._shows),
            "rates": {show_id: round(rate.per_second(), 1) for show_id, rate in self._rates.items()},
            "transactions": self._journals.transactions,
            "batches_committed": self._journals.batches,
            **self._figures,
        }

    async def passivate_idle(self, idle_seconds: float | None = None) -> list[str]:
        """Passivate every show idle for ``idle_seconds`` (the host's setting by default) now; returns
        their ids. The sweeper does this on its own; operators and tests may ask for it."""
        limit = self._host.idle_seconds if idle_seconds is None else idle_seconds
        passivated = []
        for show_id, entity in list(self._shows.items()):
            if await entity.passivate(limit):
                self._drop(show_id, entity)
                self._count("passivations", "passivated")
                passivated.append(show_id)
        return passivated

    def _recyclable(self) -> bool:
        quiet = time.monotonic() - self._last_call >= self._host.recycle_seconds
        busy = self._shows or self._closing or self._calls or self._promoting
        return self._host.recycle_seconds > 0 and quiet and not busy

    @contextlib.contextmanager
    def _call(self) -> Iterator[None]:
        self._calls += 1
        try:
            yield
        finally:
            self._calls -= 1
            self._last_call = time.monotonic()

    # -- activation and the budget ------------------------------------------------------------------

    async def _entity(self, show_id: str) -> ShowEntity | None:
        """The live entity of ``show_id``, activating it if needed; None if the budget is spent by shows
        that are all busy. No await separates the final count check from the insertion, so the host never
        holds more than ``max_shows``. A show being moved out is activated again only once its move is over
        (and then, if it moved, answers ``Moved``)."""
        move = self._moves.get(show_id)
        if move is not None:
            await asyncio.shield(move)
        while True:
            entity = self._shows.get(show_id)
            if entity is not None and not entity.gone:
                self._shows.move_to_end(show_id)
                return entity
            if entity is not None:
                self._drop(show_id, entity)
            if len(self._shows) < self._host.max_shows:
                break
            if not await self._evict_one():
                return None
        if self._pool_open is None:
            self._pool_open = asyncio.get_running_loop().create_task(self._journals.open())
        entity = ShowEntity(
            show_id,
            self._config,
            self._journals.journal(),
            SeatMapPublisher(self._redis, self._config.redis_prefix, show_id),
            self._gone,
            own_actor=False,  # a show with an actor of its own is not served here: it answers Moved
        )
        self._shows[show_id] = entity
        self._count("activations", "activated")
        if not self._pool_open.done():
            await asyncio.shield(self._pool_open)
        return entity

    async def _evict_one(self) -> bool:
        """Passivate the least recently used show that is not busy and has no payment in flight."""
        for show_id, entity in list(self._shows.items()):
            if entity.gone:
                self._drop(show_id, entity)
                return True
            if await entity.passivate(0.0):
                self._drop(show_id, entity)
                self._count("evictions", "evicted")
                log.info("%s: show %s passivated to make room (budget %d)", self.name, show_id, self._host.max_shows)
                return True
        return False

    def _drop(self, show_id: str, entity: ShowEntity) -> None:
        if self._shows.get(show_id) is entity:
            del self._shows[show_id]
            self._rates.pop(show_id, None)

    # -- promotion ----------------------------------------------------------------------------------

    def _measure(self, show_id: str, entity: ShowEntity, commands: int) -> None:
        """Count a batch toward the show's rate; past ``promote_rate``, start moving it out."""
        if self._host.promote_rate <= 0:
            return
        rate = self._rates.get(show_id)
        if rate is None:
            rate = self._rates[show_id] = CommandRate(self._host.promote_window_seconds)
        rate.add(commands)
        if show_id not in self._promoting and rate.per_second() > self._host.promote_rate:
            promotion = asyncio.get_running_loop().create_task(self._promote(show_id, entity))
            self._promoting[show_id] = promotion
            promotion.add_done_callback(lambda _: self._promoting.pop(show_id, None))

    async def _promote(self, show_id: str, entity: ShowEntity) -> None:
        """Move a busy show to an actor of its own: stop it here with everything staged committed, then
        record its placement under the epoch it served at. Batches for it wait for this (``_entity``) and
        then meet the placement at activation: ``Moved``. If the move cannot be recorded, the show stays
        hosted and its next batch activates it here again."""
        rate = self._rates.get(show_id)
        per_second = rate.per_second() if rate is not None else 0.0
        moved = False
        started = time.monotonic()
        try:
            await self._start_own_actor(show_id)
        except Exception as exc:  # the show stays here; its rate starts over before another try
            log.warning("%s: could not start an actor for show %s: %r", self.name, show_id, exc)
            self._rates.pop(show_id, None)
            return
        handing_over = time.monotonic()
        self._moves[show_id] = handed_over = asyncio.get_running_loop().create_future()
        try:
            if await entity.hand_over() is not None:
                moved = await entity.place(own_actor=True)
        except Exception as exc:
            log.warning("%s: could not move show %s to an actor of its own: %r", self.name, show_id, exc)
        finally:
            if entity.gone:  # stopped here (or fenced meanwhile); one still activating or reloading stays
                self._drop(show_id, entity)
            del self._moves[show_id]
            handed_over.set_result(None)
        if moved:
            self._count("promotions", "promoted")
            log.info(
                "%s: show %s moves to an actor of its own (%.0f commands/s > %g; its process up in %.3fs, "
                "handed over in %.3fs)",
                self.name,
                show_id,
                per_second,
                self._host.promote_rate,
                handing_over - started,
                time.monotonic() - handing_over,
            )

    async def _start_own_actor(self, show_id: str) -> None:
        """Find or start the show's own actor and wait until its process is up, without activating it:
        starting a worker takes ~0.5 s, and done after the hand-over the crowd would wait for it."""
        own = self._host.own_actor
        options = actor_options(
            actor_name(show_id),
            own.namespace or ray.get_runtime_context().namespace,
            own.num_cpus,
            own.memory_mb * 1024 * 1024,
            own.scheduling,
        )
        handle = await asyncio.to_thread(
            lambda: RemoteShowActor.options(**options).remote(
                show_id, self._config, self._host.idle_seconds, activate_now=False
            )
        )
        await asyncio.wait_for(handle.ready.remote(), START_TIMEOUT_SECONDS)

    def _count(self, figure: str, event: LifecycleEvent) -> None:
        self._figures[figure] += 1
        self._metrics.lifecycle(event, len(self._shows))

    def _gone(self, entity: ShowEntity, why: Gone) -> None:
        """A hosted show retired or was fenced: forget it and stop its tasks; the host serves on."""
        self._drop(entity.show_id, entity)
        if why == "fenced":
            self._count("fenced", "fenced")
        elif why == "moved":  # its placement says it has an actor of its own: nothing ran, no epoch taken
            self._count("moved", "moved")
        task = asyncio.get_running_loop().create_task(entity.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _sweep_idle(self) -> None:
        interval = max(0.5, min(self._host.idle_seconds / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.passivate_idle()
            except Exception:
                log.exception("%s: passivation sweep failed; next round retries", self.name)
            if self._recyclable():
                self._recycle()
                return

    def _recycle(self) -> None:
        """Exit the process on purpose (Ray then answers calls with an intended exit, ``host_recycled``),
        with no ``await`` since the check: no call runs here now, and none can start before the exit."""
        log.info(
            "%s: no show and no call for %gs; exiting to give its memory back", self.name, self._host.recycle_seconds
        )
        with contextlib.suppress(AsyncioActorExit):  # raised to stop the calling task; the actor exits
            ray.actor.exit_actor()  # type: ignore[no-untyped-call]


RemoteShowHost: Any = ray.remote(ShowHost)
