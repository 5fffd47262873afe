"""Kill the Ray node hosting a show mid-load, and freeze then resume another: a Ray cluster on one machine.

    python -m tests.cluster_scenarios.node_failure --database-url URL --redis-url URL --report FILE

Builds a four-node Ray cluster on this machine with Ray's own ``ray.cluster_utils.Cluster`` (a head that
hosts no show actor, since it offers no ``memory`` to reserve, and three workers), runs the service
against it exactly as an operator would (``python main.py`` with ``RAY_ADDRESS``), and then:

1. **Node kill.** A crowd holds seats of one show (pairs of customers want the same two seats, so
   conflicts are real) and half the winners pay. Once holds are being acknowledged, every process of the
   node hosting the show's actor (raylet, agents, workers) is SIGKILLed at once. Clients retry each 503
   after its ``Retry-After`` with the same ``Idempotency-Key``; a probe measures the time from the kill to
   the first successful hold on that show.
2. **Stale copy.** Right after a short hold on another show, its node is frozen (SIGSTOP of all its
   processes). Ray declares the node dead and the show comes back elsewhere with a new epoch. Then only
   the old actor process is resumed (SIGCONT) while its raylet stays frozen, so nothing but fencing can
   stop it: its expiry timer is overdue and tries to write, PostgreSQL refuses the stale epoch, the copy
   steps down (a show's own actor exits; a host drops the show, says so in its log, and serves on).

"The show's actor" is the Ray actor running it (``harness.placement.ShowPlacement``): under the default
hosted placement its host ``shows:<n>``, whose node is the one killed or frozen (with every show on it),
and under dedicated placement its own ``show:<id>``. The hosts' live-show budget is set to what a 1 GiB
worker node holds: derived from this machine's memory it would reserve more than a node offers.

Everything it saw (each answer clients got, the rows PostgreSQL has afterwards, where the actors ran, the
exported metric names, timings) goes to the JSON report; ``problems(report)`` lists what is wrong with it,
and ``tests/integration/test_cluster.py`` asserts that list is empty. Node-failure detection is tuned down
(``SYSTEM_CONFIG``) so the run stays short; docs/deploy.md says what the defaults give.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import ray
from ray.cluster_utils import Cluster

from harness.placement import ShowPlacement
from settings import libpq_url
from tests.api_client import ShowFixture, bulk_users, create_show
from tests.conftest import Backing, Service, _free_port

# Ray declares a silent node dead after `failure_threshold` missed checks, `period` apart (defaults: 3 s, 5).
SYSTEM_CONFIG = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
    "metrics_report_interval_ms": 1000,
}
WORKER_NODES = 3
NODE_MEMORY_BYTES = 1024**3
PAIRS = 40  # 80 customers contend for 40 pairs of seats
KILL_AFTER_HOLDS = 12
PROBES = 100  # one fresh hold every PROBE_INTERVAL after the kill, at most this many
PROBE_INTERVAL = 0.2
CONCURRENCY = 24
RAMP_SECONDS = 3.0
LOAD_DEADLINE_SECONDS = 45.0
STALE_HOLD_TTL_SECONDS = 3
HOST_MAX_SHOWS = 50  # a host then reserves 120 MiB + 50 x 4 MiB, well within a worker's 1 GiB
CARD = "4242424242424242"

HOLD_STATUSES = {201, 409, 503}
PAY_STATUSES = {200, 503}

log = logging.getLogger("node_failure")


@dataclass
class Answer:
    user: str
    op: str  # "hold" | "pay"
    seats: list[str]
    status: int
    retry_after: str | None
    sent_at: float  # seconds since the scenario's clock started
    answered_at: float
    body: dict[str, Any]


@dataclass(frozen=True)
class Call:
    """A request a customer sends: ``op`` ("hold" | "pay") on ``seats``, by ``user`` with ``token``."""

    op: str
    user: str
    token: str
    path: str
    body: dict[str, Any]
    seats: list[str]


@dataclass
class Crowd:
    answers: list[Answer] = field(default_factory=list)

    def holds_acknowledged(self) -> int:
        return sum(1 for a in self.answers if a.op == "hold" and a.status == 201)


class Clock:
    def __init__(self) -> None:
        self.zero = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.zero


# -- the cluster ------------------------------------------------------------------------------------------


def start_head() -> Cluster:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "memory": 0,  # no show actor fits here: the head (GCS, drivers) is never the node that dies
            "include_dashboard": False,
            "include_log_monitor": False,  # nobody streams logs here; workers still write their log files
            "dashboard_port": _free_port(),
            "_system_config": SYSTEM_CONFIG,
        },
    )
    return cluster


def add_workers(cluster: Cluster) -> None:
    """Start the worker nodes without waiting for them (``cluster.wait_for_nodes`` does)."""
    for _ in range(WORKER_NODES):
        cluster.add_node(wait=False, num_cpus=1, memory=NODE_MEMORY_BYTES)


def node_processes(node: Any) -> list[psutil.Process]:
    """Every process of one Ray node: its raylet and everything the raylet started (agents, workers)."""
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    return [raylet, *raylet.children(recursive=True)]


def signal_all(processes: Iterable[psutil.Process], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signum)


def ping(placement: ShowPlacement, show_id: str, timeout: float = 60) -> dict[str, Any]:
    """The show's ping from the actor running it (pid and node of that process, epoch), waiting while it
    is restarting."""
    return placement.wait_ping(show_id, timeout)


# -- clients ----------------------------------------------------------------------------------------------


async def post(client: httpx.AsyncClient, clock: Clock, crowd: Crowd, call: Call, key: str) -> Answer:
    sent = clock.now()
    headers = {"Authorization": f"Bearer {call.token}", "Idempotency-Key": key}
    try:
        r = await client.post(call.path, json=call.body, headers=headers)
        status, retry_after = r.status_code, r.headers.get("retry-after")
        payload = r.json() if r.headers.get("content-type", "").endswith("json") else {}
    except httpx.HTTPError as exc:  # the service itself never goes down here; record it as a failure
        status, retry_after, payload = 599, None, {"error": repr(exc)}
    answer = Answer(call.user, call.op, call.seats, status, retry_after, sent, clock.now(), payload)
    crowd.answers.append(answer)
    return answer


async def until_final(
    client: httpx.AsyncClient, clock: Clock, crowd: Crowd, call: Call, deadline: float, pause: float | None = None
) -> Answer:
    """Send until the answer is not a 503, waiting ``Retry-After`` (or ``pause``) between tries, with the
    same ``Idempotency-Key`` every time: a retry of something that did happen gets the first answer."""
    key = f"{call.op}-{call.user}-{secrets.token_hex(4)}"
    while True:
        answer = await post(client, clock, crowd, call, key)
        if answer.status != 503 or clock.now() > deadline:
            return answer
        wait = pause if pause is not None else min(float(answer.retry_after or 1), 2.0)
        await asyncio.sleep(wait)


async def customer(
    client: httpx.AsyncClient,
    clock: Clock,
    crowd: Crowd,
    gate: asyncio.Semaphore,
    show: ShowFixture,
    user: tuple[str, str],
    seats: list[str],
    pays: bool,
    deadline: float,
) -> None:
    user_id, token = user
    await asyncio.sleep(random.uniform(0, RAMP_SECONDS))
    async with gate:
        path = f"/api/v1/shows/{show.show_id}/holds"
        hold = await until_final(
            client, clock, crowd, Call("hold", user_id, token, path, {"seats": seats}, seats), deadline
        )
        if hold.status != 201 or not pays:
            return
        pay = Call("pay", user_id, token, f"{path}/pay", {"payment_info": {"card_number": CARD}}, seats)
        await until_final(client, clock, crowd, pay, deadline)


# -- phase 1: kill the node hosting a show mid-load -------------------------------------------------------


async def warm_up(service: Service, shows: list[tuple[ShowFixture, str]]) -> list[Answer]:
    """Activate each show's actor with a one-seat hold, all at once (a cold actor takes seconds to start)."""
    users = bulk_users(service.backing.database_url, len(shows))
    clock, crowd = Clock(), Crowd()
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        answers = await asyncio.gather(
            *(
                until_final(
                    client,
                    clock,
                    crowd,
                    Call("hold", *user, f"/api/v1/shows/{show.show_id}/holds", {"seats": [seat]}, [seat]),
                    30,
                )
                for (show, seat), user in zip(shows, users, strict=True)
            )
        )
    assert all(a.status == 201 for a in answers), answers
    return answers


