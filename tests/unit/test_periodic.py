"""``persistence.periodic.Periodic``: the loop around the pre-warmer's and the reconciler's rounds.

Rounds run at once (or after one interval with ``wait_first``), keep running after a round fails (logged
as a warning), and stop when the job is closed.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from persistence.periodic import Periodic

INTERVAL = 0.2
log = logging.getLogger("test.periodic")


class Rounds:
    def __init__(self, fail_first: int = 0) -> None:
        self.count = 0
        self.fail_first = fail_first

    async def __call__(self) -> None:
        self.count += 1
        if self.count <= self.fail_first:
            raise RuntimeError(f"round {self.count} broke")


async def test_the_first_round_runs_at_once_and_the_next_after_the_interval() -> None:
    rounds = Rounds()
    job = Periodic(rounds, INTERVAL, log=log, what="test round")
    job.start()
    await asyncio.sleep(INTERVAL / 4)
    assert rounds.count == 1
    await asyncio.sleep(INTERVAL * 2)
    await job.aclose()
    assert rounds.count >= 2


async def test_wait_first_runs_the_first_round_only_after_one_interval() -> None:
    rounds = Rounds()
    job = Periodic(rounds, INTERVAL, log=log, what="test round", wait_first=True)
    job.start()
    await asyncio.sleep(INTERVAL / 4)
    assert rounds.count == 0
    await asyncio.sleep(INTERVAL)
    await job.aclose()
    assert rounds.count >= 1


async def test_a_failed_round_is_logged_and_the_next_one_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    rounds = Rounds(fail_first=2)
    job = Periodic(rounds, INTERVAL / 20, log=log, what="test round")
    with caplog.at_level(logging.WARNING, logger=log.name):
        job.start()
        await asyncio.sleep(INTERVAL / 2)
        await job.aclose()
    assert rounds.count > 2
    failures = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert failures == [
        "test round failed: RuntimeError('round 1 broke')",
        "test round failed: RuntimeError('round 2 broke')",
    ]


async def test_aclose_stops_the_rounds_and_may_be_called_without_start() -> None:
    rounds = Rounds()
    job = Periodic(rounds, INTERVAL / 20, log=log, what="test round")
    await job.aclose()  # never started: nothing to stop
    job.start()
    await asyncio.sleep(INTERVAL / 2)
    await job.aclose()
    stopped_at = rounds.count
    await asyncio.sleep(INTERVAL)
    assert stopped_at >= 1
    assert rounds.count == stopped_at
