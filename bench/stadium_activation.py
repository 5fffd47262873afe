"""Activation time and memory of a stadium show next to a 6,000-seat show, through the real service, in one run.

    python -m bench.stadium_activation [--rounds 3]

Every round creates, through the admin API, a 6,000-seat cinema show (60 rows x 100) and a 100,000-place
stadium show (``harness.stadium``), and activates each by its first hold (``POST …/holds``, one seat), in
alternating order. Reported per show kind, medians over rounds:

- the first hold's latency (activation included) and a second hold's (warm);
- ``activation_seconds``, which the show's host reports on ``ping`` (the journal's load from PostgreSQL and
  ``SeatMap.restore``: actors/show_entity.py);
- the journal's load alone (``persistence.show_store.ShowStore.activate`` called from here, before the
  first hold: it takes an epoch, which the actor's activation then supersedes);
- the host process's USS before and after the activation (psutil): the show's resident cost.

Uses DATABASE_URL / REDIS_URL when set, else throwaway embedded services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import string
import time
from typing import Any

import httpx
import psutil
import ray

from bench.harness import running_service
from harness.client import ShowFixture, admin_headers, bearer, bulk_users, create_show
from harness.placement import ShowPlacement
from harness.stadium import Stadium, create_stadium_show

ROWS = [*string.ascii_uppercase, *("A" + a for a in string.ascii_uppercase), *("B" + a for a in "ABCDEFGH")]


def journal_load(database_url: str, show_id: str) -> float:
    from persistence.show_store import ShowStore

    async def load() -> float:
        store = ShowStore(database_url, 60)
        try:
            t0 = time.perf_counter()
            await store.activate(show_id)
            return time.perf_counter() - t0
        finally:
            await store.close()

    return asyncio.run(load())


def first_holds(client: httpx.Client, show: ShowFixture, token: str, seats: list[str]) -> tuple[float, float]:
    """Latency of the first hold (activates the show) and of the next one, in seconds."""
    out = []
    for seat in seats:
        t0 = time.perf_counter()
        r = client.post(
            f"/api/v1/shows/{show.show_id}/holds",
            json={"seats": [seat]},
            headers=bearer(token) | {"Idempotency-Key": secrets.token_hex(8)},
        )
        out.append(time.perf_counter() - t0)
        assert r.status_code == 201, r.text
    return out[0], out[1]


def median(values: list[float]) -> float:
    """The median of the values that were measured (NaN: the show's host changed under the measurement)."""
    measured = [v for v in values if v == v]
    return statistics.median(measured) if measured else float("nan")


def uss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_full_info().uss) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = ("cinema 6,000", "stadium 100,000")
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    with running_service("bench-stadium-act") as rig, httpx.Client(base_url=rig.base_url, timeout=300) as client:
        placement = ShowPlacement.from_env(rig.env, rig.namespace)
        admin_headers(client)
        tokens = [t for _, t in bulk_users(rig.database_url, 4 * args.rounds + 1)]
        # Warm-up shows start every host process, so no round pays for Ray starting a worker.
        warmed: set[str] = set()
        for _ in range(20):
            if len(warmed) >= placement.hosts:
                break
            warm = create_show(client, prices={"standard": 100.0, "premium": 150.0})
            first_holds(client, warm, tokens[0], ["A1", "A2"])
            warmed.add(placement.actor_name(warm.show_id))
        for r in range(args.rounds):
            t0 = time.perf_counter()
            shows = {
                kinds[0]: create_show(
                    client, rows=[{"row": row, "seats": 100, "category": "standard"} for row in ROWS],
                    prices={"standard": 100.0},
                ),
                kinds[1]: create_stadium_show(client, Stadium()),
            }  # fmt: skip
            made = time.perf_counter() - t0
            order = kinds if r % 2 == 0 else kinds[::-1]
            line = []
            for kind in order:
                show = shows[kind]
                load = journal_load(rig.database_url, show.show_id)
                host = ray.get(placement.actor(show.show_id).stats.remote(), timeout=60)["pid"]
                before = uss_mib(host)
                first, second = first_holds(client, show, tokens.pop(), show.seats[:2])
                info = placement.ping(show.show_id, timeout=60)
                after = uss_mib(info["pid"])
                rows[kind].append(
                    {
                        "first_hold_s": first,
                        "warm_hold_s": second,
                        "activation_s": info["activation_seconds"],
                        "journal_load_s": load,
                        "uss_delta_mib": after - before if info["pid"] == host else float("nan"),
                        "places": len(show.seats),
                    }
                )
                line.append(f"{kind}: first hold {first * 1000:.0f} ms, activation {info['activation_seconds']:.2f} s")
            print(f"round {r + 1}/{args.rounds} (both shows made in {made:.1f} s): " + "; ".join(line), flush=True)

    medians = {kind: {key: median([v[key] for v in values]) for key in values[0]} for kind, values in rows.items()}
    print(f"\nactivation through the service, medians of {args.rounds} rounds")
    print(f"{'show':<17} {'first hold':>11} {'warm hold':>10} {'activation':>11} {'journal load':>13} {'USS +':>8}")
    for kind, m in medians.items():
        print(
            f"{kind:<17} {m['first_hold_s'] * 1000:>8.0f} ms {m['warm_hold_s'] * 1000:>7.0f} ms"
            f" {m['activation_s'] * 1000:>8.0f} ms {m['journal_load_s'] * 1000:>10.0f} ms"
            f" {m['uss_delta_mib']:>5.1f} MiB"
        )
    s, c = medians[kinds[1]], medians[kinds[0]]
    ratios: dict[str, Any] = {
        "first_hold": s["first_hold_s"] / c["first_hold_s"],
        "activation": s["activation_s"] / c["activation_s"],
        "uss": s["uss_delta_mib"] / c["uss_delta_mib"] if c["uss_delta_mib"] > 0 else None,
        "places": s["places"] / c["places"],
    }
    print(
        f"stadium / cinema: activation {ratios['activation']:.1f}x, first hold {ratios['first_hold']:.1f}x"
        f" for {ratios['places']:.1f}x the places; USS per place"
        f" {s['uss_delta_mib'] * 2**20 / s['places']:.0f} B (stadium), {c['uss_delta_mib'] * 2**20 / c['places']:.0f} B"
        " (cinema)"
    )
    print(json.dumps({"rounds": rows, "medians": medians, "ratios": ratios}))


if __name__ == "__main__":
    main()
