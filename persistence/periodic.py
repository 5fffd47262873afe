"""The loop around a background job's rounds, written once: ``repeat`` runs rounds until it is stopped,
pausing between them, and logs and backs off when a round fails; ``Periodic`` is that loop as a task of
its own, one round every ``interval`` seconds from ``start()`` until ``aclose()``.

The API process runs several such loops: the pre-warmer (``routing.prewarm``), the payment reconciler
(``payments.reconciler``) and the retention pruner (``persistence.retention``) as ``Periodic`` jobs; the
notification consumer's read and claim loops (``notifications.consumer``), the hold-reminder sweep and the
outbox relay (``notifications.service``) and the seat-map stream's pub/sub reader (``seat_views.stream``)
through ``repeat``. Each owns its round and what a failure costs (the back-off, the log line); this module
owns the loop around it: keep going when a round fails, pause, stop. A failed round is not fatal because
these rounds fail when PostgreSQL, Redis or the gateway is down, and the next round is the retry; nothing
is lost by waiting for it.

Loops that talk to Redis stop on a ``StopFlag`` rather than by cancellation: redis-py's asyncio client can
swallow a cancellation that arrives while it reads a reply, and the loop would then run on.

It lives in ``persistence`` because every job that needs it reads and writes PostgreSQL or Redis and
already imports this package, while ``persistence`` imports none of them; it imports nothing from the
project itself, so it can never close a circle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field

__all__ = ["Periodic", "StopFlag", "repeat"]


class StopFlag:
    """Asks loops to end at their next step, and cuts their pauses short."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less if the flag is set meanwhile; True if it is set."""
        if seconds > 0 and not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._event.wait()
        return self._event.is_set()


async def repeat(
    one_round: Callable[[], Awaitable[float]],
    on_error: Callable[[Exception], float],
    *,
    stop: StopFlag | None = None,
    errors: tuple[type[Exception], ...] = (Exception,),
    fatal: tuple[type[Exception], ...] = (),
    first_pause: float = 0.0,
) -> None:
    """Run ``one_round`` again and again until ``stop`` is set (without one, until the task is cancelled).

    After a round, pause for the seconds it returns. A round that raises one of ``errors`` is handed to
    ``on_error``, which logs it and returns the pause (the back-off) before the next round; one of
    ``fatal`` (or anything not in ``errors``) ends the loop and propagates."""
    stop = stop or StopFlag()
    if await stop.pause(first_pause):
        return
    while True:
        try:
            seconds = await one_round()
        except fatal:
            raise
        except errors as exc:
            seconds = on_error(exc)
        if await stop.pause(seconds):
            return


@dataclass(eq=False)
class Periodic:
    """Runs the round ``job`` every ``interval_seconds``: at once and then after each interval, or, with
    ``wait_first``, only once the first interval has passed. A failed round is logged on ``log`` as
    ``"<what> failed: <exception>"``, and the next one runs on time."""

    job: Callable[[], Awaitable[object]]
    interval_seconds: float
    _: KW_ONLY
    log: logging.Logger
    what: str
    wait_first: bool = False
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        first_pause = self.interval_seconds if self.wait_first else 0.0
        self._task = asyncio.get_running_loop().create_task(repeat(self._round, self._failed, first_pause=first_pause))

    @property
    def running(self) -> bool:
        """Started and not stopped: a failed round does not end it."""
        return self._task is not None and not self._task.done()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _round(self) -> float:
        await self.job()
        return self.interval_seconds

    def _failed(self, exc: Exception) -> float:
        self.log.warning("%s failed: %r", self.what, exc)
        return self.interval_seconds
