"""Scenario 13: many shows under a small live-show budget while their host actors are killed.

What it promises (issue 15): with hosted placement a show is a virtual actor, activated on demand,
passivated when idle, evicted when its host is at its budget, and activated again elsewhere (a new epoch)
after its host crashed; through all of that, an acknowledged hold or booking is never lost, a retried
request with its ``Idempotency-Key`` never makes a second one, and a host never runs more live shows than
its budget. A client sees 503 with ``Retry-After`` when the budget is spent by busy shows, never a 500.

How: the service with ``BOOKING_SHOW_PLACEMENT=hosted``, 2 hosts of at most 3 live shows each, shows
passivated after 1 s idle, pre-warming as the service's default. Many shows (20 short, 60 full), far more
than the 6 that may be live at once, so shows are activated, evicted and passivated all the time. Each
buyer walks over every show in turn (buyer *i* starts at show *i*, so the crowd is spread over the
catalog), holding seats of its own on each (this is about lifecycle and crashes, not races) and paying,
retrying 503s and lost answers with the same key as ``faults.purchase`` does. A killer ``ray.kill``s one
host (``shows:0``, then ``shows:1``, …) every few seconds while the load runs: a crash, with every show
the host had live; Ray restarts the host empty and each show it then activates takes a new epoch.

The hosts' lifecycle counts (``ShowHost.stats``) start from zero in every host process, so a sampler reads
both hosts every 0.25 s (and the killer reads its victim right before the kill) and adds up the last
figures seen of every (host, pid): what the scenario shows it exercised is a lower bound.

Figures: acknowledged bookings lost, acknowledged holds lost, duplicate bookings (a seat, a customer or a
hold twice on a show), holds charged twice, answers 5xx other than 503 (all = 0); the most live shows one
host was seen with (≤ the budget); host kills, activations, passivations and evictions (≥ 1 each, or the
scenario tested nothing); host processes seen (≥ 2 + kills: each kill was a crash Ray restarted);
purchases booked (≥ half) and shows with a booking (all); refusals, fenced shows, epochs taken and
recovery (a killed host answering again from a new process, p99 ≤ 15 s as in scenario 3) are reported.
Negative controls: the detectors are those of scenario 3 (``faults.lost_holds`` and the others), each
flagging a database corrupted on purpose in ``tests/integration/test_reliability_faults.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from actors.show_host import host_name
from harness.backing import query_int
from harness.client import ShowFixture
from reliability import faults
from reliability.core import SizedScenario
from reliability.env import Env
from reliability.faults import Calls, Purchase
from reliability.figures import Figure, at_least, at_most, informational, zero
from settings import libpq_url

HOSTS = 2
BUDGET = 3  # live shows per host
IDLE_SECONDS = 1.0
SEATS_EACH = 2
RECOVERY_P99_BOUND_SECONDS = 15.0
SAMPLE_EVERY_SECONDS = 0.25
LIFECYCLE = ("activations", "passivations", "evictions", "refusals", "fenced")


@dataclass(frozen=True)
class Size:
    shows: int
    buyers: int  # concurrent customers, each buying once on every show
    kill_every: float  # seconds between a killed host answering again and the next kill
    kills_at_least: int


SHORT = Size(shows=20, buyers=16, kill_every=2.0, kills_at_least=2)
FULL = Size(shows=60, buyers=40, kill_every=3.0, kills_at_least=10)


class HostFigures:
    """The last lifecycle figures seen of every host process, summed: counts survive the host's restarts
    (each new process starts from zero) up to what happened between the last sample and a kill."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, int], dict[str, Any]] = {}
        self.most_live = 0

    def record(self, stats: dict[str, Any]) -> None:
        with self._lock:
            self._last[(str(stats["host"]), int(stats["pid"]))] = stats
            self.most_live = max(self.most_live, len(stats["live_shows"]))

    def total(self, figure: str) -> int:
        with self._lock:
            return sum(int(s[figure]) for s in self._last.values())

    def processes(self) -> int:
        with self._lock:
            return len(self._last)


