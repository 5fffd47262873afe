"""Check-in throughput at the door (issue 20): scans/s through HTTP, next to a bare FastAPI endpoint
answering the same bytes, in one run; then PostgreSQL's word that no ticket went in twice.

    python -m bench.check_in [--rounds 3] [--seconds 4] [--connections 32] [--tickets 3000]

Set-up goes through the real service: a venue of seated sections, a show, a ``gate`` account (the admins'
``PUT /users/{id}/role``), ``--tickets`` bookings of 1-4 seats (accounts made in PostgreSQL, holds and
payments over HTTP, concurrently), and each booking's codes from ``GET /bookings/{id}/ticket``.

Workloads, wrk sending ``POST /api/v1/shows/{id}/check-ins`` with a Lua script cycling through codes,
each thread through a block of its own:

- **first scans**: each round has its own slice of the tickets, every request another ticket: ``admitted``
  (verify the signature in the API process, the show's actor decides, the admission is committed to
  PostgreSQL before the answer). A wrk thread stops once it has sent each of its tickets, so no ticket is
  scanned twice; wrk then still divides by the whole ``--seconds``, so when the tickets ran out the rate
  printed is the actor's, from the admissions' ``admitted_at`` in PostgreSQL (more ``--tickets``: runs
  that last the whole ``--seconds``). The per-result counts show what each run was answered.
- **repeat scans**: static codes of tickets already in: ``already_admitted`` (the same path through the
  actor, nothing to write).
- **rotating codes**: ``token~TOTP`` of tickets already in, the TOTP computed just before each run for its
  middle (a code is good for its own 15 s step and one either side, so runs up to 28 s stay inside).

The baseline (``bench/bare_door.py``) reads the body and answers the service's own ``admitted`` or
``already_admitted`` JSON from memory. Before the rounds the service is left to go quiet (the set-up's
confirmation e-mails) and a 2 s warm-up lets the show be promoted to an actor of its own, as a door's load
does. Rounds alternate which of the two goes first; medians of the rounds are printed with p50/p99, the
service/bare ratios, and the CPU each scan cost the API process and the show's process (from /proc: a
figure that holds on a machine busy with other work, where scans/s do not). Afterwards PostgreSQL is
asked: no booking has more than one admission, and the tickets admitted are exactly the distinct tickets
the first-scan runs sent; the exit status is 1 if not. Uses DATABASE_URL / REDIS_URL when set, else
throwaway embedded ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.harness import Rig, require_wrk, running_service, wrk_command
from harness.client import bearer, bulk_users, create_show, staff_token
from settings import libpq_url
from tickets.codes import TOTP_PERIOD_SECONDS, rotating_code

CARD = "4242424242424242"
ROWS_PER_SECTION, SEATS_PER_ROW = 20, 200
ROW_LABELS = [chr(ord("A") + i) for i in range(ROWS_PER_SECTION)]
MAX_ROTATING_SECONDS = TOTP_PERIOD_SECONDS * 2 - 2  # midpoint's step +-1 covers the whole run

LUA = """
local codes = {%(codes)s}
local threads = %(threads)d
local once = %(once)s
local block = math.floor(#codes / threads)
local path = "%(path)s"
local headers = {["Authorization"] = "Bearer %(token)s", ["Content-Type"] = "application/json",
                 ["X-Bare-Answer"] = "%(answer)s"}
local all_threads = {}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(all_threads, thread)
end
function init(args)
  id = tonumber(wrk.thread:get("id"))
  first = id * block
  sent = 0
  counts = {}
  -- wrk 4.1 calls the first thread's request() once before the run, to check it, and sends nothing
  verifying = id == 0
end
request = function()
  local i = first + (sent %% block) + 1
  if verifying then
    verifying = false
    return wrk.format("POST", path, headers, '{"code":"' .. codes[i] .. '","gate":"check"}')
  end
  sent = sent + 1
  if once and sent >= block then
    wrk.thread:stop()  -- this thread's tickets are all sent: no scan of a ticket twice
  end
  local body = '{"code":"' .. codes[i] .. '","gate":"Gate ' .. id .. '"}'
  return wrk.format("POST", path, headers, body)
end
response = function(status, hdrs, body)
  local result = body:match('"result":"([%%a_]+)"') or ("http " .. status)
  counts[result] = (counts[result] or 0) + 1
end
function done(summary, latency, requests)
  local sent_list, parts, total = {}, {}, {}
  for _, t in ipairs(all_threads) do
    table.insert(sent_list, tostring(t:get("sent")))
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do table.insert(parts, string.format('"%%s":%%d', k, v)) end
  io.write('CHECKIN {"block":' .. block .. ',"sent":[' .. table.concat(sent_list, ",") .. '],"counts":{'
           .. table.concat(parts, ",") .. '}}\\n')
end
"""


@dataclass(frozen=True)
class Ticket:
    booking_id: str
    code: str
    token: str  # the rotating token; the code shown is token~TOTP
    secret: str


def venue_sections(seats: int) -> list[dict[str, Any]]:
    per_section = ROWS_PER_SECTION * SEATS_PER_ROW
    count = -(-seats // per_section)
    rows = [{"row": r, "seats": SEATS_PER_ROW} for r in ROW_LABELS]
    return [{"code": f"S{i + 1}", "name": f"Block {i + 1}", "rows": rows} for i in range(count)]


def make_show(client: httpx.Client, seats: int) -> tuple[str, list[str]]:
    """A venue big enough for ``seats`` and a show on it, on sale now; returns (show id, seat ids)."""
    show = create_show(
        client,
        starts_in=timedelta(hours=3),
        prices={"standard": 100.0},
        sections=venue_sections(seats),
        names=("Door night", "Arena"),
    )
    return show.show_id, show.seats


async def retrying(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: Any = None
) -> httpx.Response:
    """The request, sent again (same ``Idempotency-Key``) while the service answers 503, as it asks: on a
    machine loaded by other work the set-up's database calls may time out."""
    for _ in range(10):
        answer = await client.request(method, url, headers=headers, json=body)
        if answer.status_code != 503:
            break
        await asyncio.sleep(float(answer.headers.get("Retry-After", 1)))
    return answer


async def book_all(base_url: str, show_id: str, plans: list[tuple[str, list[str]]], concurrency: int) -> list[Ticket]:
    """Each (customer token, seats) holds its seats, pays, and fetches its ticket, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)
    done = 0
    started = time.monotonic()
    step = max(1, len(plans) // 10)

    async def one(client: httpx.AsyncClient, customer: str, seats: list[str]) -> Ticket:
        nonlocal done
        async with gate:
            key = uuid.uuid4().hex
            headers = bearer(customer)
            holds = f"/api/v1/shows/{show_id}/holds"
            hold_headers = {**headers, "Idempotency-Key": f"{key}-hold"}
            held = await retrying(client, "POST", holds, hold_headers, {"seats": seats})
            assert held.status_code == 201, held.text
            pay = {"payment_info": {"card_number": CARD}}
            paid = await retrying(client, "POST", f"{holds}/pay", {**headers, "Idempotency-Key": f"{key}-pay"}, pay)
            assert paid.status_code == 200, paid.text
            booking_id = paid.json()["booking_id"]
            got = await retrying(client, "GET", f"/api/v1/bookings/{booking_id}/ticket", headers)
            assert got.status_code == 200, got.text
            ticket = got.json()
        done += 1
        if done % step == 0 or done == len(plans):
            print(f"  {done:,} of {len(plans):,} booked ({time.monotonic() - started:.0f} s)", flush=True)
        return Ticket(booking_id, ticket["code"], ticket["rotating"]["token"], ticket["rotating"]["secret"])

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        return list(await asyncio.gather(*(one(client, customer, seats) for customer, seats in plans)))


def lua(path: Path, url_path: str, codes: list[str], threads: int, token: str, answer: str, once: bool) -> Path:
    """The wrk script: each thread cycles through a block of ``codes`` of its own; with ``once``, a thread
    stops when it has sent each of its codes once."""
    assert len(codes) >= threads, f"{len(codes)} codes for {threads} wrk threads"
    quoted = ",".join(f'"{c}"' for c in codes)
    values = {"codes": quoted, "threads": threads, "path": url_path, "token": token, "answer": answer}
    path.write_text(LUA % {**values, "once": "true" if once else "false"})
    return path


def run_wrk(base_url: str, script: Path, seconds: int, connections: int, threads: int) -> dict[str, Any]:
    """wrk's throughput and latency, plus the script's count of each result and of scans sent per thread."""
    out = subprocess.run(
        wrk_command(base_url, script, seconds, connections, threads, "--latency"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    assert total is not None, out
    requests, elapsed = int(total.group(1)), float(total.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    errors = re.search(r"Socket errors: (.*)", out)
    tally = json.loads(out.split("CHECKIN ", 1)[1].splitlines()[0])
    return {
        "requests": requests,
        "seconds": elapsed,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": lat.get("50", "?"),
        "p99": lat.get("99", "?"),
        "counts": tally["counts"],
        "reached": sum(min(s, tally["block"]) for s in tally["sent"]),
        "ran_out": any(s >= tally["block"] for s in tally["sent"]),
        "sent": sum(tally["sent"]),
        "socket_errors": errors.group(1) if errors else "",
    }


def admitted_ids(database_url: str, show_id: str) -> set[str]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute("SELECT booking_id FROM admissions WHERE show_id = %s", (show_id,)).fetchall()
    return {r[0] for r in rows}


def admission_rate(database_url: str, show_id: str, booking_ids: list[str]) -> tuple[int, float]:
    """How many of ``booking_ids`` are in, and at what rate the actor admitted them: admissions after the
    first over the span of their ``admitted_at``."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT count(*), extract(epoch FROM max(admitted_at) - min(admitted_at)) FROM admissions"
            " WHERE show_id = %s AND booking_id = ANY(%s)",
            (show_id, booking_ids),
        ).fetchone()
    count, span = (row[0], float(row[1] or 0)) if row else (0, 0.0)
    return count, (count - 1) / span if span > 0 else float("nan")


