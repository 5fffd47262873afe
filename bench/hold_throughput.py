"""Hold throughput on one hot show through HTTP, next to a bare FastAPI endpoint, in one run.

    python -m bench.hold_throughput [--seconds 5] [--connections 64]

Load comes from wrk (a second process; `apt-get install wrk`). Every request holds one new seat of one
show (6,000 seats), so nothing is refused; the run checks afterwards that no seat was sold twice. Also
reports the cold activation time of a show actor and its memory. Uses DATABASE_URL / REDIS_URL when set,
else throwaway embedded services.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import psycopg
import ray

from settings import libpq_url

ROOT = Path(__file__).resolve().parent.parent
ROWS = [a for a in string.ascii_uppercase] + ["A" + a for a in string.ascii_uppercase] + ["B" + a for a in "ABCDEFGH"]
SEATS_PER_ROW = 100
USERS = 100

LUA = """
local seats = {%(seats)s}
local tokens = {%(tokens)s}
local movie, theater, show = "%(movie)s", "%(theater)s", "%(show)s"
local threads_total = %(threads)d
local counter = 0
local id = 0
function setup(thread) thread:set("id", %(next_id)s) end
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code in (200, 404, 405):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not healthy in {timeout}s")


def wrk(base_url: str, script: Path, seconds: int, connections: int, threads: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            base_url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    return {
        "requests": requests,
        "ok": requests - (int(non2xx.group(1)) if non2xx else 0),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": lat.get("50", "?"),
        "p99": lat.get("99", "?"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    from cluster.embedded import EmbeddedPostgres, EmbeddedRedis
    from persistence import migrate
    from tests.api_client import admin_headers, bulk_users, create_show

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    stops = []
    database_url = os.environ.get("DATABASE_URL")
    if database_url:
        name = f"bench_{os.getpid()}"
        with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database_url = libpq_url(database_url).rsplit("/", 1)[0] + "/" + name
    else:
        pg = EmbeddedPostgres(tmp / "pg")
        database_url = pg.start()
        stops.append(pg.stop)
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        rd = EmbeddedRedis(tmp / "redis")
        redis_url = rd.start()
        stops.append(rd.stop)
    migrate.upgrade(database_url)
    ray.init(num_cpus=2, include_dashboard=False, namespace="bench", logging_level=logging.ERROR)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RAY_ADDRESS": ray.get_runtime_context().gcs_address,
            "BOOKING_RAY_NAMESPACE": "bench",
            "BOOKING_RATE_LIMIT_PER_MINUTE": "0",
            "BOOKING_SEED_DEMO_CATALOG": "false",
            "BOOKING_MAX_SEATS_PER_USER": "1000",
            "BOOKING_ADMIN_EMAIL": "admin@example.com",
            "BOOKING_ADMIN_PASSWORD": "admin-password-123",
        }
        service = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stdout=(tmp / "service.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        procs.append(service)
        print(f"service log: {tmp / 'service.log'}", flush=True)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base + "/healthz", service)
        bare_port = free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--port",
                str(bare_port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(bare)
        bare_base = f"http://127.0.0.1:{bare_port}"
        wait_healthy(bare_base + "/docs", bare)

        rows = [{"row": r, "seats": SEATS_PER_ROW, "category": "standard"} for r in ROWS]
        with httpx.Client(base_url=base, timeout=60) as client:
            admin_headers(client)
            show = create_show(client, rows=rows, prices={"standard": 250.0})
            cold_show = create_show(client, prices={"standard": 250.0, "premium": 400.0})
        tokens = [t for _, t in bulk_users(database_url, USERS)]

        # Cold activation: first request to a show without a live actor.
        with httpx.Client(base_url=base, timeout=60) as client:
            started = time.perf_counter()
            r = client.post(
                f"/HoldSeat/api/v0/{cold_show.movie_id}",
                headers={"AuthorizationToken": tokens[0]},
                json={
                    "movie_id": cold_show.movie_id,
                    "theater_id": cold_show.theater_id,
                    "event_id": cold_show.show_id,
                    "selected_seat": ["A1"],
                },
            )
            cold_ms = (time.perf_counter() - started) * 1000
            assert r.status_code == 200, r.text
            warm = []
            for seat in ["A2", "A3", "A4", "A5", "A6"]:
                started = time.perf_counter()
                client.post(
                    f"/HoldSeat/api/v0/{cold_show.movie_id}",
                    headers={"AuthorizationToken": tokens[1]},
                    json={
                        "movie_id": cold_show.movie_id,
                        "theater_id": cold_show.theater_id,
                        "event_id": cold_show.show_id,
                        "selected_seat": [seat],
                    },
                )
                warm.append((time.perf_counter() - started) * 1000)
        actor = ray.get_actor(f"show:{cold_show.show_id}", namespace="bench")
        info = cast("dict[str, Any]", ray.get(actor.ping.remote()))
        mem = psutil.Process(info["pid"]).memory_full_info()

        show_seats = [f"{r}{n}" for r in ROWS for n in range(1, SEATS_PER_ROW + 1)]
        # The bare endpoint is not bound to a screen: give it seats enough for its much higher rate.
        bare_seats = [f"{r}{n}" for r in ROWS for n in range(1, 1000)]

        def script(name: str, seats: list[str]) -> Path:
            path = tmp / f"{name}.lua"
            path.write_text(
                LUA
                % {
                    "seats": ",".join(f'"{s}"' for s in seats),
                    "tokens": ",".join(f'"{t}"' for t in tokens),
                    "movie": show.movie_id,
                    "theater": show.theater_id,
                    "show": show.show_id,
                    "threads": args.threads,
                    "next_id": "(function() _G.n = (_G.n or -1) + 1; return _G.n end)()",
                }
            )
            return path

        results = {}
        targets = (
            ("bare FastAPI dict", bare_base, script("bare", bare_seats)),
            ("service (actor + PostgreSQL)", base, script("service", show_seats)),
        )
        for name, url, lua in targets:
            print(f"wrk {args.seconds}s x {args.connections} connections against {name} ...", flush=True)
            profiler = None
            if os.environ.get("BENCH_PROFILE") and url == base:
                profiler = subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "-d",
                        str(args.seconds),
                        "-p",
                        str(service.pid),
                        "--format",
                        "raw",
                        "-o",
                        os.environ["BENCH_PROFILE"],
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            results[name] = wrk(url, lua, args.seconds, args.connections, args.threads)
            if profiler is not None:
                profiler.wait(30)
        hot = ray.get(ray.get_actor(f"show:{show.show_id}", namespace="bench").ping.remote())
        print(
            f"hot show actor: {hot['commands']} commands in {hot['batches']} batches "
            f"({hot['commands'] / max(hot['batches'], 1):.1f} per batch), {hot['commits']} commits; "
            f"seconds in core {hot['execute_seconds']:.2f}, commit {hot['commit_seconds']:.2f}, "
            f"snapshots {hot['snapshot_seconds']:.2f}"
        )
        if os.environ.get("BENCH_PAUSE"):
            input(f"paused; service pid {service.pid}, actor pid {hot['pid']}; press enter")
        with psycopg.connect(libpq_url(database_url)) as conn:
            double = conn.execute(
                "SELECT count(*) FROM (SELECT seat_id FROM seat_ledger WHERE show_id = %s AND event = 'held' "
                "GROUP BY seat_id HAVING count(*) > 1) d",
                (show.show_id,),
            ).fetchone()
            held = conn.execute("SELECT count(*) FROM seat_claims WHERE show_id = %s", (show.show_id,)).fetchone()

        print()
        print(f"{'design':32} {'holds/s':>9} {'ok':>7} {'requests':>9} {'p50':>9} {'p99':>9}")
        for name, r in results.items():
            print(f"{name:32} {r['rps']:9.0f} {r['ok']:7d} {r['requests']:9d} {r['p50']:>9} {r['p99']:>9}")
        ratio = results["service (actor + PostgreSQL)"]["rps"] / results["bare FastAPI dict"]["rps"]
        print(f"\nservice / bare = {ratio:.2f}")
        print(
            f"seats held in PostgreSQL after the run: {held[0] if held else '?'}; "
            f"seats held twice: {double[0] if double else '?'}"
        )
        print(
            f"show actor: cold first hold {cold_ms:.0f} ms "
            f"(actor's own activation {info['activation_seconds'] * 1000:.0f} ms), "
            f"warm hold median {statistics.median(warm):.1f} ms; "
            f"actor process RSS {mem.rss / 2**20:.0f} MiB, USS {mem.uss / 2**20:.0f} MiB"
        )
        print(
            json.dumps(
                {
                    "results": results,
                    "cold_ms": cold_ms,
                    "rss_mib": mem.rss / 2**20,
                    "uss_mib": mem.uss / 2**20,
                }
            )
        )
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        ray.shutdown()
        for stop in stops:
            stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
