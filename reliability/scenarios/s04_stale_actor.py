"""Scenario 4: a show actor frozen (SIGSTOP), superseded by a new activation, then resumed (SIGCONT).

What it promises: once a newer activation has taken the show's epoch, nothing the old copy does reaches
PostgreSQL; the old copy notices on its first write and leaves (it exits, and Ray's restart takes a newer
epoch still). This is the split brain that fencing exists for: a copy that was not dead, only silent.

How the new activation comes about: on a one-machine Ray the old process cannot be declared dead while
it is frozen (``ray.kill`` would only take effect once it resumes, so it would exit without trying
anything); a frozen *node* is what makes Ray restart an actor elsewhere while the old one lives, and
``tests/integration/test_cluster.py`` does that on a four-node cluster. Here the takeover is a second copy
of the show actor started outside the service's Ray namespace (``faults.start_copy``): it activates
exactly as Ray's restart would, taking a new epoch from PostgreSQL, and then serves writes.

Steps: customers hold seats with a short hold TTL (so the old copy's expiry timer is overdue by the time
it resumes); the old copy's process is frozen; more holds are sent through the API (they queue in the
frozen copy's mailbox and time out as 503); the takeover activates and commits holds of its own; the old
copy resumes with queued holds and overdue timers to run; it must be fenced on its first commit.

Figure: writes accepted from a stale epoch (growth of the old epoch's seat-ledger rows after the
takeover: every committed change writes ledger rows stamped with its epoch, in the same transaction).
Also: the old copy stepped down after resuming; a newer epoch serves the API afterwards; no request was
acknowledged while the copy was frozen.

The old copy is whatever runs the show in the service's placement (``env.placement()``): under dedicated
placement the show's own actor, whose process exits once fenced (Ray restarts it with a newer epoch);
under hosted placement (the default) its host, which is frozen whole and, once resumed, drops the fenced
show (its ``fenced`` count grows) while its process serves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
import ray

from actors.commands import HoldSeats
from actors.seat_map_core import Hold
from reliability import faults
from reliability.env import Env
from reliability.faults import Calls
from reliability.figures import Figure, at_least, informational, zero

HOLD_TTL_SECONDS = 4
CALL_TIMEOUT_SECONDS = 3


class StaleActor:
    number = 4
    title = "Stale actor stopped, superseded, resumed"

    def run(self, env: Env, full: bool) -> list[Figure]:
        n = self.number
        rounds = 3 if full else 1
        service = env.start_service({"BOOKING_ACTOR_CALL_TIMEOUT_SECONDS": str(CALL_TIMEOUT_SECONDS)})
        show = faults.new_show(service.base_url, seats=200, hold_ttl_seconds=HOLD_TTL_SECONDS)
        customers = faults.users(env, 60)
        stale_writes = 0
        exited = 0
        frozen_acks = 0
        queued = 0
        takeover_writes = 0
        newer = 0
        seat = 0
        for round_no in range(rounds):
            before = faults.buyers_for(show, customers[:10], offset=seat)
            during = faults.buyers_for(show, customers[10:20], offset=seat + 10)
            after = faults.buyers_for(show, customers[20:25], offset=seat + 20)
            own = customers[25 + round_no]
            takeover_seats = show.seats[seat + 25 : seat + 28]
            seat += 30
            asyncio.run(faults.crowd(service.base_url, show.show_id, before, Calls(), pay=False))
            old = faults.wait_actor(env, show.show_id)
            old_pid, old_epoch = int(old["pid"]), int(old["epoch"])
            fenced_before = self._fenced(env, show.show_id)
            baseline = faults.ledger_rows_of_epoch(env.database_url, show.show_id, old_epoch)
            with faults.frozen(old_pid):
                # Requests that reach the frozen copy: they wait in its mailbox, the API gives up (503).
                calls = Calls()
                asyncio.run(
                    faults.crowd(
                        service.base_url, show.show_id, during, calls, pay=False, give_up_after=0.1, client_timeout=20
                    )
                )
                frozen_acks += sum(1 for c in calls if 200 <= c.status < 300)
                queued += len(calls)
                copy = faults.start_copy(env, show.show_id)
                try:
                    info = faults_ping(copy)
                    at_takeover = faults.ledger_rows_of_epoch(env.database_url, show.show_id, old_epoch)
                    stale_writes += at_takeover - baseline  # a frozen process wrote? (cannot, but count it)
                    replies = ray.get(copy.apply.remote([HoldSeats(own[0], tuple(takeover_seats))]), timeout=30)
                    takeover_writes += sum(1 for r in replies if isinstance(r, Hold))
                    if int(info["epoch"]) <= old_epoch:
                        stale_writes += 1_000_000  # no takeover happened: the scenario is void
                    # Let the old copy's hold timers fall due while it is frozen.
                    time.sleep(HOLD_TTL_SECONDS + 0.5)
                except BaseException:
                    with contextlib.suppress(Exception):
                        ray.kill(copy)
                    raise
            # Resumed: queued holds and overdue expiries run into the fence.
            deadline = time.monotonic() + 20
            while not self._stepped_down(env, show.show_id, old_pid, fenced_before) and time.monotonic() < deadline:
                time.sleep(0.1)
            exited += 1 if self._stepped_down(env, show.show_id, old_pid, fenced_before) else 0
            stale_writes += faults.stale_epoch_writes(env.database_url, show.show_id, old_epoch, at_takeover)
            # The service is served by a newer activation again (Ray restarted the fenced copy).
            done = asyncio.run(faults.crowd(service.base_url, show.show_id, after, Calls(), pay=False))
            latest = faults.wait_actor(env, show.show_id)
            newer += int(int(latest["epoch"]) > int(info["epoch"]) and all(b.hold_id for b in done))
            with contextlib.suppress(Exception):
                ray.kill(copy)
            env.log(
                f"round {round_no + 1}: epochs {old_epoch} → {info['epoch']} → {latest['epoch']}, "
                f"old copy stepped down: {self._stepped_down(env, show.show_id, old_pid, fenced_before)}"
            )
        with httpx.Client(base_url=service.base_url, timeout=30) as client:
            statuses = client.get(f"/api/v1/shows/{show.show_id}/seats").status_code
        return [
            zero(n, "writes accepted from a stale epoch", stale_writes),
            at_least(n, "stale copies fenced and gone after resuming", exited, rounds),
            informational(n, "placement of the shows", env.placement().placement),
            at_least(n, "takeover activations that committed holds", takeover_writes and rounds, rounds),
            at_least(n, "API served by a newer epoch afterwards", newer, rounds),
            zero(n, "requests acknowledged while the old copy was frozen", frozen_acks),
            informational(n, "requests queued at the frozen copy (answered 503)", queued),
            informational(n, "seat map after the episode (HTTP status)", statuses),
        ]

    @staticmethod
    def _fenced(env: Env, show_id: str) -> int:
        """Shows the show's host has dropped as fenced so far (hosted placement; 0 under dedicated)."""
        placement = env.placement()
        if not placement.hosted:
            return 0
        return int(faults.host_stats(env, placement.actor_name(show_id), timeout=10.0)["fenced"])

    @staticmethod
    def _stepped_down(env: Env, show_id: str, old_pid: int, fenced_before: int) -> bool:
        """The resumed copy is gone: its process exited (dedicated), or its host, the same process,
        dropped a fenced show since it was frozen (hosted; the only show here whose epoch moves on)."""
        if not env.placement().hosted:
            return not faults.process_alive(old_pid)
        return StaleActor._fenced(env, show_id) > fenced_before


def faults_ping(copy: Any) -> dict[str, Any]:
    """Ping a copy started by ``faults.start_copy`` (its activation finishes first)."""
    info: dict[str, Any] = ray.get(copy.ping.remote(), timeout=30)
    return info


SCENARIO = StaleActor()
