"""``persistence.periodic``: ``Periodic``, the loop around the pre-warmer's and the reconciler's rounds,
and ``repeat`` / ``StopFlag`` under it (the notification loops' and the seat-map stream's).

Rounds run at once (or after one interval with ``wait_first``), keep running after a round fails (logged
as a warning), and stop when the job is closed; ``repeat`` stops when its flag is set, even in the middle
of a pause, pauses as long as the round or the error handler says, and lets fatal errors through.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from persistence.periodic import Periodic, StopFlag, repeat

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


async def test_stop_flag_cuts_a_pause_short_and_says_it_was_set() -> None:
    stop = StopFlag()
    assert not await stop.pause(0.01)
    loop = asyncio.get_running_loop()
    loop.call_later(INTERVAL / 10, stop.set)
    started = loop.time()
    assert await stop.pause(60.0)
    assert loop.time() - started < INTERVAL
    assert await stop.pause(60.0)  # once set, no pause at all


async def test_repeat_stops_when_the_flag_is_set_during_its_pause() -> None:
    stop = StopFlag()
    rounds = 0

    async def one_round() -> float:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            stop.set()
        return 60.0 if rounds == 3 else 0.0

    async with asyncio.timeout(INTERVAL):
        await repeat(one_round, lambda exc: 0.0, stop=stop)
    assert rounds == 3


async def test_repeat_does_not_run_a_round_once_stopped_before_its_first_pause_ends() -> None:
    stop = StopFlag()
    stop.set()
    rounds = Rounds()

    async def one_round() -> float:
        await rounds()
        return 0.0

    await repeat(one_round, lambda exc: 0.0, stop=stop, first_pause=60.0)
    assert rounds.count == 0


async def test_repeat_hands_errors_to_on_error_and_pauses_as_it_says() -> None:
    stop = StopFlag()
    rounds = Rounds(fail_first=2)
    handled: list[tuple[str, float]] = []

    async def one_round() -> float:
        await rounds()
        stop.set()
        return 0.0

    def on_error(exc: Exception) -> float:
        handled.append((str(exc), asyncio.get_running_loop().time()))
        return INTERVAL / 4

    await repeat(one_round, on_error, stop=stop)
    assert rounds.count == 3
    assert [what for what, _ in handled] == ["round 1 broke", "round 2 broke"]
    assert handled[1][1] - handled[0][1] >= INTERVAL / 4 * 0.9


class Fatal(Exception):
    pass


@pytest.mark.parametrize(
    "handling",
    [{"fatal": (Fatal,)}, {"errors": (OSError,)}],
    ids=["fatal", "not in errors"],
)
async def test_repeat_ends_on_a_fatal_error_or_one_it_does_not_handle(handling: dict[str, Any]) -> None:
    async def one_round() -> float:
        raise Fatal("stop everything")

    handled: list[Exception] = []

    def on_error(exc: Exception) -> float:
        handled.append(exc)
        return 0.0

    with pytest.raises(Fatal):
        await repeat(one_round, on_error, **handling)
    assert handled == []
