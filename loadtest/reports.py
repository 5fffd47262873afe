"""Reading what locust wrote: the live progress line, the summary table, and the counts the audit uses.

locust writes ``<prefix>_stats.csv`` (one row per request name and an ``Aggregated`` row),
``<prefix>_stats_history.csv`` (the aggregate every second), ``<prefix>_failures.csv`` and
``<prefix>_exceptions.csv``; the locustfile adds ``progress.json`` / ``seen.json`` (``loadtest.plan.Seen``,
with what a waiting room told its users).
Request names carry the outcome (``hold best [409 lost]``), so the successes of ``hold best``, ``hold named`` and
``pay`` are exactly the holds and bookings locust reported made.

``HarnessCounts`` (what the load generator reported) lives here, next to the code that fills it;
``loadtest.invariants`` imports it to compare with PostgreSQL. The audit depends on this module, never
the other way round.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.plan import Plan, Seen

CSV_PREFIX = "locust"


@dataclass(frozen=True)
class HarnessCounts:
    """What the load generator reported: successes from locust's stats, confirmed bookings it saw."""

    holds: int = 0
    bookings: int = 0
    booked_seats: int = 0
    booking_seats: dict[str, list[str]] = field(default_factory=dict)


def stats_path(run_dir: Path, kind: str = "stats") -> Path:
    return run_dir / f"{CSV_PREFIX}_{kind}.csv"


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _int(value: str | None) -> int:
    try:
        return int(float(value or 0))
    except ValueError:
        return 0


def successes(rows: list[dict[str, str]], name: str) -> int:
    return sum(_int(r["Request Count"]) - _int(r["Failure Count"]) for r in rows if r["Name"] == name)


def harness_counts(run_dir: Path) -> tuple[HarnessCounts, list[str]]:
    """What locust reported for the run in ``run_dir``, and the ids of the run's shows."""
    rows = read_rows(stats_path(run_dir))
    holds = sum(successes(rows, n) for n in ("hold best", "hold named"))
    seen_path = run_dir / "seen.json"
    seen = Seen.load(seen_path) if seen_path.exists() else Seen()
    plan = Plan.load(run_dir / "plan.json")
    # The stats file can miss the last requests of the stop phase that seen.json has: take the larger.
    counts = HarnessCounts(
        holds=max(holds, seen.holds_won),
        bookings=max(successes(rows, "pay"), seen.bookings),
        booked_seats=seen.booked_seats,
        booking_seats=seen.booking_ids,
    )
    return counts, [s.show_id for s in plan.all_shows]


def progress_line(run_dir: Path, elapsed: float) -> str:
    """One line of live figures from ``progress.json`` (the locustfile rewrites it every second)."""
    head = f"[{elapsed:5.0f}s]"
    try:
        progress = json.loads((run_dir / "progress.json").read_text())
    except (OSError, ValueError):
        return f"{head} starting locust…"
    live, seen, queue = progress["live"], progress["seen"], progress.get("queue") or {}
    return (
        f"{head} users {live['users']:5d}  req/s {live['rps']:7.1f}  fail/s {live['fail_per_s']:5.1f}  "
        f"p50 {live['p50'] or 0:5d}ms  p99 {live['p99'] or 0:5d}ms  requests {live['requests']} "
        f"({live['failures']} failed) | holds {seen['holds_won']} won / {seen['holds_lost']} lost, "
        f"booked {seen['bookings']} ({seen['booked_seats']} seats), released {seen['released']}, "
        f"abandoned {seen['abandoned']}" + (f" | queue: {queue_figures(queue)}" if queue else "")
    )


def queue_figures(queue: dict[str, int]) -> str:
    """What the waiting room told its users (``Seen.queue``), in the order a user meets it."""
    order = ("joined", "admitted", "walked_away", "sold_out", "closed")
    names = [k for k in order if k in queue] + sorted(k for k in queue if k not in order)
    return ", ".join(f"{k.replace('_', ' ')} {queue[k]}" for k in names)


def summary(run_dir: Path) -> str:
    rows = read_rows(stats_path(run_dir))
    lines = [f"{'request':44} {'count':>7} {'fail':>5} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}  (ms)"]
    for r in rows:
        name = "TOTAL" if r["Name"] == "Aggregated" else f"{r['Type']} {r['Name']}".strip()
        lines.append(
            f"{name[:44]:44} {_int(r['Request Count']):7d} {_int(r['Failure Count']):5d} "
            f"{float(r['Requests/s'] or 0):7.1f} {r['50%']:>6} {r['95%']:>6} {r['99%']:>6} "
            f"{_int(r['Max Response Time']):7d}"
        )
    seen_path = run_dir / "seen.json"
    if seen_path.exists():
        seen = Seen.load(seen_path)
        lines.append("users saw: " + ", ".join(f"{k} {v}" for k, v in seen.counters().items()))
        if seen.queue:
            lines.append("the waiting room told them: " + queue_figures(seen.queue))
    return "\n".join(lines)
