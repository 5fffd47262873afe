"""The audit after every load run: what PostgreSQL holds must be a state no correct service could leave
otherwise, and must contain everything the load generator was told.

Everything is read in one REPEATABLE READ snapshot, so the check is valid while the service still runs
(holds lapse, the reconciler settles payments: any one snapshot must satisfy all of it). It reads the
tables themselves, not the service's own view of them, and checks them against each other:

- ``one owner per seat``: no seat of a show is in two live owners: active holds (lapsed or not: the
  actor removes a lapsed hold before it gives its seats to anyone) and confirmed bookings, from the
  ``holds`` and ``bookings`` rows' seat lists (a seat listed twice in one row counts too).
- ``bookings claimed once``: every seat of every confirmed booking (and active hold) is claimed in
  ``seat_claims`` by exactly that booking (hold) for its account; no claim belongs to a dead or unknown
  owner or to a seat that is not on the show's screen, and no blocked seat is claimed.
- ``seats add up``: per show, available (unclaimed, not blocked) + held + booked + blocked = the screen's
  capacity, with held and booked counted from the ``holds`` and ``bookings`` rows, not from the claims.
- ``ledger agrees``: the last ``seat_ledger`` event of every seat says what its claim says (booked by
  that booking, held by that hold, or free).
- ``paid once``: every confirmed booking has exactly one captured payment; no captured payment lacks
  its confirmed booking.
- ``harness ⊆ database``: every booking a user saw confirmed is confirmed in PostgreSQL with the same
  seats; the database has at least as many bookings, booked seats and holds on the run's shows as locust
  reported successful (it may have more: a request that timed out at the client can still have
  succeeded, and the reconciler finishes payments whose answer was lost).

For every waiting room in the database (``docs/waiting-room.md``), from ``waiting_rooms`` and
``queue_entries``:

- ``admissions in queue order``: no admitted entry has an earlier-numbered entry admitted after it, or
  never admitted.
- ``no admission after sell-out``: no entry admitted after its room's ``sold_out_at``.
- ``holds only by admitted accounts``: no hold (of any status) on a waiting-room show by an account
  the show's room never admitted, but for the waiting list's offers (``waiting_room.waiting_list``: made
  after the sell-out, to accounts on the show's list).
- ``nobody left waiting at sell-out``: when every seat of the show has been booked or blocked, none held,
  for a few seconds (``SOLD_OUT_GRACE_SECONDS``: the rounds run every second), the room says so
  (``sold_out_at``), so no entry still reads ``waiting``.
- ``the pre-queue order is the seed's``: ``waiting_room.verify.check`` on what the service published
  (``/queue/fairness`` and ``/queue/fairness/pre-queue``, fetched by the harness before the service
  stops) and that published list is PostgreSQL's pre-queue; without it (this module's command), on the
  room's own row and entries.

``python -m loadtest.invariants DATABASE_URL [RUN_DIR]`` runs the check again on a kept database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, LiteralString

import psycopg

from loadtest.reports import HarnessCounts, harness_counts
from settings import libpq_url
from waiting_room import verify

SAMPLES = 10  # violations listed per check; the count is always complete

HOLDING_EVENTS = ("held", "extended", "payment_pending", "payment_aborted")

SOLD_OUT_GRACE_SECONDS = 5.0  # the admission rounds run every second or two: one of them calls the sell-out

# What a service published about a room's order: the fairness record and the pre-queue (number, entry id).
Published = tuple[dict[str, Any], list[tuple[int, str]]]


@dataclass(frozen=True)
class ShowCounts:
    show_id: str
    capacity: int
    available: int
    held: int
    lapsed: int
    booked: int
    blocked: int
    bookings: int
    holds_created: int


@dataclass(frozen=True)
class RoomCounts:
    """A waiting room's figures: entries (of which in the pre-queue), admitted, passes that lapsed unused,
    admitted accounts that booked, and when it opened and sold out."""

    show_id: str
    entries: int
    pre_queue: int
    admitted: int
    lapsed_passes: int
    buyers: int
    opened_at: datetime | None
    sold_out_at: datetime | None

    @property
    def sold_out_after(self) -> str:
        if self.sold_out_at is None or self.opened_at is None:
            return "not sold out"
        return f"{(self.sold_out_at - self.opened_at).total_seconds():.1f}s after opening"


@dataclass
class Check:
    name: str
    violations: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, rows: Sequence[Any], describe: Any) -> None:
        self.count += len(rows)
        room = SAMPLES - len(self.violations)
        self.violations.extend(str(describe(r)) for r in rows[: max(0, room)])


@dataclass
class Report:
    shows: list[ShowCounts]
    checks: list[Check]
    harness: HarnessCounts
    run_shows: list[str]
    rooms: list[RoomCounts] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.count == 0 for c in self.checks)

    def violated(self) -> list[str]:
        return [c.name for c in self.checks if c.count]

    def render(self) -> str:
        lines = ["", "invariant check (PostgreSQL, one snapshot)"]
        lines.append(
            f"  {'show':36} {'capacity':>8} {'avail':>6} {'held':>5} {'lapsed':>6} {'booked':>6} "
            f"{'blocked':>7} {'bookings':>8} {'holds':>6}"
        )
        for s in self.shows:
            lines.append(
                f"  {s.show_id:36} {s.capacity:8d} {s.available:6d} {s.held:5d} {s.lapsed:6d} {s.booked:6d} "
                f"{s.blocked:7d} {s.bookings:8d} {s.holds_created:6d}"
            )
        run = [s for s in self.shows if s.show_id in self.run_shows]
        lines.append(
            f"  locust saw: {self.harness.holds} holds, {self.harness.bookings} bookings "
            f"({self.harness.booked_seats} seats); database, run's shows: "
            f"{sum(s.holds_created for s in run)} holds, {sum(s.bookings for s in run)} bookings "
            f"({sum(s.booked for s in run)} seats)"
        )
        if self.rooms:
            booked = {s.show_id: s.booked for s in self.shows}
            lines.append(
                f"  {'waiting room (show)':36} {'entries':>7} {'pre-queue':>9} {'admitted':>8} {'lapsed':>6} "
                f"{'buyers':>6} {'seats':>5}  sold out"
            )
            lines.extend(
                f"  {r.show_id:36} {r.entries:7d} {r.pre_queue:9d} {r.admitted:8d} {r.lapsed_passes:6d} "
                f"{r.buyers:6d} {booked.get(r.show_id, 0):5d}  {r.sold_out_after}"
                for r in self.rooms
            )
        for check in self.checks:
            mark = "ok  " if check.count == 0 else "FAIL"
            lines.append(f"  [{mark}] {check.name}" + (f": {check.count} violation(s)" if check.count else ""))
            lines.extend(f"         - {v}" for v in check.violations)
        lines.append("INVARIANTS HOLD" if self.ok else f"INVARIANTS VIOLATED: {', '.join(self.violated())}")
        return "\n".join(lines)


def check(
    database_url: str,
    run_shows: Sequence[str],
    harness: HarnessCounts,
    published: Mapping[str, Published] | None = None,
) -> Report:
    """Audit every show in the database; compare the run's shows (``run_shows``) with ``harness``, and each
    waiting room's order with what the service ``published`` for its show (if it is there)."""
    with (
        psycopg.connect(libpq_url(database_url), autocommit=True) as conn,
        conn.transaction(),
        conn.cursor() as cur,
    ):
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        shows = _show_counts(cur)
        checks = [
            _one_owner(cur),
            _claimed_once(cur),
            _seats_add_up(shows),
            _ledger_agrees(cur),
            _paid_once(cur),
            _harness_in_database(cur, shows, list(run_shows), harness),
        ]
        rooms = _room_counts(cur)
        if rooms:
            checks += [
                _queue_order(cur),
                _admitted_after_sell_out(cur),
                _holds_without_admission(cur),
                _waiting_at_sell_out(cur, shows),
                _fair_order(cur, published or {}),
            ]
    return Report(shows=shows, checks=checks, harness=harness, run_shows=list(run_shows), rooms=rooms)