def sample(env: Env, figures: HostFigures, names: Sequence[str]) -> None:
    """Record every host that answers now (a host being restarted is skipped: it has nothing new)."""
    for name in names:
        with contextlib.suppress(Exception):
            figures.record(faults.host_stats(env, name, timeout=2.0))


def wait_host(env: Env, name: str, not_pid: int, timeout: float = 60.0) -> dict[str, Any]:
    """Ask the host for its stats until a process other than ``not_pid`` answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            stats = faults.host_stats(env, name, timeout=5.0)
            if int(stats["pid"]) != not_pid:
                return stats
        time.sleep(0.05)
    raise TimeoutError(f"host {name} did not come back from pid {not_pid} in {timeout:.0f} s")


def epochs(database_url: str, show_ids: Sequence[str]) -> int:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        return query_int(conn, "SELECT coalesce(sum(epoch), 0) FROM shows WHERE id = ANY(%s)", (list(show_ids),))


class ManyShows(SizedScenario[Size]):
    number = 13
    title = "Many shows under a small live-show budget while hosts are killed"

    def measure(self, env: Env, size: Size) -> list[Figure]:
        n = self.number
        service = env.start_service(
            {
                "BOOKING_SHOW_PLACEMENT": "hosted",
                "BOOKING_SHOW_HOSTS": str(HOSTS),
                "BOOKING_SHOW_HOST_MAX_SHOWS": str(BUDGET),
                "BOOKING_SHOW_IDLE_SECONDS": str(IDLE_SECONDS),
            }
        )
        names = [host_name(i) for i in range(HOSTS)]
        shows = [faults.new_show(service.base_url, seats=SEATS_EACH * size.buyers + 10) for _ in range(size.shows)]
        customers = faults.users(env, size.buyers + 1)
        probe_user, buyers = customers[0], customers[1:]
        epochs_before = epochs(env.database_url, [s.show_id for s in shows])
        self._activate_hosts(env, service.base_url, probe_user[1], shows, names)
        env.log(
            f"{size.shows} shows, {HOSTS} hosts × {BUDGET} live shows, {size.buyers} buyers each on every show, "
            f"a host killed every {size.kill_every:.0f} s"
        )

        figures = HostFigures()
        calls = Calls()
        plan: list[tuple[str, Purchase]] = []  # (show id, purchase), every purchase of the run
        kills: list[int] = []  # pid killed each time
        recoveries: list[float] = []

        async def buyer(client: httpx.AsyncClient, index: int, customer: tuple[str, str]) -> None:
            user_id, token = customer
            for step in range(len(shows)):
                show = shows[(index + step) % len(shows)]
                seats = show.seats[index * SEATS_EACH : (index + 1) * SEATS_EACH]
                bought = Purchase(user_id, token, seats)
                plan.append((show.show_id, bought))
                await faults.purchase(client, calls, show.show_id, bought, give_up_after=90)

        async def crowd() -> None:
            limits = httpx.Limits(max_connections=size.buyers + 4, max_keepalive_connections=size.buyers + 4)
            async with httpx.AsyncClient(base_url=service.base_url, timeout=30, limits=limits) as client:
                await asyncio.gather(*(buyer(client, i, c) for i, c in enumerate(buyers)))

        async def sampler(load: asyncio.Task[None]) -> None:
            while not load.done():
                await asyncio.to_thread(sample, env, figures, names)
                await asyncio.sleep(SAMPLE_EVERY_SECONDS)

        async def killer(load: asyncio.Task[None]) -> None:
            await asyncio.sleep(size.kill_every)
            while not load.done():
                name = names[len(kills) % HOSTS]
                before = await asyncio.to_thread(wait_host, env, name, -1)
                figures.record(before)
                killed_at = time.monotonic()
                await asyncio.to_thread(faults.kill_host, env, name)
                kills.append(int(before["pid"]))
                after = await asyncio.to_thread(wait_host, env, name, int(before["pid"]))
                recoveries.append(time.monotonic() - killed_at)
                figures.record(after)
                await asyncio.sleep(size.kill_every)

        async def main() -> None:
            load = asyncio.create_task(crowd())
            await asyncio.gather(sampler(load), killer(load))
            await load

        started = time.monotonic()
        asyncio.run(main())
        env.log(f"load done in {time.monotonic() - started:.0f} s; kills {len(kills)}; statuses {calls.statuses()}")
        # Shows left live go idle now: wait (bounded) until a sweep passivates some, so passivation is seen
        # even if every show was evicted before it could idle during the load.
        deadline = time.monotonic() + 10 * IDLE_SECONDS + 10
        while True:
            sample(env, figures, names)
            if figures.total("passivations") > 0 or time.monotonic() > deadline:
                break
            time.sleep(SAMPLE_EVERY_SECONDS)

        done = [p for _, p in plan]
        statuses = calls.statuses()
        unexpected = sum(c for s, c in statuses.items() if s >= 500 and s != 503)
        booked = sum(1 for p in done if p.booking_id is not None)
        gave_up = sum(1 for p in done if p.outcome.startswith("gave up"))
        shows_booked = len({show_id for show_id, p in plan if p.booking_id is not None})
        duplicates = sum(faults.duplicate_bookings(env.database_url, s.show_id) for s in shows)
        taken = epochs(env.database_url, [s.show_id for s in shows]) - epochs_before
        lifecycle = {figure: figures.total(figure) for figure in LIFECYCLE}
        env.log(f"lifecycle {lifecycle}, most live {figures.most_live}, recoveries {[round(r, 2) for r in recoveries]}")
        return [
            at_least(n, "host kills under load", len(kills), size.kills_at_least),
            zero(n, "acknowledged bookings lost", faults.lost_bookings(env.database_url, done)),
            zero(n, "acknowledged holds lost", faults.lost_holds(env.database_url, done)),
            zero(n, "duplicate bookings (seat, customer or hold twice on a show)", duplicates),
            zero(n, "holds charged twice", faults.double_charges(env.database_url)),
            zero(n, "answers 5xx other than 503", unexpected),
            at_most(n, f"live shows on one host, most seen (budget {BUDGET})", figures.most_live, BUDGET),
            at_least(n, "purchases booked (of every buyer on every show)", booked, len(done) // 2),
            at_least(n, "shows with a booking", shows_booked, size.shows),
            at_least(n, "activations seen", lifecycle["activations"], 1),
            at_least(n, "passivations seen (idle)", lifecycle["passivations"], 1),
            at_least(n, "evictions seen (budget)", lifecycle["evictions"], 1),
            informational(n, "refusals seen (503: every live show of a host busy)", lifecycle["refusals"]),
            informational(n, "fenced shows seen", lifecycle["fenced"]),
            at_least(n, "host processes seen (each kill restarts one)", figures.processes(), HOSTS + len(kills)),
            informational(n, "epochs taken over all shows (an activation takes one)", taken),
            informational(n, "purchases that gave up after 90 s of retries", gave_up),
            *faults.seconds_p50_p99(n, "killed host answering again", recoveries, RECOVERY_P99_BOUND_SECONDS),
            informational(n, "answers by status", " ".join(f"{s}:{c}" for s, c in statuses.items())),
        ]

    @staticmethod
    def _activate_hosts(
        env: Env, base_url: str, token: str, shows: Sequence[ShowFixture], names: Sequence[str]
    ) -> None:
        """Touch shows until every host actor runs (a host is created by the first command for one of its
        shows), so the killer has something to kill from the start."""
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for show in shows:
                client.get(f"/api/v1/shows/{show.show_id}/holds", headers=headers)
        for name in names:
            wait_host(env, name, -1)


SCENARIO = ManyShows(SHORT, FULL)
