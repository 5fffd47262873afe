"""A periodic job: one round every ``interval`` seconds in a task of the running event loop, from
``start()`` until ``aclose()``.

The API process runs several such jobs (the pre-warmer in ``routing.prewarm``, the payment reconciler in
``payments.reconciler``); each owns its round and this module owns the loop around it: start it, keep
going when a round fails, stop it. A round that raises is logged as a warning and the next one runs on
time, because these rounds fail when PostgreSQL (or the gateway) is down, and the next round is the
retry; nothing is lost by waiting for it.

It lives in ``persistence`` because every job that needs it reads and writes PostgreSQL in its rounds and
already imports this package, while ``persistence`` imports none of them; it imports nothing from the
project itself, so it can never close a circle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Periodic"]


class Periodic:
    """Runs the round ``job`` every ``interval_seconds``: at once and then after each interval, or, with
    ``wait_first``, only once the first interval has passed. A failed round is logged on ``log`` as
    ``"<what> failed: <exception>"``."""

    def __init__(
        self,
        job: Callable[[], Awaitable[object]],
        interval_seconds: float,
        *,
        log: logging.Logger,
        what: str,
        wait_first: bool = False,
    ) -> None:
        self._job = job
        self._interval = interval_seconds
        self._log = log
        self._what = what
        self._wait_first = wait_first
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    @property
    def running(self) -> bool:
        """Started and not stopped: a failed round does not end it."""
        return self._task is not None and not self._task.done()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run_forever(self) -> None:
        if self._wait_first:
            await asyncio.sleep(self._interval)
        while True:
            try:
                await self._job()
            except Exception as exc:
                self._log.warning("%s failed: %r", self._what, exc)
            await asyncio.sleep(self._interval)