def _rows_check(cur: psycopg.Cursor[Any], name: str, query: LiteralString, describe: Callable[[Any], str]) -> Check:
    """A check whose violations are exactly the rows ``query`` returns, each told by ``describe``."""
    result = Check(name)
    cur.execute(query)
    result.add(cur.fetchall(), describe)
    return result


def _show_counts(cur: psycopg.Cursor[Any]) -> list[ShowCounts]:
    cur.execute(
        """
        WITH seats AS (
            SELECT s.id AS show_id, ss.seat_id, c.seat_id IS NOT NULL AS claimed, bl.seat_id IS NOT NULL AS blocked
            FROM shows s
            JOIN screen_seats ss ON ss.screen_id = s.screen_id
            LEFT JOIN seat_claims c ON c.show_id = s.id AND c.seat_id = ss.seat_id
            LEFT JOIN blocked_seats bl ON bl.show_id = s.id AND bl.seat_id = ss.seat_id
        ), holds_now AS (
            SELECT show_id,
                   coalesce(sum(cardinality(seat_ids)) FILTER (WHERE status = 'active' AND expires_at > now()), 0)
                       AS held,
                   coalesce(sum(cardinality(seat_ids)) FILTER (WHERE status = 'active' AND expires_at <= now()), 0)
                       AS lapsed,
                   count(*) AS created
            FROM holds GROUP BY show_id
        ), booked AS (
            SELECT show_id, coalesce(sum(cardinality(seat_ids)), 0) AS seats, count(*) AS bookings
            FROM bookings WHERE status = 'confirmed' GROUP BY show_id
        )
        SELECT s.show_id, count(*), count(*) FILTER (WHERE NOT s.claimed AND NOT s.blocked),
               coalesce(max(h.held), 0), coalesce(max(h.lapsed), 0), coalesce(max(b.seats), 0),
               count(*) FILTER (WHERE s.blocked), coalesce(max(b.bookings), 0), coalesce(max(h.created), 0)
        FROM seats s
        LEFT JOIN holds_now h ON h.show_id = s.show_id
        LEFT JOIN booked b ON b.show_id = s.show_id
        GROUP BY s.show_id ORDER BY s.show_id
        """
    )
    return [ShowCounts(*(r[0], *(int(v) for v in r[1:]))) for r in cur.fetchall()]


