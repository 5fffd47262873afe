"""A stadium's seat-map reads through HTTP, next to bare FastAPI routes serving the same bytes, in one run.

    python -m bench.stadium_reads [--rounds 3] [--seconds 4] [--connections 64] [--holders 1500]

A 100,000-place stadium show (``harness.stadium``) gets ``--holders`` customers holding 1-6 places each,
best-available in random blocks and the standing zone, through the API (some thousands of places held).
Then wrk (a second process) reads, against the service and against ``bench/bare_venue.py`` serving the
service's own answers from memory, alternating in each round:

- ``GET /api/v1/shows/{id}/venue``: the overview (sections with counts and price ranges);
- ``GET /api/v1/shows/{id}/sections/{code}/seats``: one block's 1,000 seats (the block with most holds);
- ``GET /api/v1/shows/{id}/seats``: the contract's full map of 100,000 places, for comparison.

Reported: payload sizes, reads/s (medians over rounds) and service / bare per endpoint. Uses DATABASE_URL /
REDIS_URL when set, else throwaway embedded services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import Counter
from typing import Any

import httpx

from bench.harness import print_table, require_wrk, running_service, wrk
from harness.client import bearer, bulk_users
from harness.stadium import Stadium, create_stadium_show


async def hold_some(base_url: str, show_id: str, tokens: list[str], stadium: Stadium, seed: int) -> Counter[str]:
    """Each account holds 1-6 places (best-available in a random block, or standing); returns places
    held per section."""
    rng = random.Random(seed)
    codes = [*stadium.block_codes(), stadium.standing_code]
    held: Counter[str] = Counter()
    gate = asyncio.Semaphore(32)

    async def one(client: httpx.AsyncClient, token: str) -> None:
        code, count = rng.choice(codes), rng.randint(1, 6)
        async with gate:
            r = await client.post(
                f"/api/v1/shows/{show_id}/holds", json={"count": count, "section": code}, headers=bearer(token)
            )
        if r.status_code == 201:
            held[code] += len(r.json()["seats"])

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        await asyncio.gather(*(one(client, t) for t in tokens))
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--holders", type=int, default=1500)
    args = parser.parse_args()
    require_wrk()
    stadium = Stadium()
    with running_service("bench-stadium-reads") as rig:
        with httpx.Client(base_url=rig.base_url, timeout=300) as client:
            show = create_stadium_show(client, stadium)
            tokens = [t for _, t in bulk_users(rig.database_url, args.holders)]
            t0 = time.perf_counter()
            held = asyncio.run(hold_some(rig.base_url, show.show_id, tokens, stadium, 19))
            print(
                f"{sum(held.values()):,} places held by {args.holders:,} accounts in {time.perf_counter() - t0:.0f} s"
            )
            block = max((c for c in held if c != stadium.standing_code), key=lambda c: held[c])
            paths = {
                "venue": f"/api/v1/shows/{show.show_id}/venue",
                "section": f"/api/v1/shows/{show.show_id}/sections/{block}/seats",
                "seats": f"/api/v1/shows/{show.show_id}/seats",
            }
            time.sleep(3)  # past the renders' staleness, so the captured answers count every hold
            payloads = {name: client.get(path).content for name, path in paths.items()}
            for name, body in payloads.items():
                (rig.tmp / f"{name}.json").write_bytes(body)  # the service's own bytes
        bare = rig.start_app("bench.bare_venue", {"BARE_VENUE_DIR": str(rig.tmp)})
        runs: dict[str, list[dict[str, Any]]] = {}
        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds}", flush=True)
            for name, path in paths.items():
                script = rig.tmp / f"{name}.lua"
                script.write_text(f'wrk.method = "GET"\nwrk.path = "{path}"\n')
                targets = [("bare", bare), ("service", rig.base_url)]
                for label, url in targets if r % 2 == 0 else targets[::-1]:
                    print(f"  wrk {args.seconds}s x {args.connections} against {label} {name} ...", flush=True)
                    runs.setdefault(f"{name}: {label}", []).append(
                        wrk(url, script, args.seconds, args.connections, args.threads)
                    )
    medians = {
        name: {**results[len(results) // 2], "rps": statistics.median(x["rps"] for x in results)}
        for name, results in runs.items()
    }
    overview = json.loads(payloads["venue"])
    print(
        f"\nstadium show: {stadium.capacity:,} places, {sum(held.values()):,} held;"
        f" overview counts {overview.get('counts')}"
    )
    for name, body in payloads.items():
        print(f"  {name:<8} {len(body):>10,} bytes  {paths[name]}")
    print_table(medians, "reads/s")
    ratios = {name: medians[f"{name}: service"]["rps"] / medians[f"{name}: bare"]["rps"] for name in paths}
    print()
    for name, ratio in ratios.items():
        print(f"{name:<8} service / bare = {ratio:.2f}")
    per_round = {name: [round(x["rps"]) for x in results] for name, results in runs.items()}
    sizes = {name: len(body) for name, body in payloads.items()}
    print(json.dumps({"medians": medians, "per_round": per_round, "ratios": ratios, "bytes": sizes}))


if __name__ == "__main__":
    main()
