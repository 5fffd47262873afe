"""Routes commands from the API process to the right show actor, batching them per show.

Each show has a lane in this process: while actor calls for that show are in flight (at most
``max_in_flight``, 2 by default), new requests queue in the lane and all of them travel together in the
next call. Nothing waits on a timer to form a batch: under light load a batch is one request, under a
crowd it is everyone who arrived during the previous round trip. Two calls in flight let the actor run one
batch while the previous one's transaction waits on the disk (the actor's pipelined group commit,
``actors/show_actor.py``); more buy little, since the actor commits everything staged in one transaction.
A further call starts only once ``pipeline_min_pending`` requests wait: a show with a few requests at a
time (many shows sharing a node's load) would otherwise send each in its own call and commit, and every
call and commit costs the actor a few milliseconds of CPU whatever it carries (docs/measurements.md).

Placement (``placement``): ``hosted`` (the default) gives each show a place on one of ``hosts`` shared
host actors (``shows:<n>``, ``actors/show_host.py``), chosen by a stable hash of the show id
(``serving_actor``) so that every API process agrees on it: the show is still a virtual actor of its own
there, activated on demand and passivated when idle. ``dedicated`` gives every show a Ray actor of its
own, found or created by name (``show:<id>``) with ``get_if_exists``, so many processes racing to
activate the same show end up sharing one actor.

Under hosted placement a busy show may have been promoted by its host to an actor of its own
(``shows.own_actor`` in PostgreSQL, the directory). This router keeps no database connection for that: it
remembers the shows it has learnt have their own actor (``_own``), and sends every other show to its host.
A copy in the wrong place answers ``Moved`` (having run nothing and taken no epoch), and the router learns
the placement from it and sends the commands where it says at once: a stale route costs one extra hop. A
promoted show's own actor that exited on purpose has been demoted: its calls go back to the host.

A call that cannot reach the actor, or does not
answer in time, becomes ``Unavailable`` (503 with ``Retry-After``): the caller may retry, and anything
acknowledged before stays committed in PostgreSQL.

Placement: each actor asks Ray for the memory it really uses (``memory_mb``, a scheduling reservation, not
a limit) and no CPU by default (it is idle most of the time), so a node takes as many shows as its memory
allows; ``scheduling="SPREAD"`` spreads them over the nodes (best effort), so losing one node costs only
its share of the shows. Handles are found by name, so the API reaches a show wherever it runs, and after a
node dies Ray restarts the detached actor on another node (``max_restarts=-1``).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayError

from actors.commands import Command, Reply
from actors.errors import Moved, Unavailable
from actors.show_actor import RemoteShowActor, actor_name, actor_options
from actors.show_entity import ActorConfig
from actors.show_host import HOST_PREFIX, HostConfig, OwnActorOptions, RemoteShowHost, host_name, host_recycled
from actors.wire import pack, unpack

log = logging.getLogger("booking.show_actors")

Placement = Literal["dedicated", "hosted"]

# Tries of a call whose actor had exited on purpose: the fresh actor's name is free once Ray has seen
# the old one gone, which is when the call fails; a second failure would be a host recycled twice in a row.
RECYCLED_RETRIES = 2
# Re-routes of one command after ``Moved`` answers (hosted → its own actor → hosted again is two).
MAX_MOVES = 3
REMEMBERED_OWN_ACTORS = 10_000  # shows known to have an actor of their own (the oldest are forgotten)


def serving_actor(show_id: str, placement: Placement, hosts: int, own_actor: bool = False) -> str:
    """The name of the Ray actor serving ``show_id``: its own (``show:<id>``) under dedicated placement or
    when it was promoted (``own_actor``), else its host's (``shows:<n>``, n = crc32 of the id modulo
    ``hosts``). Every API process computes the same host without asking anyone; tests and tools ask here
    too (``harness/placement.py``)."""
    if placement == "dedicated" or own_actor:
        return actor_name(show_id)
    return host_name(zlib.crc32(show_id.encode()) % hosts)


@dataclass(slots=True)
class _Queued:
    show_id: str
    command: Command
    future: asyncio.Future[Reply]
    moves: int = 0  # times it was re-routed after a Moved answer


@dataclass(slots=True)
class _Lane:
    """Requests waiting for one Ray actor: a show's own, or a host's (then for any of its shows)."""

    hosted: bool  # a host's lane (one call carries batches for many shows)
    pending: list[_Queued] = field(default_factory=list)
    in_flight: int = 0


class ShowActors:
    def __init__(
        self,
        config: ActorConfig,
        namespace: str,
        call_timeout_seconds: float,
        batch_max_size: int,
        num_cpus: float = 0.0,
        memory_mb: int = 0,
        scheduling: str = "DEFAULT",
        max_in_flight: int = 2,
        pipeline_min_pending: int = 8,
        placement: Placement = "hosted",
        hosts: int = 2,
        host_config: HostConfig | None = None,
        host_memory_mb: int = 0,
    ) -> None:
        self._placement = placement
        self._hosts = hosts
        host = host_config or HostConfig(max_shows=500, idle_seconds=120.0, db_connections=4)
        # A host starts a promoted show's own actor itself (before handing the show over), as this would.
        self._host_config = replace(host, own_actor=OwnActorOptions(namespace, num_cpus, memory_mb, scheduling))
        self._host_memory_bytes = host_memory_mb * 1024 * 1024
        self._max_in_flight = max_in_flight
        self._pipeline_min_pending = pipeline_min_pending
        self._config = config
        self._namespace = namespace
        self._timeout = call_timeout_seconds
        self._batch_max = batch_max_size
        self._num_cpus = num_cpus
        self._memory_bytes = memory_mb * 1024 * 1024
        self._scheduling = scheduling
        self._handles: dict[str, Any] = {}
        self._creating: dict[str, asyncio.Lock] = {}
        self._lanes: dict[str, _Lane] = {}
        self._own: OrderedDict[str, None] = OrderedDict()  # shows learnt to have an actor of their own
        self.batch_sizes: list[int] = []

    def host_of(self, show_id: str) -> str:
        """The Ray actor name serving ``show_id``: its own, or its host's (``serving_actor``)."""
        return serving_actor(show_id, self._placement, self._hosts, show_id in self._own)

    def _hosted(self, name: str) -> bool:
        """Whether the actor ``name`` is a host (``shows:<n>``), not a show's own (``show:<id>``)."""
        return self._placement == "hosted" and name.startswith(HOST_PREFIX)

    def _learn(self, moved: Moved) -> None:
        """Where a show runs, as a copy that does not serve it says (from PostgreSQL, at its activation)."""
        if moved.own_actor:
            self._own[moved.show_id] = None
            self._own.move_to_end(moved.show_id)
            if len(self._own) > REMEMBERED_OWN_ACTORS:
                self._own.popitem(last=False)
        else:
            self._own.pop(moved.show_id, None)

    def _spawn(self, name: str, show_id: str) -> Any:
        """Find or create the Ray actor ``name`` (serving ``show_id``): detached, restarted by Ray if its
        process dies, found by name from every API process."""
        hosted = self._hosted(name)
        memory = self._host_memory_bytes if hosted else self._memory_bytes
        options = actor_options(name, self._namespace, self._num_cpus, memory, self._scheduling)
        if hosted:
            return RemoteShowHost.options(**options).remote(name, self._config, self._host_config)
        if self._placement == "hosted":  # a promoted show's own actor: demoted when its show goes quiet
            return RemoteShowActor.options(**options).remote(show_id, self._config, self._host_config.idle_seconds)
        return RemoteShowActor.options(**options).remote(show_id, self._config)

    async def handle(self, show_id: str) -> Any:
        """The Ray actor serving ``show_id`` (a show actor or a host), created if none runs."""
        return await self._handle(self.host_of(show_id), show_id)

    async def _handle(self, name: str, show_id: str) -> Any:
        handle = self._handles.get(name)
        if handle is not None:
            return handle
        lock = self._creating.setdefault(name, asyncio.Lock())
        async with lock:
            handle = self._handles.get(name)
            if handle is None:
                handle = await asyncio.to_thread(self._spawn, name, show_id)
                self._handles[name] = handle
            return handle

    def forget(self, show_id: str) -> None:
        self._handles.pop(self.host_of(show_id), None)

    async def submit(self, show_id: str, command: Command) -> Reply:
        """Queue ``command`` in the lane of the actor serving ``show_id`` and wait for its reply. With
        hosted placement the lane is the host's: one call carries requests for many of its shows."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._enqueue(_Queued(show_id, command, future))
        return await future

    def _enqueue(self, queued: _Queued) -> None:
        name = self.host_of(queued.show_id)
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = _Lane(self._hosted(name))
        lane.pending.append(queued)
        if lane.in_flight == 0 or (
            lane.in_flight < self._max_in_flight and len(lane.pending) >= self._pipeline_min_pending
        ):
            lane.in_flight += 1
            asyncio.get_running_loop().create_task(self._drain(name, lane))

    async def _drain(self, name: str, lane: _Lane) -> None:
        batch: list[_Queued] = []
        try:
            while lane.pending:
                batch, lane.pending = lane.pending[: self._batch_max], lane.pending[self._batch_max :]
                self.batch_sizes.append(len(batch))
                if len(self.batch_sizes) > 10_000:
                    del self.batch_sizes[:5_000]
                replies = await self._call(name, lane.hosted, [(q.show_id, q.command) for q in batch])
                for queued, reply in zip(batch, replies, strict=True):
                    if isinstance(reply, Moved) and queued.moves < MAX_MOVES:
                        self._learn(reply)  # ran nothing there: send it where the show runs, now
                        queued.moves += 1
                        self._enqueue(queued)
                    elif not queued.future.done():
                        queued.future.set_result(reply)
        except Exception as exc:  # never leave a caller hanging
            log.exception("lane of %s failed", name)
            for queued in batch + lane.pending:
                if not queued.future.done():
                    queued.future.set_exception(exc)
            lane.pending.clear()
        finally:
            lane.in_flight -= 1
            if not lane.pending and lane.in_flight == 0 and self._lanes.get(name) is lane:
                self._lanes.pop(name, None)

    async def _call(self, name: str, hosted: bool, commands: Sequence[tuple[str, Command]]) -> list[Reply]:
        """One call of the actor ``name`` for ``commands`` (the show's own actor, or its host). A call that
        reached an actor which had exited on purpose ran nothing: a recycled host's goes once more, to the
        fresh host; a promoted show's own actor that exited was demoted, so its commands go to the host."""
        for _ in range(RECYCLED_RETRIES):
            try:
                return await self._call_once(name, hosted, commands)
            except ActorDiedError as exc:
                self._handles.pop(name, None)
                if not host_recycled(exc):
                    break
                if not hosted and self._placement == "hosted":
                    return [Moved(show_id, False) for show_id, _ in commands]
        return [Unavailable("the show's actor stopped; retry", 1) for _ in commands]

    async def _call_once(self, name: str, hosted: bool, commands: Sequence[tuple[str, Command]]) -> list[Reply]:
        def unavailable(detail: str, retry_after: int = 1) -> list[Reply]:
            return [Unavailable(detail, retry_after) for _ in commands]

        show_id = commands[0][0]
        try:
            handle = await self._handle(name, show_id)
            if hosted:
                by_show: dict[str, list[Command]] = {}
                for target, command in commands:
                    by_show.setdefault(target, []).append(command)
                answered: dict[str, list[Reply]] = unpack(
                    await asyncio.wait_for(handle.apply_many_packed.remote(pack(by_show)), self._timeout)
                )
                ordered = {target: iter(replies) for target, replies in answered.items()}
                return [next(ordered[target]) for target, _ in commands]
            replies: list[Reply] = unpack(
                await asyncio.wait_for(
                    handle.apply_packed.remote(pack([command for _, command in commands])), self._timeout
                )
            )
            return replies
        except TimeoutError:
            return unavailable("the show did not answer in time; the request may or may not have been applied", 2)
        except ActorDiedError:
            raise  # for _call
        except (ActorUnavailableError, RayActorError):
            return unavailable("the show's actor is restarting; retry", 1)
        except RayError as exc:
            log.warning("ray error calling show %s: %s", show_id, type(exc).__name__)
            return unavailable("the cluster did not answer; retry", 2)

    async def ping(self, show_id: str) -> dict[str, Any]:
        """The actor's figures (``ShowActor.ping``), creating and activating it if none runs; follows the
        show to its own actor or back to its host as ``call`` does."""
        recycled = moves = 0
        while True:
            name = self.host_of(show_id)
            hosted = self._hosted(name)
            handle = await self._handle(name, show_id)
            call = handle.ping.remote(show_id) if hosted else handle.ping.remote()
            try:
                result: dict[str, Any] = await asyncio.wait_for(call, self._timeout)
            except Moved as moved:
                moves += 1
                if moves > MAX_MOVES:
                    raise
                self._learn(moved)
                continue
            except ActorDiedError as exc:
                self._handles.pop(name, None)  # gone for good (recycled, killed without restart): a new one next
                recycled += 1
                if not host_recycled(exc) or recycled >= RECYCLED_RETRIES + MAX_MOVES:
                    raise
                if not hosted and self._placement == "hosted":
                    self._learn(Moved(show_id, False))  # a promoted show's own actor left: it was demoted
                continue
            return result


def ensure_ray(address: str | None, namespace: str, **init_kwargs: Any) -> Any:
    """Start a local Ray instance or join the one at ``address``; idempotent. Returns Ray's context if this
    call started or joined it, None if Ray was running already."""
    if ray.is_initialized():
        return None
    return ray.init(address=address, namespace=namespace, **init_kwargs)
