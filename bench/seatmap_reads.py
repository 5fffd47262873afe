"""Seat-map read throughput through HTTP, next to a bare FastAPI endpoint serving the same payload.

    python -m bench.seatmap_reads [--seconds 4] [--connections 64]

Load comes from wrk (a second process). The service answers from the seat map its show actor published
to Redis (it never asks the actor); the baseline returns the identical JSON from memory. Uses
DATABASE_URL / REDIS_URL when set, else throwaway embedded services.
"""

from __future__ import annotations

import argparse
import json

import httpx

from bench.harness import print_table, require_wrk, running_service, wrk
from harness.client import admin_headers, bulk_users, create_show, seed_hold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    require_wrk()

    with running_service("bench-reads") as rig:
        # A realistic 300-seat screen, 120 seats held.
        rows = [{"row": r, "seats": 20, "category": "standard"} for r in "ABCDEFGHIJKLMNO"]
        with httpx.Client(base_url=rig.base_url, timeout=60) as client:
            admin_headers(client)
            show = create_show(client, rows=rows, prices={"standard": 250.0})
            for index, (_, token) in enumerate(bulk_users(rig.database_url, 60)):
                seed_hold(client, show, token, show.seats[2 * index : 2 * index + 2])
            payload = client.get(f"/api/v1/shows/{show.show_id}/seats").content
        payload_file = rig.tmp / "payload.json"
        payload_file.write_bytes(payload)  # the service's own bytes
        bare_base = rig.start_app("bench.bare_seatmap", {"BARE_SEATMAP_FILE": str(payload_file)})
        script = rig.tmp / "reads.lua"
        script.write_text(f'wrk.method = "GET"\nwrk.path = "/api/v1/shows/{show.show_id}/seats"\n')
        results = {}
        for name, url in (("bare FastAPI, same payload", bare_base), ("service (Redis snapshot)", rig.base_url)):
            print(f"wrk {args.seconds}s x {args.connections} connections against {name} ...", flush=True)
            results[name] = wrk(url, script, args.seconds, args.connections, args.threads)

    answer = json.loads(payload)
    print(f"\npayload: {len(payload)} bytes, {len(answer['seats'])} seats, source {answer['source']}")
    print_table(results, "reads/s")
    ratio = results["service (Redis snapshot)"]["rps"] / results["bare FastAPI, same payload"]["rps"]
    print(f"\nservice / bare = {ratio:.2f}")
    print(json.dumps({"results": results, "ratio": ratio}))


if __name__ == "__main__":
    main()