async def kill_mid_load(
    service: Service,
    cluster: Cluster,
    placement: ShowPlacement,
    show: ShowFixture,
    warm: Answer,
    report: dict[str, Any],
) -> None:
    users = bulk_users(service.backing.database_url, 2 * PAIRS + PROBES)
    crowd_users, probe_users = users[: 2 * PAIRS], users[2 * PAIRS :]
    clock = Clock()
    crowd = Crowd()
    probe = Crowd(answers=[warm])
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        before = ping(placement, show.show_id)
        nodes = {n.node_id: n for n in cluster.worker_nodes}
        victim = nodes[before["node_id"]]
        head: Any = cluster.head_node
        report["kill"] = {"before": before, "head_node_id": head.node_id}

        gate = asyncio.Semaphore(CONCURRENCY)
        deadline = clock.now() + LOAD_DEADLINE_SECONDS
        load = asyncio.gather(
            *(
                customer(
                    client,
                    clock,
                    crowd,
                    gate,
                    show,
                    user,
                    show.seats[2 * (i // 2) : 2 * (i // 2) + 2],
                    pays=(i // 2) % 2 == 0,
                    deadline=deadline,
                )
                for i, user in enumerate(crowd_users)
            )
        )
        async with asyncio.timeout(30):
            while crowd.holds_acknowledged() < KILL_AFTER_HOLDS:  # noqa: ASYNC110 (polls what other tasks fill)
                await asyncio.sleep(0.01)
        processes = node_processes(victim)
        killed_at = clock.now()
        signal_all(processes, signal.SIGKILL)
        report["kill"]["killed_at"] = killed_at
        report["kill"]["load_done_at_kill"] = load.done()
        report["kill"]["holds_acknowledged_at_kill"] = crowd.holds_acknowledged()
        report["kill"]["processes_killed"] = [p.pid for p in processes]
        report["kill"]["recovery_seconds"] = await recovery(client, clock, probe, show, probe_users, killed_at)
        await load
    after = ping(placement, show.show_id)
    report["kill"]["after"] = after
    report["kill"]["answers"] = [asdict(a) for a in crowd.answers]
    report["kill"]["probe"] = [asdict(a) for a in probe.answers]
    report["kill"]["database"] = database_state(service.backing.database_url, show.show_id)


async def recovery(
    client: httpx.AsyncClient,
    clock: Clock,
    probe: Crowd,
    show: ShowFixture,
    users: list[tuple[str, str]],
    killed_at: float,
) -> float | None:
    """Seconds from the kill to the first successful hold on the show: a fresh one-seat hold (its own
    customer and seat) is sent every ``PROBE_INTERVAL`` from the kill on, without waiting for the ones in
    flight (a call to a dead actor can take seconds to fail), until one succeeds."""
    seats = show.seats[-1 - len(users) : -1]
    path = f"/api/v1/shows/{show.show_id}/holds"
    attempts: list[asyncio.Task[Answer]] = []
    for (user_id, token), seat in zip(users, seats, strict=True):
        call = Call("hold", user_id, token, path, {"seats": [seat]}, [seat])
        attempts.append(asyncio.create_task(post(client, clock, probe, call, secrets.token_hex(8))))
        await asyncio.sleep(PROBE_INTERVAL)
        if any(a.status == 201 for a in probe.answers if a.sent_at >= killed_at):
            break
    await asyncio.gather(*attempts)
    successes = [a.answered_at for a in probe.answers if a.status == 201 and a.sent_at >= killed_at]
    return min(successes) - killed_at if successes else None


# -- phase 2: a frozen, then resumed, copy is fenced off --------------------------------------------------


async def stale_copy(
    service: Service,
    cluster: Cluster,
    placement: ShowPlacement,
    show: ShowFixture,
    warm: Answer,
    report: dict[str, Any],
) -> None:
    (first, second) = bulk_users(service.backing.database_url, 2)
    clock = Clock()
    answers = Crowd(answers=[warm])
    path = f"/api/v1/shows/{show.show_id}/holds"
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        held = await until_final(client, clock, answers, Call("hold", *first, path, {"seats": ["A1"]}, ["A1"]), 30)
        assert held.status == 201, held
        before = ping(placement, show.show_id)
        node = {n.node_id: n for n in cluster.worker_nodes}[before["node_id"]]
        processes = node_processes(node)
        stale = psutil.Process(before["pid"])
        stopped_wall = datetime.now(UTC)
        signal_all(processes, signal.SIGSTOP)
        stopped_at = clock.now()
        # Ray declares the frozen node dead and restarts the show elsewhere; a customer gets through again.
        retry = Call("hold", *second, path, {"seats": ["A2"]}, ["A2"])
        again = await until_final(client, clock, answers, retry, clock.now() + 60, pause=0.2)
        back_at = clock.now()
    after = ping(placement, show.show_id)
    # Let the first hold run out (the new copy expires it), then wake only the stale actor process.
    expires_at = datetime.fromisoformat(held.body["expires_at"])
    await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
    stale.send_signal(signal.SIGCONT)
    resumed_at = clock.now()
    # A show's own actor exits once fenced; a host drops the fenced show and serves on (its log says so).
    if placement.hosted:
        stepped_down = await logs_fencing(cluster, before["pid"], within=15)
        exited = False
    else:
        stepped_down = exited = await exits(stale, within=15)
    exited_at = clock.now()
    fenced_log = stale_log_lines(cluster, before["pid"])
    signal_all(processes, signal.SIGCONT)  # the rest of the node wakes up, learns it was declared dead, exits
    database = await expiry_recorded(service.backing.database_url, show.show_id, "A1")
    report["stale"] = {
        "before": before,
        "after": after,
        "stopped_wall": stopped_wall.isoformat(),
        "stopped_at": stopped_at,
        "back_at": back_at,
        "back_status": again.status,
        "resumed_at": resumed_at,
        "placement": placement.placement,
        "stale_stepped_down": stepped_down,
        "stale_exited": exited,
        "stale_exited_after": exited_at - resumed_at,
        "stale_log": fenced_log,
        "answers": [asdict(a) for a in answers.answers],
        "database": database,
    }


async def expiry_recorded(database_url: str, show_id: str, seat: str, within: float = 10) -> dict[str, Any]:
    """The show's rows once the expiry of the hold on ``seat`` is in the ledger (the new copy's timer
    writes it; on a busy machine maybe a moment after the stale copy was stopped)."""
    deadline = time.monotonic() + within
    while True:
        state = database_state(database_url, show_id)
        if any(r["seat"] == seat and r["event"] == "expired" for r in state["ledger"]) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.2)


async def exits(process: psutil.Process, within: float) -> bool:
    """True once the process is gone (a zombie counts: its frozen parent cannot reap it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        await asyncio.sleep(0.1)
    return False


async def logs_fencing(cluster: Cluster, pid: int, within: float) -> bool:
    """True once the process ``pid`` logged that its epoch was superseded (it fenced its show)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any("superseded" in line for line in stale_log_lines(cluster, pid)):
            return True
        await asyncio.sleep(0.2)
    return False


def stale_log_lines(cluster: Cluster, pid: int) -> list[str]:
    """What the stale actor process logged about its epoch (Ray writes each worker's stderr to a file)."""
    head: Any = cluster.head_node
    logs = Path(head.get_logs_dir_path())
    lines: list[str] = []
    for path in logs.glob(f"worker-*-{pid}.*"):
        lines += [line for line in path.read_text(errors="replace").splitlines() if "epoch" in line]
    return lines[-20:]


# -- what PostgreSQL and the metrics endpoints say afterwards ---------------------------------------------


def database_state(database_url: str, show_id: str) -> dict[str, Any]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        holds = [
            {"id": r[0], "user": r[1], "status": r[2], "seats": sorted(r[3]), "expires_at": r[4].isoformat()}
            for r in conn.execute(
                "SELECT id, user_id, status, seat_ids, expires_at FROM holds WHERE show_id = %s", (show_id,)
            )
        ]
        bookings = [
            {"id": r[0], "user": r[1], "status": r[2], "seats": sorted(r[3])}
            for r in conn.execute("SELECT id, user_id, status, seat_ids FROM bookings WHERE show_id = %s", (show_id,))
        ]
        claims = {
            r[0]: {"hold": r[1], "booking": r[2]}
            for r in conn.execute("SELECT seat_id, hold_id, booking_id FROM seat_claims WHERE show_id = %s", (show_id,))
        }
        ledger = [
            {"seat": r[0], "event": r[1], "user": r[2], "hold": r[3], "booking": r[4], "epoch": r[5], "at": r[6]}
            for r in conn.execute(
                "SELECT seat_id, event, user_id, hold_id, booking_id, epoch, at FROM seat_ledger "
                "WHERE show_id = %s ORDER BY id",
                (show_id,),
            )
        ]
    for row in ledger:
        row["at"] = row["at"].isoformat()
    return {"holds": holds, "bookings": bookings, "claims": claims, "ledger": ledger, "now": _now()}


def _now() -> str:
    return datetime.now(UTC).isoformat()


METRIC_LINE = re.compile(r"^(ray_seatwise_[a-z_]+?)(?:_bucket|_count|_sum)?\{(.*)\} ([0-9.e+-]+)$")


LOADED_METRICS = {
    "ray_seatwise_holds_total",
    "ray_seatwise_seats_held_total",
    "ray_seatwise_bookings_total",
    "ray_seatwise_refusals_total",
    "ray_seatwise_payments_total",
    "ray_seatwise_live_holds",
    "ray_seatwise_seats",
    "ray_seatwise_batch_size",
    "ray_seatwise_commit_seconds",
}


def scrape_metrics(show_id: str, want: set[str], within: float = 20) -> dict[str, float]:
    """``{metric: value}`` of one show, summed over the live nodes' Prometheus endpoints and over labels
    (histograms by their ``_count``), polled until every name in ``want`` is there (Ray exports every
    ``metrics_report_interval_ms``)."""
    deadline = time.monotonic() + within
    while True:
        seen: dict[str, float] = {}
        for node in ray.nodes():  # type: ignore[no-untyped-call]
            if not node.get("Alive"):
                continue
            url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
            try:
                text = httpx.get(url, timeout=5).text
            except httpx.HTTPError:
                continue
            for line in text.splitlines():
                match = METRIC_LINE.match(line)
                if match is None or "_bucket{" in line or "_sum{" in line:
                    continue
                name, labels, value = match.groups()
                if f'show_id="{show_id}"' in labels:
                    seen[name] = seen.get(name, 0.0) + float(value)
        if want <= set(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(1.0)


# -- judging a report (pure, so the test can also feed it a doctored one) ---------------------------------


def problems(report: dict[str, Any]) -> list[str]:
    """Everything in ``report`` that breaks a promise; empty when the run went as it must."""
    found: list[str] = []
    kill = report["kill"]
    answers = kill["answers"] + kill["probe"]
    found += _answers_problems(answers)
    found += _acknowledged_problems(answers, kill["database"])
    if kill["load_done_at_kill"]:
        found.append("the kill did not land mid-load")
    if not any(a["status"] == 503 for a in answers):
        found.append("no client saw a 503: the kill did not hit requests")
    before, after = kill["before"], kill["after"]
    if after["node_id"] == before["node_id"]:
        found.append("the show did not move to another node")
    if after["node_id"] == kill["head_node_id"] or before["node_id"] == kill["head_node_id"]:
        found.append("a show actor ran on the head node, which offers no memory for them")
    if after["epoch"] <= before["epoch"]:
        found.append("the show came back without a new epoch")
    if kill["recovery_seconds"] is None:
        found.append("no hold succeeded on the show after the kill")

    stale = report["stale"]
    found += _answers_problems(stale["answers"])
    found += _acknowledged_problems(stale["answers"], stale["database"])
    if stale["back_status"] != 201:
        found.append(f"the frozen show did not come back (last answer {stale['back_status']})")
    if stale["after"]["epoch"] <= stale["before"]["epoch"] or stale["after"]["pid"] == stale["before"]["pid"]:
        found.append("the frozen show's new copy is not a new activation")
    if not stale["stale_stepped_down"]:
        found.append("the resumed stale copy kept serving the show: it was not fenced off")
    stale_epoch, stopped = stale["before"]["epoch"], datetime.fromisoformat(stale["stopped_wall"])
    late = [
        r
        for r in stale["database"]["ledger"]
        if r["epoch"] == stale_epoch and datetime.fromisoformat(r["at"]) > stopped
    ]
    if late:
        found.append(f"the stale copy wrote after it was superseded: {late}")
    expired = [r for r in stale["database"]["ledger"] if r["seat"] == "A1" and r["event"] != "held"]
    if not expired or any(r["epoch"] <= stale_epoch for r in expired):
        found.append(f"the first hold's expiry was not written by the new copy: {expired}")
    return found


def _answers_problems(answers: list[dict[str, Any]]) -> list[str]:
    found = []
    for a in answers:
        allowed = HOLD_STATUSES if a["op"] == "hold" else PAY_STATUSES
        if a["status"] not in allowed:
            found.append(f"{a['op']} answered {a['status']}: {a['body']}")
        if a["status"] == 503 and not a["retry_after"]:
            found.append(f"a 503 without Retry-After: {a['body']}")
    return found


def _acknowledged_problems(answers: list[dict[str, Any]], database: dict[str, Any]) -> list[str]:
    """What clients were told against what PostgreSQL has: every acknowledged hold and booking is there,
    no seat was acknowledged to two customers, and a 409 means someone else really has the seat."""
    found: list[str] = []
    holds = {h["id"]: h for h in database["holds"]}
    bookings = {b["id"]: b for b in database["bookings"]}
    claims: dict[str, dict[str, str | None]] = database["claims"]
    now = datetime.fromisoformat(database["now"])
    owner_of_seat: dict[str, str] = {}
    for a in answers:
        if a["op"] != "hold" or a["status"] != 201:
            continue
        hold = holds.get(a["body"]["id"])
        if hold is None or hold["user"] != a["user"] or hold["seats"] != sorted(a["seats"]):
            found.append(f"acknowledged hold {a['body'].get('id')} of {a['user']} is not in PostgreSQL as told")
            continue
        for seat in a["seats"]:
            if owner_of_seat.setdefault(seat, a["user"]) != a["user"]:
                found.append(f"seat {seat} acknowledged to two customers")
            claim = claims.get(seat)
            booking = bookings.get(claim["booking"] or "") if claim else None
            if hold["status"] == "active":
                if datetime.fromisoformat(hold["expires_at"]) > now and (claim is None or claim["hold"] != hold["id"]):
                    found.append(f"acknowledged hold {hold['id']} lost seat {seat}")
            elif hold["status"] == "confirmed":
                if booking is None or booking["user"] != a["user"]:
                    found.append(f"seat {seat} of confirmed hold {hold['id']} is not booked by its customer")
            elif hold["status"] != "expired":
                found.append(f"acknowledged hold {hold['id']} is {hold['status']}")
    for a in answers:
        if a["op"] == "pay" and a["status"] == 200:
            booking = bookings.get(a["body"]["booking_id"])
            if booking is None or booking["user"] != a["user"] or booking["status"] != "confirmed":
                found.append(f"acknowledged booking {a['body']['booking_id']} is not in PostgreSQL as told")
            elif any((claims.get(s) or {}).get("booking") != booking["id"] for s in booking["seats"]):
                found.append(f"acknowledged booking {booking['id']} lost a seat")
        if a["op"] == "hold" and a["status"] == 409:
            owners = {_claim_owner(claims.get(s), holds, bookings) for s in a["seats"]}
            if a["user"] in owners or owners == {None}:
                found.append(f"409 for {a['seats']} to {a['user']}, but the seats are {owners or 'free'}")
    held_twice = {}
    for row in database["ledger"]:
        if row["event"] == "booked":
            if row["seat"] in held_twice:
                found.append(f"seat {row['seat']} booked twice")
            held_twice[row["seat"]] = row["booking"]
    return found


def _claim_owner(
    claim: dict[str, str | None] | None, holds: dict[str, dict[str, Any]], bookings: dict[str, dict[str, Any]]
) -> str | None:
    """Whose the claimed seat is (None: free, or claimed by a row that is not there)."""
    if claim is None:
        return None
    row = bookings.get(claim["booking"] or "") or holds.get(claim["hold"] or "")
    return None if row is None else str(row["user"])


# -- the run ----------------------------------------------------------------------------------------------


def run(database_url: str, redis_url: str, work_dir: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"timings": {}}
    timings = report["timings"]
    started = time.monotonic()
    # Ray's sessions and its "current cluster" file go here, not to the shared /tmp/ray: a `ray.init()`
    # elsewhere on this machine must never find and join this cluster. Short, for Ray's socket paths.
    temp_dir = tempfile.mkdtemp(prefix="sw-ray-", dir="/tmp")
    os.environ["RAY_TMPDIR"] = temp_dir
    cluster: Cluster | None = None
    service: Service | None = None
    try:
        cluster = start_head()
        timings["head_start"] = time.monotonic() - started
        add_workers(cluster)  # they start while the service does
        namespace = f"booking-cluster-{secrets.token_hex(4)}"
        ray.init(address=cluster.address, namespace=namespace, logging_level=logging.WARNING, log_to_driver=False)
        backing = Backing(database_url, redis_url, f"test-{secrets.token_hex(4)}:", cluster.address, namespace)
        service = Service(
            backing=backing,
            port=_free_port(),
            extra_env={
                "BOOKING_NOTIFICATIONS_ENABLED": "false",
                "BOOKING_ACTOR_CALL_TIMEOUT_SECONDS": "4",
                "BOOKING_LOG_FORMAT": "json",
                "BOOKING_SHOW_HOST_MAX_SHOWS": str(HOST_MAX_SHOWS),
            },
        )
        placement = ShowPlacement.of(service)
        report["placement"] = placement.placement
        service.log_path = work_dir / "service.log"
        service.start()
        timings["service_start"] = time.monotonic() - started
        cluster.wait_for_nodes(timeout=120)
        timings["cluster_start"] = time.monotonic() - started
        with httpx.Client(base_url=service.base_url, timeout=30) as client:
            echoed = client.get("/livez", headers={"X-Request-ID": "cluster-run-1"}).headers.get("x-request-id")
            report["request_ids"] = {"echoed": echoed, "made": client.get("/livez").headers.get("x-request-id")}
            loaded = create_show(
                client,
                rows=[{"row": r, "seats": 20, "category": "standard"} for r in "ABCDEFGHIJ"],
                prices={"standard": 200.0},
            )
            frozen = create_show(client, hold_ttl_seconds=STALE_HOLD_TTL_SECONDS, starts_in=timedelta(hours=6))
        report["shows"] = {"loaded": loaded.show_id, "frozen": frozen.show_id}
        warm = asyncio.run(warm_up(service, [(loaded, loaded.seats[-1]), (frozen, "B1")]))
        asyncio.run(kill_mid_load(service, cluster, placement, loaded, warm[0], report))
        timings["node_kill"] = time.monotonic() - started
        # The loaded show's actor now runs on a surviving node: read what it exported.
        report["metrics"] = {"loaded": scrape_metrics(loaded.show_id, LOADED_METRICS)}
        asyncio.run(stale_copy(service, cluster, placement, frozen, warm[1], report))
        timings["stale_copy"] = time.monotonic() - started
        report["metrics"]["frozen"] = scrape_metrics(frozen.show_id, {"ray_seatwise_hold_expirations_total"})
        report["service_log_tail"] = service.log_tail(40)
        report["service_log_not_json"] = not_json(service.log_path)
        return report
    finally:
        if service is not None:
            service.stop()
        if ray.is_initialized():
            ray.shutdown()
        if cluster is not None:
            for node in list(cluster.worker_nodes):
                signal_all(_alive(node), signal.SIGCONT)
            cluster.shutdown()  # type: ignore[no-untyped-call]
        shutil.rmtree(temp_dir, ignore_errors=True)
        timings["total"] = time.monotonic() - started


def not_json(path: Path) -> list[str]:
    """Lines of the service's output (BOOKING_LOG_FORMAT=json) that are not one JSON object each."""
    bad = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    return bad[:20]


def _alive(node: Any) -> list[psutil.Process]:
    try:
        return node_processes(node)
    except psutil.NoSuchProcess:
        return []


def summary(report: dict[str, Any]) -> str:
    kill, stale = report["kill"], report["stale"]
    statuses: dict[str, int] = {}
    for a in kill["answers"]:
        statuses[f"{a['op']} {a['status']}"] = statuses.get(f"{a['op']} {a['status']}", 0) + 1
    recovery = kill["recovery_seconds"]
    return (
        f"node kill: recovery {'none' if recovery is None else f'{recovery:.2f} s'} from the kill to the first "
        f"successful hold; crowd answers {dict(sorted(statuses.items()))}; show moved "
        f"{kill['before']['node_id'][:8]} -> {kill['after']['node_id'][:8]}, epoch {kill['before']['epoch']} -> "
        f"{kill['after']['epoch']}\n"
        f"stale copy: show back {stale['back_at'] - stale['stopped_at']:.2f} s after the freeze (epoch "
        f"{stale['before']['epoch']} -> {stale['after']['epoch']}); resumed copy stepped down: "
        f"{stale['stale_stepped_down']}, exited: {stale['stale_exited']} ({stale['stale_exited_after']:.2f} s); "
        f"it logged {stale['stale_log']}\n"
        f"problems: {report['problems']}\ntimings: { {k: round(v, 1) for k, v in report['timings'].items()} }"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = run(args.database_url, args.redis_url, args.report.parent)
    report["problems"] = problems(report)
    args.report.write_text(json.dumps(report, indent=1, default=str))
    print(summary(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