def door_check(database_url: str, show_id: str) -> dict[str, int]:
    """What PostgreSQL holds: admissions, distinct bookings admitted, and bookings admitted more than once."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows, bookings = conn.execute(
            "SELECT count(*), count(DISTINCT booking_id) FROM admissions WHERE show_id = %s", (show_id,)
        ).fetchone() or (0, 0)
        doubles = conn.execute(
            "SELECT count(*) FROM (SELECT booking_id FROM admissions WHERE show_id = %s"
            " GROUP BY booking_id HAVING count(*) > 1) d",
            (show_id,),
        ).fetchone()
    return {"admissions": rows, "bookings": bookings, "doubles": doubles[0] if doubles else 0}


def setup(rig: Rig, tickets: int, concurrency: int) -> tuple[str, str, list[Ticket]]:
    """The show, a gate token, and ``tickets`` confirmed bookings with their codes."""
    rng = random.Random(20)
    sizes = [rng.randint(1, 4) for _ in range(tickets)]
    with httpx.Client(base_url=rig.base_url, timeout=120) as client:
        show_id, seats = make_show(client, sum(sizes))
        gate = staff_token(client, "gate", "gate")
    print(f"show {show_id}: {len(seats):,} seats; making {tickets:,} accounts ...", flush=True)
    customers = [token for _, token in bulk_users(rig.database_url, tickets)]
    plans, at = [], 0
    for customer, size in zip(customers, sizes, strict=True):
        plans.append((customer, seats[at : at + size]))
        at += size
    print(f"booking {tickets:,} tickets ({at:,} seats), {concurrency} at a time ...", flush=True)
    booked = asyncio.run(book_all(rig.base_url, show_id, plans, concurrency))
    return show_id, gate, booked


def capture_answers(rig: Rig, show_id: str, gate: str, probe: Ticket) -> Path:
    """The service's own ``admitted`` and ``already_admitted`` bytes (one probe ticket scanned twice), for
    the baseline to answer."""
    folder = rig.tmp / "bare-door"
    folder.mkdir()
    with httpx.Client(base_url=rig.base_url, timeout=30) as client:
        for expected in ("admitted", "already_admitted"):
            answer = client.post(
                f"/api/v1/shows/{show_id}/check-ins", headers=bearer(gate), json={"code": probe.code, "gate": "Gate 0"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"] == expected, answer.text
            (folder / f"{expected}.json").write_bytes(answer.content)
    return folder


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def show_cpu(gcs_address: str) -> dict[int, float]:
    """CPU seconds used so far by each process holding shows (``ray::ShowHost``, ``ray::ShowActor``: a busy
    show is promoted from its host to an actor of its own, and an empty host exits) under this benchmark's
    own Ray."""
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        procs[int(stat.parent.name)] = (int(fields[1]), cmdline, cpu)
    raylets = {pid for pid, (_, cmd, _) in procs.items() if "raylet" in cmd and gcs_address in cmd}
    return {pid: cpu for pid, (ppid, cmd, cpu) in procs.items() if ppid in raylets and cmd.startswith("ray::Show")}


def settle(api: int, gcs_address: str, idle_share: float = 0.05, timeout: float = 180) -> float:
    """Wait until the API process and the show processes together use under ``idle_share`` of a core over a
    second (the set-up's confirmation e-mails are rendered and sent by the API process after the bookings
    were answered); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_seconds(api) + sum(show_cpu(gcs_address).values())
        time.sleep(1)
        if cpu_seconds(api) + sum(show_cpu(gcs_address).values()) - before < idle_share:
            break
    return time.monotonic() - started


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose scans/s is the median, with the median as its rate."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return {**ordered[len(ordered) // 2], "rps": statistics.median(r["rps"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tickets", type=int, default=3000, help="bookings (tickets) to make; 1-4 seats each")
    parser.add_argument("--concurrency", type=int, default=32, help="bookings made at once during set-up")
    args = parser.parse_args()
    require_wrk()
    rotating = args.seconds <= MAX_ROTATING_SECONDS
    if not rotating:
        print(f"--seconds above {MAX_ROTATING_SECONDS}: a rotating code would expire mid-run; skipping that workload")

    with running_service("bench-door", {"BOOKING_API_WORKERS": "1"}) as rig:
        show_id, gate, booked = setup(rig, args.tickets + 1, args.concurrency)
        probe, pool = booked[0], booked[1:]
        bare = rig.start_app("bench.bare_door", {"BARE_DOOR_DIR": str(capture_answers(rig, show_id, gate, probe))})
        by_id = {t.booking_id: t for t in pool}
        path = f"/api/v1/shows/{show_id}/check-ins"
        slice_size = len(pool) // args.rounds
        runs: dict[str, list[dict[str, Any]]] = {}
        reached = 0

        gcs = rig.env["RAY_ADDRESS"]
        print(f"waiting for the service to go quiet ... {settle(rig.service.pid, gcs):.0f} s", flush=True)
        # Warm-up: the probe ticket (in already) for 2 s; a show past BOOKING_SHOW_PROMOTE_RATE commands/s
        # moves from its shared host to an actor of its own, as at a real door, before the rounds start.
        warm = lua(
            rig.tmp / "warm.lua", path, [probe.code] * args.threads, args.threads, gate, "already_admitted", False
        )
        print(f"warm-up: {run_wrk(rig.base_url, warm, 2, args.connections, args.threads)['counts']}", flush=True)
        time.sleep(1)
        load_before = os.getloadavg()[0]

        def measure(name: str, base: str, codes: list[str], answer: str, once: bool = False) -> dict[str, Any]:
            script = lua(rig.tmp / "scans.lua", path, codes, args.threads, gate, answer, once)
            print(f"  wrk {args.seconds}s x {args.connections} against {name} ({len(codes):,} codes) ...", flush=True)
            api, actors = cpu_seconds(rig.service.pid), show_cpu(gcs)
            result = run_wrk(base, script, args.seconds, args.connections, args.threads)
            if base == rig.base_url:  # CPU per scan sent: robust to a machine busy with other work
                sent = max(result["sent"], 1)
                result["api_ms"] = (cpu_seconds(rig.service.pid) - api) * 1000 / sent
                after = show_cpu(gcs)
                result["actor_ms"] = sum(cpu - actors.get(pid, 0.0) for pid, cpu in after.items()) * 1000 / sent
            rate = f"{result['rps']:.0f}/s for {result['seconds']:.1f} s"
            print(f"    {rate}, p50 {result['p50']} p99 {result['p99']} {result['counts']}", flush=True)
            runs.setdefault(name, []).append(result)
            return result

        for round_ in range(args.rounds):
            print(f"round {round_ + 1} of {args.rounds}", flush=True)
            share = pool[round_ * slice_size : (round_ + 1) * slice_size]
            fresh = [t.code for t in share]
            order = ("service", "bare") if round_ % 2 == 0 else ("bare", "service")
            for who in order:
                if who == "bare":
                    measure("first scans: bare", bare, fresh, "admitted")
                    continue
                first = measure("first scans: service", rig.base_url, fresh, "admitted", once=True)
                reached += first["reached"]
                time.sleep(1)  # the scans wrk sent as it stopped are answered
                if first["ran_out"]:
                    # A thread stopped when its tickets were spent, but wrk divides by the whole -d: the
                    # rate is the actor's, from the admissions' own times.
                    count, rate = admission_rate(rig.database_url, show_id, [t.booking_id for t in share])
                    first.update(wrk_rps=first["rps"], rps=rate)
                    print(f"    tickets ran out: {count:,} admitted at {rate:.0f}/s (PostgreSQL's admitted_at)")
            inside = [by_id[b] for b in sorted(admitted_ids(rig.database_url, show_id)) if b in by_id]
            for who in order:
                base = rig.base_url if who == "service" else bare
                measure(f"repeat scans: {who}", base, [t.code for t in inside], "already_admitted")
            if rotating:
                for who in order:
                    base = rig.base_url if who == "service" else bare
                    middle = datetime.now(UTC) + timedelta(seconds=args.seconds / 2)
                    codes = [rotating_code(t.token, t.secret, middle) for t in inside]
                    measure(f"rotating codes: {who}", base, codes, "already_admitted")
        time.sleep(1)
        check = door_check(rig.database_url, show_id)
        print(f"load average (1 min) before the runs {load_before:.1f}, after {os.getloadavg()[0]:.1f}")

    if not report(runs, check, reached):
        raise SystemExit(1)


