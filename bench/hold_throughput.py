"""Hold throughput on one hot show through HTTP, next to a bare FastAPI endpoint, in one run.

    python -m bench.hold_throughput [--seconds 4] [--connections 64] [--workers 2 ...]

Load comes from wrk (a second process; `apt-get install wrk`). Every request holds one new seat of one
show (6,000 seats), so nothing is refused; the run checks afterwards that no seat was sold twice. Also
reports the cold activation time of a show and the memory of the process running it (its own actor, or
its host under the default hosted placement: ``harness.placement``). Uses DATABASE_URL / REDIS_URL when set,
else throwaway embedded services. BENCH_PROFILE=file records the service with py-spy during its run.
``--workers N`` adds, in the same run, the service with N API processes (``BOOKING_API_WORKERS``, each its
own show) and the bare endpoint with N uvicorn workers, so ratios compare like with like; ``--variant
NAME=VAR=VALUE`` adds the service with one setting changed (an A/B in one run, on its own show).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import string
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from bench.harness import print_table, require_wrk, running_service, wrk
from harness.client import SeedShow, admin_headers, bulk_users, create_show, seed_hold
from harness.placement import ShowPlacement
from settings import libpq_url

ROWS = list(string.ascii_uppercase) + ["A" + a for a in string.ascii_uppercase] + ["B" + a for a in "ABCDEFGH"]
SEATS_PER_ROW = 100
USERS = 100

LUA = """
local seats = {%(seats)s}
local tokens = {%(tokens)s}
local movie, theater, show = "%(movie)s", "%(theater)s", "%(show)s"
local threads_total = %(threads)d
local counter = 0
local id = 0
function setup(thread) thread:set("id", (function() _G.n = (_G.n or -1) + 1; return _G.n end)()) end
function init(args) id = tonumber(wrk.thread:get("id") or "0") end
request = function()
  local i = id + counter * threads_total + 1
  counter = counter + 1
  if i > #seats then i = #seats end
  local body = string.format('{"movie_id":"%%s","theater_id":"%%s","event_id":"%%s","selected_seat":["%%s"]}',
    movie, theater, show, seats[i])
  return wrk.format("POST", "/HoldSeat/api/v0/" .. movie,
    {["Content-Type"] = "application/json", ["AuthorizationToken"] = tokens[(i %% #tokens) + 1]}, body)
end
"""


def hold(client: httpx.Client, show: SeedShow, token: str, seat: str) -> httpx.Response:
    return seed_hold(client, show, token, [seat])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="rounds; designs alternate within each")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, nargs="*", default=[], help="also measure the service (and bare) with N API processes"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=VAR=VALUE",
        help="also measure the service with one setting changed, e.g. logs=BOOKING_RAY_LOG_TO_DRIVER=true",
    )
    args = parser.parse_args()
    require_wrk()

    with running_service("bench-holds", {"BOOKING_MAX_SEATS_PER_USER": "1000"}) as rig:
        placement = ShowPlacement.from_env(rig.env, rig.namespace)
        bare_base = rig.start_app("bench.bare_app")
        rows = [{"row": r, "seats": SEATS_PER_ROW, "category": "standard"} for r in ROWS]
        with httpx.Client(base_url=rig.base_url, timeout=60) as client:
            admin_headers(client)
            variants = {v.split("=", 1)[0]: v.split("=", 1)[1].split("=", 1) for v in args.variant}
            # Every service design gets a fresh 6,000-seat show in every round.
            labels = ["service", *(f"workers-{n}" for n in args.workers), *variants]
            shows = {
                (label, r): create_show(client, rows=rows, prices={"standard": 250.0})
                for label in labels
                for r in range(args.rounds)
            }
            show = shows["service", 0]
            cold_show = create_show(client, prices={"standard": 250.0, "premium": 400.0})
            tokens = [t for _, t in bulk_users(rig.database_url, USERS)]
            # Cold activation: the first request to a show without a live actor.
            started = time.perf_counter()
            first = hold(client, cold_show, tokens[0], "A1")
            cold_ms = (time.perf_counter() - started) * 1000
            assert first.status_code == 200, first.text
            warm = []
            for seat in ["A2", "A3", "A4", "A5", "A6"]:
                started = time.perf_counter()
                hold(client, cold_show, tokens[1], seat)
                warm.append((time.perf_counter() - started) * 1000)
        info = placement.ping(cold_show.show_id, timeout=60)
        memory = psutil.Process(info["pid"]).memory_full_info()

        def script(name: str, seats: list[str], target: Any = show) -> Path:
            path = rig.tmp / f"{name}.lua"
            path.write_text(
                LUA
                % {
                    "seats": ",".join(f'"{s}"' for s in seats),
                    "tokens": ",".join(f'"{t}"' for t in tokens),
                    "movie": target.movie_id,
                    "theater": target.theater_id,
                    "show": target.show_id,
                    "threads": args.threads,
                }
            )
            return path

        show_seats = [f"{r}{n}" for r in ROWS for n in range(1, SEATS_PER_ROW + 1)]

        # The bare endpoint is not bound to a screen: give it seats enough for its much higher rate.
        # Fresh seats every round too (the dict keeps its owners): rows "AAQ".."ZDQ" in round 1, "..R" next.
        def bare_seats(r: int) -> list[str]:
            last = "QRSTUVWXYZ"[r % 10]
            return [f"{a}{b}{last}{n}" for a in string.ascii_uppercase for b in "ABCD" for n in range(1, 1000)]

        # (name, URL, label of its shows, or None for a bare endpoint)
        designs: list[tuple[str, str, str | None]] = [
            ("bare FastAPI dict", bare_base, None),
            ("service (actor + PostgreSQL)", rig.base_url, "service"),
        ]
        for n in args.workers:
            designs.append((f"bare FastAPI dict, {n} processes", rig.start_app("bench.bare_app", workers=n), None))
            url = rig.start_service({"BOOKING_API_WORKERS": str(n)}, f"workers-{n}")
            designs.append((f"service, {n} API processes", url, f"workers-{n}"))
        for label, (var, value) in variants.items():
            url = rig.start_service({var: value}, label)
            designs.append((f"service, {var}={value}", url, label))
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in designs}
        for r in range(args.rounds):
            # Designs alternate round by round, so a burst of load from elsewhere on a shared machine
            # lands on one round of each, not on all of one design.
            for name, url, label in designs:
                if label is None:
                    lua = script(f"bare-{r}-{len(name)}", bare_seats(r))
                else:
                    target = shows[label, r]
                    lua = script(f"{label}-{r}", show_seats, target)
                    with httpx.Client(base_url=url, timeout=60) as client:  # activate its actor first
                        assert hold(client, target, tokens[0], show_seats[-1]).status_code == 200
                print(
                    f"round {r + 1}/{args.rounds}: wrk {args.seconds}s x {args.connections} connections "
                    f"against {name} ...",
                    flush=True,
                )
                profiler = None
                if os.environ.get("BENCH_PROFILE") and url == rig.base_url and r == 0:
                    profiler = subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "-d",
                            str(args.seconds),
                            "-p",
                            str(rig.service.pid),
                            "--format",
                            "raw",
                            "--nonblocking",
                            "--rate",
                            "250",
                            "-o",
                            os.environ["BENCH_PROFILE"],
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                rounds[name].append(wrk(url, lua, args.seconds, args.connections, args.threads))
                if profiler is not None:
                    profiler.wait(30)
        # Each design's median round; ratios are taken round by round, then their median.
        results = {name: sorted(rs, key=lambda x: x["rps"])[len(rs) // 2] for name, rs in rounds.items()}

        def ratio_of(a: str, b: str) -> float:
            return float(statistics.median(x["rps"] / y["rps"] for x, y in zip(rounds[a], rounds[b], strict=True)))

        hot = placement.ping(show.show_id, timeout=60)
        with psycopg.connect(libpq_url(rig.database_url)) as conn:
            # Every show of the run (the extra ones of --workers too): no seat held twice.
            double = conn.execute(
                "SELECT count(*) FROM (SELECT show_id, seat_id FROM seat_ledger WHERE event = 'held' "
                "GROUP BY show_id, seat_id HAVING count(*) > 1) d"
            ).fetchone()
            held = conn.execute("SELECT count(*) FROM seat_claims WHERE show_id = %s", (show.show_id,)).fetchone()

    print_table(results, "holds/s")
    ratio = ratio_of("service (actor + PostgreSQL)", "bare FastAPI dict")
    print(f"\nservice / bare = {ratio:.2f} (median of {args.rounds} rounds' ratios)")
    for name in rounds:
        print(f"  {name}: holds/s by round {[round(x['rps']) for x in rounds[name]]}")
    for n in args.workers:
        service_n = f"service, {n} API processes"
        print(
            f"{n} API processes: service / bare (1 process) = {ratio_of(service_n, 'bare FastAPI dict'):.2f}, "
            f"service / bare ({n} processes) = {ratio_of(service_n, f'bare FastAPI dict, {n} processes'):.2f}, "
            f"vs the service with 1 process = {ratio_of(service_n, 'service (actor + PostgreSQL)'):.2f}"
        )
    for var, value in variants.values():
        variant = f"service, {var}={value}"
        print(f"{var}={value}: vs the service = {ratio_of(variant, 'service (actor + PostgreSQL)'):.2f}")
    print(
        f"seats held in PostgreSQL after the run: {held[0] if held else '?'}; "
        f"seats held twice: {double[0] if double else '?'}"
    )
    print(
        f"hot show actor: {hot['commands']} commands in {hot['batches']} batches "
        f"({hot['commands'] / max(hot['batches'], 1):.1f} per batch); seconds in core {hot['execute_seconds']:.2f}, "
        f"commit {hot['commit_seconds']:.2f}, snapshots {hot['snapshot_seconds']:.2f}"
    )
    print(
        f"show actor: cold first hold {cold_ms:.0f} ms (its own activation {info['activation_seconds'] * 1000:.0f} ms),"
        f" warm hold median {statistics.median(warm):.1f} ms; process running it"
        f" ({placement.actor_name(cold_show.show_id)}, {placement.placement} placement) RSS"
        f" {memory.rss / 2**20:.0f} MiB, USS {memory.uss / 2**20:.0f} MiB"
    )
    print(
        json.dumps(
            {"results": results, "cold_ms": cold_ms, "rss_mib": memory.rss / 2**20, "uss_mib": memory.uss / 2**20}
        )
    )


if __name__ == "__main__":
    main()
