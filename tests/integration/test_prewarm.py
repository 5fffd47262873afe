"""Pre-warming (``routing/prewarm.py``) against real Ray and PostgreSQL: the actors of shows about to go on sale
are started ahead, and only those.

"A show's actor is live" is asked of the placement (``ShowPlacement.is_live``): under dedicated placement
its own actor ``show:<id>`` exists, under hosted placement (the default) its host lists it as live.

The controls are in the same run: a show opening beyond the lead and a show on sale at once (no
``sales_open_at``) must keep no actor, which shows that nothing but the pre-warmer (not creating a show,
not a seat-map read) starts one; and a service with pre-warming off leaves a show opening soon cold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from persistence.database import Database
from routing.prewarm import Prewarmer
from settings import libpq_url
from tests.api_client import bulk_users, create_show
from tests.conftest import Backing, Service, ShowPlacement, serving


def has_actor(service: Service, show_id: str) -> bool:
    """Whether the show is live in ``service``'s placement (without waking it)."""
    return ShowPlacement.of(service).is_live(show_id)


def epoch(backing: Backing, show_id: str) -> int:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        row = conn.execute("SELECT epoch FROM shows WHERE id = %s", (show_id,)).fetchone()
    assert row is not None
    return int(row[0])


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


class OneAtATime:
    """The module's services: one pre-warming shows that open within 60 s, or one with pre-warming off,
    never both at once (they share the database, and a pre-warmer warms every show in it that opens
    soon). The tests are ordered so that it starts each only once."""

    def __init__(self, backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._backing = backing
        self._tmp = tmp_path_factory
        self._running: tuple[float, Service, ExitStack] | None = None

    def __getitem__(self, lead_seconds: float) -> Service:
        if self._running is not None and self._running[0] == lead_seconds:
            return self._running[1]
        self.stop()
        env = {"BOOKING_PREWARM_LEAD_SECONDS": str(lead_seconds), "BOOKING_PREWARM_INTERVAL_SECONDS": "0.5"}
        stack = ExitStack()
        service = stack.enter_context(serving(self._backing, self._tmp, "prewarm", env))
        self._running = (lead_seconds, service, stack)
        return service

    def stop(self) -> None:
        if self._running is not None:
            self._running[2].close()
            self._running = None


@pytest.fixture(scope="module")
def prewarming(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OneAtATime]:
    services = OneAtATime(backing, tmp_path_factory)
    try:
        yield services
    finally:
        services.stop()


def test_shows_opening_within_the_lead_get_a_live_actor_and_no_other_show_does(
    prewarming: OneAtATime, backing: Backing
) -> None:
    now = datetime.now(UTC)
    svc = prewarming[60]
    with httpx.Client(base_url=svc.base_url, timeout=30) as client:
        soon = create_show(client, sales_open_at=now + timedelta(seconds=45))
        later = create_show(client, sales_open_at=now + timedelta(hours=1))
        at_once = create_show(client)
        assert client.get(f"/api/v1/shows/{at_once.show_id}/seats").status_code == 200
    # Warm means activated (an epoch taken, the seat map loaded), not only created.
    warmed = wait_for(lambda: has_actor(svc, soon.show_id) and epoch(backing, soon.show_id) >= 1, 20)
    assert warmed, "the show opening in 45 s was not warmed"
    time.sleep(2)  # four more rounds of the pre-warmer
    assert not has_actor(svc, later.show_id)
    assert epoch(backing, later.show_id) == 0
    assert not has_actor(svc, at_once.show_id)
    assert epoch(backing, at_once.show_id) == 0


class Flaky:
    """Answers like ``ShowActors.ping``; the first ping of ``fail_once`` fails (the cluster was down)."""

    def __init__(self, fail_once: str) -> None:
        self.fail_once: str | None = fail_once
        self.pinged: list[str] = []

    async def ping(self, show_id: str) -> dict[str, Any]:
        self.pinged.append(show_id)
        if show_id == self.fail_once:
            self.fail_once = None
            raise ConnectionError("cluster down")
        return {"show_id": show_id}


async def test_a_round_warms_soonest_first_retries_failures_and_warms_each_show_once(
    live_service: Service, backing: Backing
) -> None:
    now = datetime.now(UTC)
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        second = create_show(client, sales_open_at=now + timedelta(seconds=50))
        first = create_show(client, sales_open_at=now + timedelta(seconds=40))
        beyond = create_show(client, sales_open_at=now + timedelta(seconds=90))
    ours = {first.show_id, second.show_id, beyond.show_id}
    actors = Flaky(fail_once=second.show_id)
    database = Database(backing.database_url, 5.0, pool_size=1)
    warmer = Prewarmer(database, actors, lead_seconds=60, interval_seconds=1, concurrency=1)
    try:
        warmed = [s for s in await warmer.run_once() if s in ours]
        assert [s for s in actors.pinged if s in ours] == [first.show_id, second.show_id]  # soonest first
        assert warmed == [first.show_id]  # the failed one is not counted as warm ...
        actors.pinged.clear()
        assert [s for s in await warmer.run_once() if s in ours] == [second.show_id]  # ... and is tried again
        actors.pinged.clear()
        await warmer.run_once()
        assert not ours & set(actors.pinged), "a warmed show is pinged once per process, not every round"
    finally:
        await database.dispose()


def hold_status(backing: Backing, show_id: str) -> list[str]:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        return [r[0] for r in conn.execute("SELECT status FROM holds WHERE show_id = %s", (show_id,))]


@pytest.mark.parametrize("lead_seconds", [60, 0], ids=["on", "off (control)"])
def test_holds_of_a_show_whose_actor_is_gone_expire_without_any_request(
    prewarming: OneAtATime, backing: Backing, lead_seconds: float
) -> None:
    """The actor is killed for good (as when everything went down; under hosted placement the show's
    host, with its other shows); nobody touches the show again. With pre-warming on, its hold still
    expires on time; with it off, the hold stays active past its expiry, the gap this closes."""
    svc = prewarming[lead_seconds]
    ((_, token),) = bulk_users(backing.database_url, 1)
    with httpx.Client(base_url=svc.base_url, timeout=30) as client:
        show = create_show(client, hold_ttl_seconds=4)
        held = client.post(
            f"/api/v1/shows/{show.show_id}/holds",
            json={"seats": ["A1"]},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "expiry-1"},
        )
        assert held.status_code == 201, held.text
    ShowPlacement.of(svc).kill(show.show_id, restart=False)
    expires_at = datetime.fromisoformat(held.json()["expires_at"])
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 3)
    if lead_seconds:
        assert wait_for(lambda: hold_status(backing, show.show_id) == ["expired"], 10)
    else:
        assert hold_status(backing, show.show_id) == ["active"]
        assert not has_actor(svc, show.show_id)


def test_with_pre_warming_off_a_show_opening_soon_stays_cold(prewarming: OneAtATime, backing: Backing) -> None:
    svc = prewarming[0]
    with httpx.Client(base_url=svc.base_url, timeout=30) as client:
        soon = create_show(client, sales_open_at=datetime.now(UTC) + timedelta(seconds=45))
    time.sleep(3)
    assert not has_actor(svc, soon.show_id)
    assert epoch(backing, soon.show_id) == 0
