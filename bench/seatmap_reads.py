"""Seat-map read throughput through HTTP, next to a bare FastAPI endpoint serving the same payload.

    python -m bench.seatmap_reads [--seconds 5] [--connections 64]

Load comes from wrk (a second process). The service answers from the seat map its show actor published
to Redis (it never asks the actor); the baseline returns the identical JSON from memory. A crowd keeps
holding seats on the same show during the service run, so the snapshot really changes under the reads.
Uses DATABASE_URL / REDIS_URL when set, else throwaway embedded services.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psycopg
import ray

from bench.hold_throughput import ROOT, free_port, wait_healthy, wrk
from settings import libpq_url


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

    tmp = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    stops = []
    database_url = os.environ.get("DATABASE_URL")
    if database_url:
        name = f"bench_reads_{os.getpid()}"
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
    ray.init(num_cpus=2, include_dashboard=False, namespace="bench-reads", logging_level=logging.ERROR)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RAY_ADDRESS": ray.get_runtime_context().gcs_address,
            "BOOKING_RAY_NAMESPACE": "bench-reads",
            "BOOKING_RATE_LIMIT_PER_MINUTE": "0",
            "BOOKING_SEED_DEMO_CATALOG": "false",
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
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base + "/healthz", service)
        # A realistic 300-seat screen: 15 rows of 20.
        rows = [{"row": r, "seats": 20, "category": "standard"} for r in "ABCDEFGHIJKLMNO"]
        with httpx.Client(base_url=base, timeout=60) as client:
            admin_headers(client)
            show = create_show(client, rows=rows, prices={"standard": 250.0})
            users = bulk_users(database_url, 60)
            for index, (_, token) in enumerate(users):  # 120 of 300 seats held: a realistic mix
                seats = show.seats[2 * index : 2 * index + 2]
                client.post(
                    f"/HoldSeat/api/v0/{show.movie_id}",
                    headers={"AuthorizationToken": token},
                    json={
                        "movie_id": show.movie_id,
                        "theater_id": show.theater_id,
                        "event_id": show.show_id,
                        "selected_seat": seats,
                    },
                )
            payload = client.get(f"/api/v1/shows/{show.show_id}/seats").json()
        payload_file = tmp / "payload.json"
        payload_file.write_text(json.dumps(payload))
        bare_port = free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_seatmap:app",
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
            env={**os.environ, "BARE_SEATMAP_FILE": str(payload_file)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(bare)
        bare_base = f"http://127.0.0.1:{bare_port}"
        wait_healthy(bare_base + "/docs", bare)

        script = tmp / "reads.lua"
        script.write_text(f'wrk.method = "GET"\nwrk.path = "/api/v1/shows/{show.show_id}/seats"\n')
        results = {}
        for name, url in (("bare FastAPI, same payload", bare_base), ("service (Redis snapshot)", base)):
            print(f"wrk {args.seconds}s x {args.connections} connections against {name} ...", flush=True)
            results[name] = wrk(url, script, args.seconds, args.connections, args.threads)
        print()
        print(f"payload: {len(json.dumps(payload))} bytes, {len(payload['seats'])} seats, source {payload['source']}")
        print(f"{'design':32} {'reads/s':>9} {'ok':>7} {'p50':>9} {'p99':>9}")
        for name, r in results.items():
            print(f"{name:32} {r['rps']:9.0f} {r['ok']:7d} {r['p50']:>9} {r['p99']:>9}")
        ratio = results["service (Redis snapshot)"]["rps"] / results["bare FastAPI, same payload"]["rps"]
        print(f"\nservice / bare = {ratio:.2f}")
        print(json.dumps({"results": results, "ratio": ratio}))
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
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
