"""The dedicated show actor: a Ray actor of its own around one ``ShowEntity`` (``actors/show_entity.py``).

A busy show gets one: its own process, mailbox and PostgreSQL connection, found by name (``show:<id>``),
restarted by Ray if its process dies (a restart is a new activation with a new epoch). Quiet shows share a
host instead (``actors/show_host.py``). When the entity leaves, so does the process: a retired show's actor
is killed for good, and a fenced copy exits so that, if it is still the registered actor, Ray restarts it
and the new activation takes the newest epoch (if a newer copy already serves, nothing is lost).

Under hosted placement a show gets one when its host promotes it for its crowd (``actors/show_host.py``):
then the actor is made with ``idle_seconds`` and is a *promoted* show's actor. It activates only if
PostgreSQL says the show has an actor of its own (``shows.own_actor``), and otherwise answers ``Moved`` and
exits on purpose, having taken no epoch (a stale route). When its show goes quiet (no command for
``idle_seconds``, nothing staged, no payment in flight) it demotes it: records it hosted again and exits on
purpose, as an empty host does; batches that meet it meanwhile answer ``Moved`` and the API sends them,
and the calls that find it gone, to the show's host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import ray
from ray.exceptions import AsyncioActorExit

from actors.commands import Command, Reply
from actors.errors import Moved
from actors.metrics import HostMetrics
from actors.redis_publisher import SeatMapPublisher, publisher_redis
from actors.show_entity import ActorConfig, EntityStopped, Gone, ShowEntity
from actors.wire import pack, unpack

__all__ = ["ActorConfig", "RemoteShowActor", "ShowActor", "actor_name", "actor_options", "set_niceness"]

log = logging.getLogger("booking.show_actor")

DOOR_IDLE_SECONDS = 600.0  # a started show's own actor leaves after this long without a scan
DOOR_CHECK_SECONDS = 30.0


def set_niceness(niceness: int | None) -> None:
    """Ray starts worker processes at nice 15 (``RAY_worker_niceness``) so that background work yields
    the CPU; a show actor answers people waiting on a seat, so it asks for ``niceness`` (0 by default)
    instead. Without the right to lower it (no CAP_SYS_NICE in a container) it keeps Ray's.

    On Linux a nice value belongs to a thread, not the process: ``setpriority(PRIO_PROCESS, 0)`` changes
    only the calling thread, and this runs on the actor's event-loop thread while Ray's main thread
    (which receives every call and serialises every reply) stayed at 15. So every thread the process has
    now is set; threads Ray starts later inherit from their creator."""
    if niceness is None:
        return
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # not Linux: the value is the process's
        threads = [0]
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except ProcessLookupError:
            continue  # the thread ended meanwhile
        except OSError as exc:  # no right to lower it: keep Ray's, and say so
            log.info("show actor keeps Ray's niceness: %s", exc)
            return


def actor_name(show_id: str) -> str:
    return f"show:{show_id}"


def actor_options(name: str, namespace: str, num_cpus: float, memory_bytes: int, scheduling: str) -> dict[str, Any]:
    """The Ray options of a show's own actor or a host: detached and found by name from every process
    (``get_if_exists``, so racing creators share one), restarted by Ray if its process dies, each call
    at most once (a retry could apply a command twice)."""
    return {
        "name": name,
        "namespace": namespace,
        "get_if_exists": True,
        "lifetime": "detached",
        "max_restarts": -1,
        "max_task_retries": 0,
        "num_cpus": num_cpus,
        "memory": memory_bytes,
        "scheduling_strategy": scheduling,
    }


class ShowActor:
    """Owns one show in a process of its own. Created by name on first use; Ray restarts it if it dies."""

    def __init__(
        self, show_id: str, config: ActorConfig, idle_seconds: float | None = None, activate_now: bool = True
    ) -> None:
        """``idle_seconds`` set: a promoted show's actor (hosted placement), demoted after that long idle.
        ``activate_now`` unset: the show activates on the first call, not here (a host starts the process
        of a show it is about to hand over before the show's placement says it has one: activated now, it
        would find it hosted and leave)."""
        set_niceness(config.niceness)
        self.show_id = show_id
        self._config = config
        self._idle_seconds = idle_seconds
        self._started = time.monotonic()
        self._entity: ShowEntity | None = self._new_entity() if activate_now else None
        self._demoter: asyncio.Task[None] | None = None
        if idle_seconds is not None:
            self._demoter = asyncio.get_running_loop().create_task(self._demote_when_idle(idle_seconds))
        else:
            self._demoter = asyncio.get_running_loop().create_task(self._retire_after_the_door())

    def __repr__(self) -> str:  # what the Ray dashboard and log prefixes show for this actor
        return f"ShowActor({self.show_id})"

    def _new_entity(self) -> ShowEntity:
        config = self._config
        return ShowEntity(
            self.show_id,
            config,
            config.journals.own(),
            SeatMapPublisher(publisher_redis(config.redis_url), config.redis_prefix, self.show_id),
            self._leave,
            own_actor=None if self._idle_seconds is None else True,
        )

    def _live(self) -> ShowEntity:
        if self._entity is None:
            self._entity = self._new_entity()
        return self._entity

    async def ready(self) -> bool:
        """Answers once the process is up, without activating the show: a host moving a busy show here
        starts the process first, so the crowd waits for an activation, not for a worker to start."""
        return True

    async def apply(self, commands: Sequence[Command]) -> list[Reply]:
        try:
            return await self._live().apply(commands)
        except EntityStopped:  # demoted while the batch waited: nothing ran, the show is hosted again
            return [Moved(self.show_id, False) for _ in commands]

    async def apply_packed(self, batch: bytes) -> bytes:
        """``apply`` for a batch packed by ``actors.wire``, its replies packed the same way: what the API
        calls (one serialisation per batch instead of cloudpickle's per object)."""
        return pack(await self.apply(unpack(batch)))

    async def ping(self) -> dict[str, Any]:
        """Liveness and a few figures for operators and tests (pid, node, epoch, counts, batches)."""
        try:
            figures = await self._live().ping()
        except EntityStopped:
            raise Moved(self.show_id, False) from None
        return {
            **figures,
            "actor": actor_name(self.show_id),
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
        }

    def _leave(self, entity: ShowEntity, why: Gone) -> None:
        if why == "retired":
            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
        elif why == "moved":  # the show is hosted: answer Moved to what runs, then leave for good
            self._exit()
        else:  # fenced: exit, and let Ray decide whether this name still needs a process
            asyncio.get_running_loop().call_later(0.2, os._exit, 1)

    async def _retire_after_the_door(self) -> None:
        """A dedicated show's actor once its show started: it serves the door (check-ins) and leaves for
        good when no scan came for ``DOOR_IDLE_SECONDS``, stopped cleanly; a later scan makes a new one."""
        while True:
            await asyncio.sleep(DOOR_CHECK_SECONDS)
            entity = self._entity
            try:
                if entity is None or not entity.sales_over or not await entity.passivate(DOOR_IDLE_SECONDS):
                    continue
            except Exception:
                log.exception("show %s: retirement check failed; next round retries", self.show_id)
                continue
            log.info("show %s: the door was quiet for %gs; actor retiring", self.show_id, DOOR_IDLE_SECONDS)
            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
            return

    async def _demote_when_idle(self, idle_seconds: float) -> None:
        """A promoted show that has gone quiet goes back to a host: stopped cleanly (everything it
        acknowledged is committed; not while a payment is in flight), recorded hosted, and this actor
        exits on purpose. If the record fails the show keeps its own actor: the next call makes one."""
        interval = max(0.5, min(idle_seconds / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            try:
                if self._entity is None:  # started ahead of a move: not called yet
                    if time.monotonic() - self._started >= idle_seconds:  # the move did not happen
                        self._exit()
                        return
                    continue
                if not await self._entity.passivate(idle_seconds):
                    continue
            except Exception:
                log.exception("show %s: demotion check failed; next round retries", self.show_id)
                continue
            try:
                demoted = await self._entity.place(own_actor=False)
            except Exception as exc:
                demoted = False
                log.warning("show %s: could not record it hosted again: %r", self.show_id, exc)
            if demoted:
                HostMetrics(actor_name(self.show_id)).lifecycle("demoted", 0)
            log.info("show %s quiet for %gs: back to a host (recorded: %s)", self.show_id, idle_seconds, demoted)
            self._exit()
            return

    @staticmethod
    def _exit() -> None:
        """Exit on purpose: calls running now finish, later ones fail as an intended exit (the API then
        sends them to the show's host), and Ray does not restart the actor."""
        with contextlib.suppress(AsyncioActorExit):  # raised to stop the calling task; the actor exits
            ray.actor.exit_actor()  # type: ignore[no-untyped-call]


RemoteShowActor: Any = ray.remote(ShowActor)
