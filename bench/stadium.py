"""Best-available and memory on a 100,000-place stadium, measured on the pure core (no Ray, no database).

    python -m bench.stadium [--uncached-every 20] [--seed 19] [--skip-memory]

The venue is ``harness.stadium``'s: 80 blocks of 25 rows x 40 seats (lower tier ``premium``, upper
``standard``) and a standing zone ``FLA`` of 20,000 places.

1. **Best-available, empty to sell-out.** Distinct customers call ``SeatMap.hold_best`` for 1-6 seats of a
   random category until both are sold out (a refused size is retried one seat smaller; a refused single
   seat marks the category sold out). Every ``--uncached-every``-th call runs with an empty per-row cache
   (``_row_best`` set aside, then put back less the row the call changed, so the cached calls after it pay
   only for their own rows): the cached and the uncached path run interleaved on the same venue at the
   same fill levels; p50/p99/max per call of each, refusals apart, and the ratio. Then the standing zone:
   holds of 1-6 places until it is full. The whole sell-out runs twice: with the garbage collector as it
   is, and with everything alive after the build frozen (``gc.freeze``); full collections are timed.
2. **Memory and restore time.** ``tracemalloc`` of a seat map restored (``SeatMap.restore``, as an actor's
   activation does) empty, with half its places held and with all of them booked, for the stadium and a
   6,000-seat cinema screen: MiB, bytes per place, and the restore's wall time (untraced).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from actors.errors import NoAdjacentSeats, NotEnoughPlaces
from actors.seat_map_core import Booking, Hold, SeatMap, SeatSpec, SeatStatus, ShowRules
from harness.stadium import Stadium, row_label, seat_specs

NOW = datetime(2030, 1, 1, 18, 0, tzinfo=UTC)
CATEGORIES = ("premium", "standard")


def rules() -> ShowRules:
    return ShowRules(
        show_id="bench", starts_at=NOW + timedelta(days=1), hold_ttl=timedelta(minutes=10), max_seats_per_user=10
    )


def new_map(seats: Sequence[SeatSpec]) -> SeatMap:
    ids = (f"{n:032x}" for n in itertools.count())
    return SeatMap(rules(), seats, lambda: NOW, id_factory=lambda: next(ids))


def cinema(count: int = 6000, per_row: int = 100) -> list[SeatSpec]:
    """A cinema screen of ``count`` seats (60 rows x 100 for 6,000), ids ``A1``…"""
    return [
        SeatSpec(f"{row_label(i // per_row)}{i % per_row + 1}", row_label(i // per_row), i // per_row,
                 i % per_row + 1, "standard", Decimal("250.00"))
        for i in range(count)
    ]  # fmt: skip


@dataclass
class Calls:
    """Per-call wall times in seconds, of calls that held and of calls refused."""

    held: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    seats: int = 0


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / max in µs, and the count."""
    return {
        "n": len(values),
        "p50_us": pct(values, 0.5) * 1e6,
        "p99_us": pct(values, 0.99) * 1e6,
        "max_us": max(values) * 1e6 if values else float("nan"),
    }


class GcPauses:
    """Wall time of each full (generation 2) collection while it is installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def best_available(uncached_every: int, seed: int, freeze: bool) -> dict[str, Any]:
    """One sell-out; with ``freeze``, everything alive once the map is built is moved out of the
    collector's reach first (``gc.freeze``), as a process can do after start-up."""
    with GcPauses() as pauses:
        try:
            if freeze:
                gc.collect()
            seat_map = new_map(seat_specs(Stadium()))
            if freeze:
                gc.freeze()
            return {**sell_out(seat_map, uncached_every, seed), "gc_full_collections": summary(pauses.pauses)}
        finally:
            gc.unfreeze()