def _one_owner(cur: psycopg.Cursor[Any]) -> Check:
    return _rows_check(
        cur,
        "one owner per seat (active holds + confirmed bookings)",
        """
        WITH owners AS (
            SELECT show_id, unnest(seat_ids) AS seat_id, 'hold ' || id AS owner FROM holds WHERE status = 'active'
            UNION ALL
            SELECT show_id, unnest(seat_ids), 'booking ' || id FROM bookings WHERE status = 'confirmed'
        )
        SELECT show_id, seat_id, array_agg(owner ORDER BY owner) FROM owners
        GROUP BY show_id, seat_id HAVING count(*) > 1 ORDER BY show_id, seat_id
        """,
        lambda r: f"show {r[0]} seat {r[1]} owned by {', '.join(r[2])}",
    )


def _claimed_once(cur: psycopg.Cursor[Any]) -> Check:
    result = Check("every booking's and hold's seats claimed once, by it; no stray claims")
    cur.execute(
        """
        SELECT 'booking ' || b.id, b.show_id, s.seat_id, c.booking_id, c.hold_id
        FROM bookings b CROSS JOIN LATERAL unnest(b.seat_ids) AS s(seat_id)
        LEFT JOIN seat_claims c ON c.show_id = b.show_id AND c.seat_id = s.seat_id
        WHERE b.status = 'confirmed' AND (c.booking_id IS DISTINCT FROM b.id OR c.user_id <> b.user_id)
        UNION ALL
        SELECT 'hold ' || h.id, h.show_id, s.seat_id, c.booking_id, c.hold_id
        FROM holds h CROSS JOIN LATERAL unnest(h.seat_ids) AS s(seat_id)
        LEFT JOIN seat_claims c ON c.show_id = h.show_id AND c.seat_id = s.seat_id
        WHERE h.status = 'active' AND (c.hold_id IS DISTINCT FROM h.id OR c.user_id <> h.user_id)
        """
    )
    result.add(
        cur.fetchall(),
        lambda r: (
            f"{r[0]} (show {r[1]}) seat {r[2]}: claim is "
            + ("missing" if r[3] is None and r[4] is None else f"booking={r[3]} hold={r[4]}")
        ),
    )
    cur.execute(
        """
        SELECT c.show_id, c.seat_id, c.booking_id, c.hold_id
        FROM seat_claims c
        LEFT JOIN bookings b ON b.id = c.booking_id AND b.status = 'confirmed' AND b.show_id = c.show_id
                             AND b.user_id = c.user_id AND c.seat_id = ANY(b.seat_ids)
        LEFT JOIN holds h ON h.id = c.hold_id AND h.status = 'active' AND h.show_id = c.show_id
                          AND h.user_id = c.user_id AND c.seat_id = ANY(h.seat_ids)
        WHERE b.id IS NULL AND h.id IS NULL
        """
    )
    result.add(cur.fetchall(), lambda r: f"show {r[0]} seat {r[1]}: claim by booking={r[2]} hold={r[3]}, no such owner")
    cur.execute(
        """
        SELECT c.show_id, c.seat_id,
               CASE WHEN ss.seat_id IS NULL THEN 'not on the screen' ELSE 'blocked' END
        FROM seat_claims c JOIN shows s ON s.id = c.show_id
        LEFT JOIN screen_seats ss ON ss.screen_id = s.screen_id AND ss.seat_id = c.seat_id
        LEFT JOIN blocked_seats bl ON bl.show_id = c.show_id AND bl.seat_id = c.seat_id
        WHERE ss.seat_id IS NULL OR bl.seat_id IS NOT NULL
        """
    )
    result.add(cur.fetchall(), lambda r: f"show {r[0]} seat {r[1]} is claimed but {r[2]}")
    return result


