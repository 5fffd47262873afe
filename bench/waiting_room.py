"""The waiting room under a crowd: joins/s and polls/s through HTTP, next to bare FastAPI routes answering
the same bytes, in one run; and the p99 of polls at half the service's peak, open loop.

    python -m bench.waiting_room [--rounds 3] [--seconds 4] [--connections 64] [--users 40000]

Joins: wrk sends ``POST /api/v1/shows/{id}/queue``, each request under another account's token (a join
is one write: the entry's insert), to a show whose sales open tomorrow (the pre-queue, where the crowd
joins) and to one on sale now (numbered at once by the room's counter). Polls: ``GET`` of one joined
account's entry (answered from the process's memory). The baseline returns the service's own entry JSON
from memory (``bench/bare_queue.py``). Rounds alternate service and baseline so every ratio compares them
on the same machine state; the medians are printed with the ratios, the targets being joins >= 0.5x
and polls >= 0.9x the baseline. Uses DATABASE_URL / REDIS_URL when set, else throwaway embedded ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.harness import ROOT, print_table, require_wrk, running_service, wrk
from settings import libpq_url

LUA_JOINS = """
local tokens = {%(tokens)s}
local counter = 0
local offset = 0
local threads = %(threads)d
local next_thread = 0
function setup(thread)
  thread:set("offset", next_thread)
  next_thread = next_thread + 1
end
function init(args)
  offset = tonumber(wrk.thread:get("offset"))
end
request = function()
  counter = counter + 1
  local i = ((counter - 1) * threads + offset) %% #tokens + 1
  return wrk.format("POST", "%(path)s", {["Authorization"] = "Bearer " .. tokens[i]}, "")