def sell_out(seat_map: SeatMap, uncached_every: int, seed: int) -> dict[str, Any]:
    stadium = Stadium()
    rng = random.Random(seed)
    runs = {"cached": Calls(), "uncached": Calls()}
    by_fill: dict[str, list[list[float]]] = {"cached": [[] for _ in range(10)], "uncached": [[] for _ in range(10)]}
    open_categories = list(CATEGORIES)
    held = 0
    users = itertools.count()
    calls = 0
    started = time.monotonic()
    while open_categories:
        category = rng.choice(open_categories)
        count = rng.randint(1, 6)
        while True:
            calls += 1
            mode = "uncached" if calls % uncached_every == 0 else "cached"
            saved = seat_map._row_best
            if mode == "uncached":
                seat_map._row_best = {}
            user = f"u{next(users)}"
            t0 = time.perf_counter()
            try:
                hold = seat_map.hold_best(user, count, category)
            except NoAdjacentSeats:
                runs[mode].refused.append(time.perf_counter() - t0)
                seat_map._row_best = saved
                if count == 1:
                    open_categories.remove(category)
                    break
                count -= 1
                continue
            elapsed = time.perf_counter() - t0
            if mode == "uncached":
                # Back to the cache as the cached path left it, less the row this hold changed: the
                # cached calls that follow pay only for their own rows, as if no call had bypassed it.
                seat_map._row_best = saved
                for seat_id in hold.seat_ids:
                    spec = seat_map._by_id[seat_id]
                    saved.pop((spec.section, spec.row_index), None)
            runs[mode].held.append(elapsed)
            runs[mode].seats += count
            by_fill[mode][min(9, held * 10 // stadium.seated)].append(elapsed)
            held += count
            break
        seat_map.pending_events.clear()
        if calls % 2000 == 0:
            print(
                f"  {calls:,} calls, {held:,}/{stadium.seated:,} seats held ({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    assert held == stadium.seated, (held, stadium.seated)
    standing = Calls()
    standing_by_fill: list[list[float]] = [[] for _ in range(10)]
    taken = 0
    count = rng.randint(1, 6)
    while True:
        t0 = time.perf_counter()
        try:
            seat_map.hold_best(f"u{next(users)}", count, None, stadium.standing_code)
        except NotEnoughPlaces:
            standing.refused.append(time.perf_counter() - t0)
            if count == 1:
                break
            count -= 1
            continue
        elapsed = time.perf_counter() - t0
        standing.held.append(elapsed)
        standing_by_fill[min(9, taken * 10 // stadium.standing)].append(elapsed)
        taken += count
        seat_map.pending_events.clear()
        count = rng.randint(1, 6)
    assert taken == stadium.standing
    counts = seat_map.counts()
    assert counts[SeatStatus.AVAILABLE] == 0, counts
    return {
        "seated": {
            mode: {**summary(c.held), "refused": summary(c.refused), "seats": c.seats} for mode, c in runs.items()
        },
        "seated_by_fill_p50_us": {mode: [pct(d, 0.5) * 1e6 for d in deciles] for mode, deciles in by_fill.items()},
        "standing": {**summary(standing.held), "refused": summary(standing.refused)},
        "standing_by_fill_p50_us": [pct(d, 0.5) * 1e6 for d in standing_by_fill],
        "calls": calls,
    }


def claims(seats: Sequence[SeatSpec], share: float, booked: bool) -> tuple[list[Hold], list[Booking]]:
    """Holds (or bookings) of 4 places each, by distinct customers, over the first ``share`` of places."""
    ids = [s.seat_id for s in seats][: int(len(seats) * share)]
    holds: list[Hold] = []
    bookings: list[Booking] = []
    for n, start in enumerate(range(0, len(ids), 4)):
        chunk = tuple(ids[start : start + 4])
        amount = Decimal(100 * len(chunk))
        if booked:
            bookings.append(Booking(f"b{n:031x}", f"user-{n:08d}", chunk, (f"h{n:031x}",), amount, NOW))
        else:
            holds.append(Hold(f"h{n:031x}", f"user-{n:08d}", chunk, NOW, NOW + timedelta(minutes=10), amount))
    return holds, bookings


def restored(seats: Sequence[SeatSpec], holds: Sequence[Hold], bookings: Sequence[Booking]) -> SeatMap:
    return SeatMap.restore(rules(), seats, lambda: NOW, holds=holds, bookings=bookings)


def memory(name: str, make: Any) -> dict[str, Any]:
    """Bytes a restored seat map allocates (its places' specs included), and the restore's wall time."""
    rows: dict[str, Any] = {}
    for state, share, booked in (("empty", 0.0, False), ("half held", 0.5, False), ("all booked", 1.0, True)):
        print(f"  {name}: {state} …", file=sys.stderr, flush=True)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        seats = make()
        holds, bookings = claims(seats, share, booked)
        seat_map = restored(seats, holds, bookings)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        del seat_map
        gc.collect()
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            restored(seats, holds, bookings)
            times.append(time.perf_counter() - t0)
        rows[state] = {
            "places": len(seats),
            "claims": len(holds) + len(bookings),
            "mib": traced / 2**20,
            "bytes_per_place": traced / len(seats),
            "restore_s": statistics.median(times),
        }
    return rows


def print_best(label: str, best: dict[str, Any]) -> dict[str, float]:
    """Print one sell-out's figures; returns the uncached / cached ratios."""
    print(f"\nbest-available on 100,000 places, {label}: {best['calls']:,} calls; per call in µs")
    print(f"{'path':<26} {'calls':>7} {'p50':>9} {'p99':>9} {'max':>9}   refused: {'n':>4} {'p50':>8} {'p99':>8}")
    lines = {f"seated, {mode}": r for mode, r in best["seated"].items()} | {"standing zone": best["standing"]}
    for name, r in lines.items():
        f = r["refused"]
        print(
            f"{name:<26} {r['n']:>7,} {r['p50_us']:>9.0f} {r['p99_us']:>9.0f} {r['max_us']:>9.0f}"
            f"            {f['n']:>4} {f['p50_us']:>8.0f} {f['p99_us']:>8.0f}"
        )
    cached, uncached = best["seated"]["cached"], best["seated"]["uncached"]
    ratios = {q: uncached[f"{q}_us"] / cached[f"{q}_us"] for q in ("p50", "p99", "max")}
    print("uncached / cached: " + ", ".join(f"{q} {v:.1f}x" for q, v in ratios.items()))
    pauses = best["gc_full_collections"]
    print(
        f"full gc collections during the run: {pauses['n']}, p50 {pauses['p50_us'] / 1000:.0f} ms,"
        f" max {pauses['max_us'] / 1000:.0f} ms"
    )
    print("p50 by fill decile (µs):")
    for mode, deciles in best["seated_by_fill_p50_us"].items():
        print(f"  seated {mode:<9} " + " ".join(f"{v:7.0f}" for v in deciles))
    print("  standing         " + " ".join(f"{v:7.0f}" for v in best["standing_by_fill_p50_us"]))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uncached-every", type=int, default=20, help="every n-th call clears the row cache first")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    result: dict[str, Any] = {"best_available": {}, "ratios": {}}
    for label, freeze in (("gc as is", False), ("gc frozen after the build", True)):
        print(f"best-available, empty to sell-out, {label} …", file=sys.stderr)
        best = best_available(args.uncached_every, args.seed, freeze)
        result["best_available"][label] = best
        result["ratios"][label] = print_best(label, best)
    print(
        "\n(a hold is timed from the call to its answer; 'refused': NoAdjacentSeats / NotEnoughPlaces, after which"
        " the same customer asks for one seat fewer)"
    )

    if not args.skip_memory:
        print("\nmemory of a restored seat map (tracemalloc), and the restore's time", file=sys.stderr)
        mem = {
            "stadium 100,000": memory("stadium", lambda: seat_specs(Stadium())),
            "cinema 6,000": memory("cinema", cinema),
        }
        print(f"\n{'venue':<16} {'state':<11} {'claims':>7} {'MiB':>8} {'B/place':>8} {'restore':>9}")
        for venue, states in mem.items():
            for state, r in states.items():
                print(
                    f"{venue:<16} {state:<11} {r['claims']:>7,} {r['mib']:>8.1f} {r['bytes_per_place']:>8.0f}"
                    f" {r['restore_s'] * 1000:>7.0f} ms"
                )
        ratio = mem["stadium 100,000"]["all booked"]["mib"] / mem["cinema 6,000"]["all booked"]["mib"]
        print(f"stadium / cinema, all booked: {ratio:.1f}x the memory for {100_000 / 6000:.1f}x the places")
        result["memory"] = mem
    print(json.dumps(result))


if __name__ == "__main__":
    main()