def _seats_add_up(shows: list[ShowCounts]) -> Check:
    result = Check("available + held + booked + blocked = capacity (held, booked from holds/bookings rows)")
    wrong = [s for s in shows if s.available + s.held + s.lapsed + s.booked + s.blocked != s.capacity]
    result.add(
        wrong,
        lambda s: (
            f"show {s.show_id}: {s.available} + {s.held} (+{s.lapsed} lapsed) + {s.booked} + {s.blocked} "
            f"= {s.available + s.held + s.lapsed + s.booked + s.blocked} != capacity {s.capacity}"
        ),
    )
    return result


def _ledger_agrees(cur: psycopg.Cursor[Any]) -> Check:
    result = Check("the seat ledger's last event agrees with every claim")
    cur.execute(
        """
        WITH last AS (
            SELECT DISTINCT ON (show_id, seat_id) show_id, seat_id, event, hold_id, booking_id
            FROM seat_ledger ORDER BY show_id, seat_id, id DESC
        )
        SELECT coalesce(c.show_id, l.show_id), coalesce(c.seat_id, l.seat_id), c.booking_id, c.hold_id,
               l.event, l.booking_id, l.hold_id
        FROM seat_claims c FULL JOIN last l ON l.show_id = c.show_id AND l.seat_id = c.seat_id
        WHERE CASE
            WHEN c.booking_id IS NOT NULL
                THEN l.event IS DISTINCT FROM 'booked' OR l.booking_id IS DISTINCT FROM c.booking_id
            WHEN c.hold_id IS NOT NULL
                THEN NOT coalesce(l.event = ANY(%(holding)s), false) OR l.hold_id IS DISTINCT FROM c.hold_id
            ELSE coalesce(l.event = 'booked' OR l.event = ANY(%(holding)s), false)
        END
        """,
        {"holding": list(HOLDING_EVENTS)},
    )
    result.add(
        cur.fetchall(),
        lambda r: (
            f"show {r[0]} seat {r[1]}: claim booking={r[2]} hold={r[3]}, ledger says {r[4]} booking={r[5]} hold={r[6]}"
        ),
    )
    return result


def _paid_once(cur: psycopg.Cursor[Any]) -> Check:
    result = Check("every confirmed booking paid exactly once; no captured payment without its booking")
    cur.execute(
        """
        SELECT b.id, count(p.id) FROM bookings b
        LEFT JOIN payments p ON p.booking_id = b.id AND p.status = 'captured'
        WHERE b.status = 'confirmed' GROUP BY b.id HAVING count(p.id) <> 1
        """
    )
    result.add(cur.fetchall(), lambda r: f"booking {r[0]} has {r[1]} captured payments")
    cur.execute(
        """
        SELECT p.id, p.booking_id FROM payments p LEFT JOIN bookings b ON b.id = p.booking_id
        WHERE p.status = 'captured' AND (b.id IS NULL OR b.status <> 'confirmed' OR b.show_id <> p.show_id)
        """
    )
    result.add(cur.fetchall(), lambda r: f"payment {r[0]} captured for booking {r[1]}, which is not confirmed")
    return result


