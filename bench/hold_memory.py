"""Memory of a live hold in a show's seat map, measured on the pure core (no Ray, no database).

    python -m bench.hold_memory [--seats 6000] [--holds 1000]

A show actor's process is ~63 MiB of private memory before it holds anything (``bench.hold_throughput``
reports its RSS/USS); what grows with the crowd is the seat map. This builds the core
(``actors.seat_map_core.SeatMap``) for a ``--seats`` screen, then places ``--holds`` holds of 1 and of 4 seats
by distinct customers, and reports what ``tracemalloc`` counts as allocated per hold, per held seat, and
for the seat map itself; the events a commit consumes are cleared as the actor does, so they are not
counted. It also reports the same for confirmed bookings (a paid hold becomes one).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from actors.seat_map_core import SeatMap, SeatSpec, ShowRules

NOW = datetime(2030, 1, 1, 18, 0, tzinfo=UTC)


def screen(count: int) -> list[SeatSpec]:
    per_row = 100
    return [
        SeatSpec(f"R{i // per_row}-{i % per_row + 1}", f"R{i // per_row}", i // per_row, i % per_row + 1, "standard",
                 Decimal("250.00"))
        for i in range(count)
    ]  # fmt: skip


def fresh_map(seats: int) -> SeatMap:
    rules = ShowRules(show_id="bench", starts_at=NOW + timedelta(days=1), hold_ttl=timedelta(minutes=10),
                      max_seats_per_user=10)  # fmt: skip
    ids = (f"{n:032x}" for n in itertools.count())
    return SeatMap(rules, screen(seats), lambda: NOW, id_factory=lambda: next(ids))


def measure(seats: int, holds: int, per_hold: int, book: bool) -> tuple[int, int]:
    """(bytes of the empty seat map, bytes per hold or booking)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    seat_map = fresh_map(seats)
    seat_ids = [s.seat_id for s in seat_map.seats]
    seat_map.pending_events.clear()
    gc.collect()
    empty = tracemalloc.get_traced_memory()[0]
    for n in range(holds):
        user = f"user-{n:08d}"
        hold = seat_map.hold(user, seat_ids[n * per_hold : (n + 1) * per_hold])
        if book:
            seat_map.confirm(user, (hold.hold_id,), booking_id=f"booking-{n:08d}")
        seat_map.pending_events.clear()  # the actor hands them to the commit and drops them
    gc.collect()
    full = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return empty - base, (full - empty) // holds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=6000)
    parser.add_argument("--holds", type=int, default=1000)
    args = parser.parse_args()
    print(f"seat map of {args.seats} seats; {args.holds} holds per line (tracemalloc)\n")
    print(f"{'what':<28} {'per hold':>10} {'per seat':>10} {'empty map':>11}")
    for per_hold, book in ((1, False), (4, False), (1, True), (4, True)):
        count = min(args.holds, args.seats // per_hold)
        print(f"  measuring {count} × {per_hold}-seat {'bookings' if book else 'holds'} …", file=sys.stderr, flush=True)
        empty, each = measure(args.seats, count, per_hold, book)
        label = f"{per_hold}-seat {'booking' if book else 'hold'}"
        print(f"{label:<28} {each:>9,} B {each // per_hold:>8,} B {empty / 2**20:>9.2f} MiB")


if __name__ == "__main__":
    main()