end
"""


def _joins_script(path: Path, url_path: str, tokens: list[str], threads: int) -> Path:
    path.write_text(LUA_JOINS % {"tokens": ",".join(f'"{t}"' for t in tokens), "threads": threads, "path": url_path})
    return path


def _poll_script(path: Path, url_path: str, token: str) -> Path:
    path.write_text(f'wrk.method = "GET"\nwrk.path = "{url_path}"\nwrk.headers["Authorization"] = "Bearer {token}"\n')
    return path


def open_loop_p99(base_url: str, url_path: str, token: str, rate: float, seconds: float, tmp: Path) -> dict[str, Any]:
    """Polls at a constant ``rate`` (bench.loadgen): p99 from the intended send time."""
    parsed = httpx.URL(base_url)
    host = f"{parsed.host}:{parsed.port}"
    request = f"GET {url_path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
    spec = {
        "host": parsed.host,
        "port": parsed.port,
        "rate": rate,
        "seconds": seconds,
        "connections": 64,
        "requests": [request],
    }
    spec_file, out_file = tmp / "open-spec.json", tmp / "open-out.json"
    spec_file.write_text(json.dumps(spec))
    subprocess.run([sys.executable, "-m", "bench.loadgen", str(spec_file), str(out_file)], cwd=ROOT, check=True)
    result = json.loads(out_file.read_text())
    latencies = sorted(result["latency_us"])
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1000 if latencies else float("nan")
    ok = sum(1 for s in result["status"] if s == 200)
    return {"rate": rate, "achieved": result["achieved_rate"], "p99_ms": p99, "ok": ok, "sent": len(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--users", type=int, default=60_000, help="accounts for the joins (one join each)")
    args = parser.parse_args()
    require_wrk()

    from harness.client import admin_headers, bulk_users, create_show

    with running_service("bench-queue", {"BOOKING_API_WORKERS": "1"}) as rig:
        print(f"making {args.users:,} accounts ...", flush=True)
        users = [token for _, token in bulk_users(rig.database_url, args.users)]
        rows = [{"row": r, "seats": 20, "category": "standard"} for r in "ABCDEFGHIJ"]
        with httpx.Client(base_url=rig.base_url, timeout=60) as client:
            admin_headers(client)
            later = create_show(
                client,
                rows=rows,
                sales_open_at=datetime.now(UTC) + timedelta(days=1),
                waiting_room=True,
                prices={"standard": 100.0},
            )
            now = create_show(client, rows=rows, waiting_room=True, prices={"standard": 100.0})
            poller = users.pop()
            payload = client.post(
                f"/api/v1/shows/{now.show_id}/queue", headers={"Authorization": f"Bearer {poller}"}
            ).content
        payload_file = rig.tmp / "entry.json"
        payload_file.write_bytes(payload)
        bare = rig.start_app("bench.bare_queue", {"BARE_QUEUE_FILE": str(payload_file)})
        poll_path = f"/api/v1/shows/{now.show_id}/queue"
        runs: dict[str, list[dict[str, Any]]] = {}
        # Every join run gets accounts of its own, so each request is a first join (a write), not a replay.
        per_run = len(users) // (2 * args.rounds)
        slices = iter(users[i * per_run : (i + 1) * per_run] for i in range(2 * args.rounds))
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_} of {args.rounds}", flush=True)
            plan = [
                ("joins: bare", bare, poll_path, None),
                ("joins: service, pre-queue", rig.base_url, f"/api/v1/shows/{later.show_id}/queue", "later"),
                ("joins: service, on sale", rig.base_url, poll_path, "now"),
                ("polls: bare", bare, poll_path, "poll"),
                ("polls: service", rig.base_url, poll_path, "poll"),
            ]
            for name, base, path, kind in plan:
                if kind == "poll":
                    script = _poll_script(rig.tmp / "poll.lua", path, poller)
                else:
                    share = next(slices) if kind else users[:per_run]
                    script = _joins_script(rig.tmp / "joins.lua", path, share, args.threads)
                print(f"  wrk {args.seconds}s x {args.connections} against {name} ...", flush=True)
                runs.setdefault(name, []).append(wrk(base, script, args.seconds, args.connections, args.threads))
        medians = {
            name: {
                **results[len(results) // 2],
                "rps": statistics.median(r["rps"] for r in results),
            }
            for name, results in runs.items()
        }
        peak = medians["polls: service"]["rps"]
        print(f"open loop: polls at half the service's peak ({peak / 2:.0f}/s) ...", flush=True)
        half = open_loop_p99(rig.base_url, poll_path, poller, peak / 2, max(args.seconds, 5), rig.tmp)
        half_bare = open_loop_p99(bare, poll_path, poller, peak / 2, max(args.seconds, 5), rig.tmp)
        with psycopg.connect(libpq_url(rig.database_url)) as conn:
            entries = conn.execute("SELECT count(*) FROM queue_entries").fetchone()
        joins_sent = sum(r["requests"] for n, rs in runs.items() if n.startswith("joins: service") for r in rs)

    print_table(medians, "req/s")
    bare_rps = medians["joins: bare"]["rps"]
    ratios = {
        "joins pre-queue / bare": medians["joins: service, pre-queue"]["rps"] / bare_rps,
        "joins on sale / bare": medians["joins: service, on sale"]["rps"] / bare_rps,
        "polls / bare": medians["polls: service"]["rps"] / medians["polls: bare"]["rps"],
    }
    per_round = {name: [round(r["rps"]) for r in results] for name, results in runs.items()}
    print()
    for name, ratio in ratios.items():
        print(f"{name:28} {ratio:.2f}")
    print(
        f"open loop, polls at {half['rate']:.0f}/s: p99 service {half['p99_ms']:.1f} ms,"
        f" bare {half_bare['p99_ms']:.1f} ms"
    )
    print(
        f"joins sent to the service {joins_sent:,}, entries made {entries[0] if entries else 0:,} (the rest: replays)"
    )
    print(json.dumps({"medians": medians, "per_round": per_round, "ratios": ratios, "open_loop": [half, half_bare]}))


if __name__ == "__main__":
    main()