def _harness_in_database(
    cur: psycopg.Cursor[Any], shows: list[ShowCounts], run_shows: list[str], harness: HarnessCounts
) -> Check:
    result = Check("what locust saw is in the database (bookings, booked seats, holds: database >= locust)")
    run = [s for s in shows if s.show_id in run_shows]
    db = {
        "bookings": sum(s.bookings for s in run),
        "booked seats": sum(s.booked for s in run),
        "holds": sum(s.holds_created for s in run),
    }
    seen = {"bookings": harness.bookings, "booked seats": harness.booked_seats, "holds": harness.holds}
    result.add([k for k in db if db[k] < seen[k]], lambda k: f"{k}: database {db[k]} < locust {seen[k]}")
    if harness.booking_seats:
        cur.execute("SELECT id, status, seat_ids FROM bookings WHERE id = ANY(%s)", (list(harness.booking_seats),))
        found = {r[0]: (r[1], sorted(r[2])) for r in cur.fetchall()}
        wrong = []
        for booking_id, seats in sorted(harness.booking_seats.items()):
            status, stored = found.get(booking_id, ("missing", []))
            if status != "confirmed" or stored != sorted(seats):
                wrong.append((booking_id, status, sorted(seats), stored))
        result.add(wrong, lambda r: f"booking {r[0]} confirmed to a user with seats {r[2]}: database {r[1]} {r[3]}")
    return result


# -- waiting rooms --------------------------------------------------------------------------------------


def _room_counts(cur: psycopg.Cursor[Any]) -> list[RoomCounts]:
    cur.execute(
        """
        WITH e AS (
            SELECT q.show_id, q.pre_queue, q.admitted_at IS NOT NULL AS admitted,
                   q.admitted_at + make_interval(secs => r.admission_window_seconds) <= now() AS window_over,
                   EXISTS (SELECT 1 FROM holds h WHERE h.show_id = q.show_id AND h.user_id = q.user_id) AS held,
                   EXISTS (SELECT 1 FROM bookings b WHERE b.show_id = q.show_id AND b.user_id = q.user_id
                                                      AND b.status = 'confirmed') AS bought
            FROM queue_entries q JOIN waiting_rooms r ON r.show_id = q.show_id
        )
        SELECT r.show_id, count(e.show_id), count(*) FILTER (WHERE e.pre_queue),
               count(*) FILTER (WHERE e.admitted),
               count(*) FILTER (WHERE e.admitted AND e.window_over AND NOT e.held),
               count(*) FILTER (WHERE e.admitted AND e.bought), r.opened_at, r.sold_out_at
        FROM waiting_rooms r LEFT JOIN e ON e.show_id = r.show_id
        GROUP BY r.show_id, r.opened_at, r.sold_out_at ORDER BY r.show_id
        """
    )
    return [
        RoomCounts(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), opened_at=r[6], sold_out_at=r[7])
        for r in cur.fetchall()
    ]


def _queue_order(cur: psycopg.Cursor[Any]) -> Check:
    return _rows_check(
        cur,
        "admissions in queue order (no earlier number admitted later, or never)",
        """
        SELECT a.show_id, a.number, min(b.number), count(*) FROM queue_entries a
        JOIN queue_entries b ON b.show_id = a.show_id AND b.number < a.number
                             AND (b.admitted_at IS NULL OR b.admitted_at > a.admitted_at)
        WHERE a.admitted_at IS NOT NULL
        GROUP BY a.show_id, a.number ORDER BY a.show_id, a.number
        """,
        lambda r: f"show {r[0]}: number {r[1]} admitted before {r[3]} earlier number(s), the first {r[2]}",
    )