def report(runs: dict[str, list[dict[str, Any]]], check: dict[str, int], reached: int) -> bool:
    """Print the table, the answers, CPU per scan and PostgreSQL's check; whether the check held."""
    medians = {name: median_run(results) for name, results in runs.items()}
    workloads = [w for w in ("first scans", "repeat scans", "rotating codes") if f"{w}: service" in medians]
    print(f"\n{'workload':16} {'service/s':>10} {'p50':>9} {'p99':>9} {'bare/s':>9} {'p50':>9} {'p99':>9} {'ratio':>6}")
    ratios = {}
    for w in workloads:
        s, b = medians[f"{w}: service"], medians[f"{w}: bare"]
        ratios[w] = s["rps"] / b["rps"]
        print(
            f"{w:16} {s['rps']:10.0f} {s['p50']:>9} {s['p99']:>9} {b['rps']:9.0f} {b['p50']:>9} {b['p99']:>9}"
            f" {ratios[w]:6.2f}"
        )
    print("\nper round (scans/s):")
    for name, results in runs.items():
        print(f"  {name:28} {[round(r['rps']) for r in results]}")
    print("\nCPU per scan sent (median of rounds): API process, show actor's host")
    for w in workloads:
        results = runs[f"{w}: service"]
        api = statistics.median(r["api_ms"] for r in results)
        actor = statistics.median(r["actor_ms"] for r in results)
        print(f"  {w:16} {api:6.2f} ms {actor:6.2f} ms")
    print("\nanswers the service gave (all rounds):")
    for name, results in runs.items():
        if name.endswith(": service"):
            total: dict[str, int] = {}
            for r in results:
                for k, v in r["counts"].items():
                    total[k] = total.get(k, 0) + v
            errors = {r["socket_errors"] for r in results if r["socket_errors"]}
            print(f"  {name:28} {total}" + (f" socket errors: {errors}" if errors else ""))
    admitted = check["bookings"] - 1  # the probe ticket, scanned during set-up
    print(
        f"\nPostgreSQL: {check['admissions']:,} admissions of {check['bookings']:,} bookings (incl. the probe);"
        f" bookings admitted more than once: {check['doubles']}"
    )
    print(f"tickets admitted by the first-scan runs {admitted:,}; distinct tickets those runs sent {reached:,}")
    ok = check["doubles"] == 0 and admitted == reached
    print("door check: " + ("OK" if ok else "FAILED"))
    print(json.dumps({"medians": medians, "ratios": ratios, "check": check, "reached": reached}))
    return ok


if __name__ == "__main__":
    main()
