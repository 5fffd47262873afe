"""The dedicated show actor: a Ray actor of its own around one ``ShowEntity`` (``actors/show_entity.py``).

A busy show gets one: its own process, mailbox and PostgreSQL connection, found by name (``show:<id>``),
restarted by Ray if its process dies (a restart is a new activation with a new epoch). Quiet shows share a
host instead (``actors/show_host.py``). When the entity leaves, so does the process: a retired show's actor
is killed for good, and a fenced copy exits so that, if it is still the registered actor, Ray restarts it
and the new activation takes the newest epoch (if a newer copy already serves, nothing is lost).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

import ray

from actors.commands import Command, Reply
from actors.seatmap_publisher import SeatMapPublisher, publisher_redis
from actors.show_entity import ActorConfig, Gone, ShowEntity
from persistence.show_store import ShowStore

__all__ = ["ActorConfig", "RemoteShowActor", "ShowActor", "actor_name", "set_niceness"]

log = logging.getLogger("booking.show_actor")


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


class ShowActor:
    """Owns one show in a process of its own. Created by name on first use; Ray restarts it if it dies."""

    def __init__(self, show_id: str, config: ActorConfig) -> None:
        set_niceness(config.niceness)
        self._entity = ShowEntity(
            show_id,
            config,
            ShowStore(config.database_url, config.db_timeout_seconds),
            SeatMapPublisher(publisher_redis(config.redis_url), config.redis_prefix, show_id),
            self._leave,
        )

    async def apply(self, commands: Sequence[Command]) -> list[Reply]:
        return await self._entity.apply(commands)

    async def ping(self) -> dict[str, Any]:
        """Liveness and a few figures for operators and tests (pid, node, epoch, counts, batches)."""
        figures = await self._entity.ping()
        return {**figures, "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}

    @staticmethod
    def _leave(entity: ShowEntity, why: Gone) -> None:
        if why == "retired":
            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
        else:  # fenced: exit, and let Ray decide whether this name still needs a process
            asyncio.get_running_loop().call_later(0.2, os._exit, 1)


RemoteShowActor: Any = ray.remote(ShowActor)
