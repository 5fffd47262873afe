"""Cold activation vs pre-warming, side by side in one run: the first wave of buyers of a show.

    python -m bench.cold_start [--rounds 5] [--wave 20] [--opens-in 4]

Every round creates two shows on the same service and sends each the same first wave: ``--wave`` buyers
at once, each holding one seat of their own over the v1 API.

- **cold**: on sale at once (no ``sales_open_at``), so the show is not active until the wave's first
  request: the wave waits for it to activate, and for Ray to start a worker if none serves it yet (its
  host under the default hosted placement, its own actor under dedicated); ``routing/prewarm.py`` leaves such
  shows alone: it only looks at shows with a sales opening ahead.
- **pre-warmed**: its sales open ``--opens-in`` seconds after creation, within the pre-warm lead, so the
  service's pre-warmer starts its actor ahead; the wave arrives just after the opening.

The two waves of a round go one after the other, in alternating order over rounds. Reported per design:
the latency of the wave's slowest and median hold (the slowest is the one that paid the cold start, if
any), medians over rounds, and the ratio cold / pre-warmed. Uses DATABASE_URL / REDIS_URL when set, else
throwaway embedded services.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.harness import running_service
from harness.client import ShowFixture, admin_headers, bulk_users, create_show

LEAD_SECONDS = 60
INTERVAL_SECONDS = 0.5


async def wave(base_url: str, show: ShowFixture, tokens: list[str]) -> list[float]:
    """Every buyer holds one seat at once; returns each hold's latency in ms (all must be 201)."""

    async def one(client: httpx.AsyncClient, token: str, seat: str) -> float:
        started = time.perf_counter()
        r = await client.post(
            f"/api/v1/shows/{show.show_id}/holds",
            json={"seats": [seat]},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)},
        )
        elapsed = (time.perf_counter() - started) * 1000
        if r.status_code != 201:
            raise SystemExit(f"hold on {show.show_id} answered {r.status_code}: {r.text}")
        return elapsed

    limits = httpx.Limits(max_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        await client.get("/healthz")  # connections are not what is measured
        return list(await asyncio.gather(*(one(client, t, s) for t, s in zip(tokens, show.seats, strict=False))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--wave", type=int, default=20, help="buyers arriving at once at each show")
    parser.add_argument("--opens-in", type=float, default=4.0, help="seconds from creation to a show's opening")
    args = parser.parse_args()
    env = {
        "BOOKING_PREWARM_LEAD_SECONDS": str(LEAD_SECONDS),
        "BOOKING_PREWARM_INTERVAL_SECONDS": str(INTERVAL_SECONDS),
    }
    rows = [{"row": r, "seats": 20, "category": "standard"} for r in "ABCDE"]
    results: dict[str, list[tuple[float, float]]] = {"cold": [], "pre-warmed": []}  # (slowest, median) per round
    with running_service("bench-cold", env) as rig, httpx.Client(base_url=rig.base_url, timeout=60) as client:
        admin_headers(client)
        tokens = [t for _, t in bulk_users(rig.database_url, 2 * args.wave * args.rounds)]
        for r in range(args.rounds):
            opens_at = datetime.now(UTC) + timedelta(seconds=args.opens_in)
            shows = {
                "cold": create_show(client, rows=rows, prices={"standard": 100.0}),
                "pre-warmed": create_show(client, rows=rows, prices={"standard": 100.0}, sales_open_at=opens_at),
            }
            time.sleep(max(0.0, (opens_at - datetime.now(UTC)).total_seconds()) + 0.3)
            order = ["cold", "pre-warmed"] if r % 2 == 0 else ["pre-warmed", "cold"]
            line = []
            for i, label in enumerate(order):
                buyers = tokens[(2 * r + i) * args.wave : (2 * r + i + 1) * args.wave]
                latencies = asyncio.run(wave(rig.base_url, shows[label], buyers))
                results[label].append((max(latencies), statistics.median(latencies)))
                line.append(f"{label} slowest {max(latencies):.0f} ms")
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(line), flush=True)
    print_results(results, args)


def print_results(results: dict[str, list[tuple[float, float]]], args: Any) -> None:
    def med(label: str, k: int) -> float:
        return statistics.median(v[k] for v in results[label])

    print(f"\nfirst wave of {args.wave} buyers per show, medians of {args.rounds} rounds (ms)")
    print(f"{'design':<12} {'slowest hold':>13} {'median hold':>12}   slowest per round")
    for label, values in results.items():
        rounds = " ".join(f"{slowest:.0f}" for slowest, _ in values)
        print(f"{label:<12} {med(label, 0):>13.0f} {med(label, 1):>12.0f}   {rounds}")
    print(
        f"cold / pre-warmed: slowest {med('cold', 0) / med('pre-warmed', 0):.1f}x, "
        f"median {med('cold', 1) / med('pre-warmed', 1):.1f}x"
    )


if __name__ == "__main__":
    main()