def _admitted_after_sell_out(cur: psycopg.Cursor[Any]) -> Check:
    return _rows_check(
        cur,
        "no admission after sell-out",
        """
        SELECT q.show_id, q.number, q.admitted_at, r.sold_out_at
        FROM queue_entries q JOIN waiting_rooms r ON r.show_id = q.show_id
        WHERE q.admitted_at > r.sold_out_at ORDER BY q.show_id, q.number
        """,
        lambda r: f"show {r[0]}: number {r[1]} admitted at {r[2]}, sold out at {r[3]}",
    )


def _holds_without_admission(cur: psycopg.Cursor[Any]) -> Check:
    return _rows_check(
        cur,
        "holds on waiting-room shows only by admitted accounts",
        """
        SELECT h.show_id, h.id, h.user_id, h.status FROM holds h JOIN shows s ON s.id = h.show_id
        LEFT JOIN waiting_rooms r ON r.show_id = h.show_id
        WHERE s.waiting_room AND NOT EXISTS (
            SELECT 1 FROM queue_entries q
            WHERE q.show_id = h.show_id AND q.user_id = h.user_id AND q.admitted_at IS NOT NULL
        ) AND NOT coalesce(  -- an offer of the waiting list after the sell-out is a hold of its own
            h.created_at >= r.sold_out_at
            AND EXISTS (SELECT 1 FROM waiting_list w WHERE w.show_id = h.show_id AND w.user_id = h.user_id),
            false
        )
        ORDER BY h.show_id, h.id
        """,
        lambda r: f"show {r[0]}: hold {r[1]} ({r[3]}) by account {r[2]}, never admitted",
    )


def _waiting_at_sell_out(cur: psycopg.Cursor[Any], shows: list[ShowCounts]) -> Check:
    """A show is sold out when every seat is booked or blocked and none is held; its room must say so
    within a round or two, so only a show whose last seat event is ``SOLD_OUT_GRACE_SECONDS`` old counts."""
    result = Check("nobody left waiting once the show is sold out (the room says sold out)")
    sold_out = {s.show_id for s in shows if s.available == 0 and s.held == 0 and s.lapsed == 0}
    cur.execute(
        """
        SELECT q.show_id, count(*) FROM queue_entries q JOIN waiting_rooms r ON r.show_id = q.show_id
        WHERE q.admitted_at IS NULL AND r.sold_out_at IS NULL AND r.closed_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM seat_ledger l WHERE l.show_id = q.show_id
                                                       AND l.at > now() - make_interval(secs => %s))
        GROUP BY q.show_id ORDER BY q.show_id
        """,
        (SOLD_OUT_GRACE_SECONDS,),
    )
    waiting = [(show, int(n)) for show, n in cur.fetchall() if show in sold_out]
    result.add(
        waiting,
        lambda r: f"show {r[0]}: every seat booked or blocked, but the room is not sold out: {r[1]} entries waiting",
    )
    return result


def _fair_order(cur: psycopg.Cursor[Any], published: Mapping[str, Published]) -> Check:
    result = Check("the pre-queue order is the committed seed's (waiting_room.verify, on what was published)")
    cur.execute(
        "SELECT show_id, seed, commitment, merkle_root, pre_queue_size FROM waiting_rooms "
        "WHERE opened_at IS NOT NULL ORDER BY show_id"
    )
    for show_id, seed, commitment, root, size in cur.fetchall():
        cur.execute("SELECT number, id FROM queue_entries WHERE show_id = %s AND pre_queue ORDER BY number", (show_id,))
        stored = [(int(n), str(e)) for n, e in cur.fetchall()]
        own: Published = ({"seed": seed, "commitment": commitment, "merkle_root": root, "pre_queue_size": size}, stored)
        record, listed = published.get(show_id, own)
        failed = [f"{name}: {detail}" for name, ok, detail in verify.check(record, listed).checks if not ok]
        if show_id in published and (listed != stored or record.get("seed") != seed):
            failed.append("what the service published is not PostgreSQL's seed and pre-queue")
        result.add(failed, lambda f, show=show_id: f"show {show}: {f}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.invariants", description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("run_dir", nargs="?", type=Path, help="a run's output dir: compare with what locust saw")
    args = parser.parse_args(argv)
    harness, shows = harness_counts(args.run_dir) if args.run_dir else (HarnessCounts(), [])
    report = check(args.database_url, shows, harness)
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
