"""The operators' load-test harness (``python -m loadtest``, docs/loadtest.md), run the documented way.

Smoke runs of the real command, flash-sale and waiting-room (the service started by the harness on
throwaway services, or on ``DATABASE_URL`` / ``REDIS_URL`` when set; a handful of users for a few
seconds), must pass their invariant check and leave the CSV and HTML reports. The negative controls prove
the check can fail: a consistent little show sold through a waiting room, written straight into
PostgreSQL, passes, and every corruption of a copy of it (an extra booking of a sold seat, a lost claim, a
claim on a seat that does not exist, a second captured payment, a ledger that disagrees, an admission out
of queue order or after the sell-out, a hold by an account never admitted, a pre-queue whose published
root is not its own, a booking locust saw that the database lacks) is reported by the check meant to
catch it, with a non-zero exit from ``python -m loadtest.invariants``.
"""

from __future__ import annotations

import csv
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from loadtest import invariants
from loadtest.reports import HarnessCounts
from persistence import migrate
from tests.services import libpq_url, provision_postgres
from waiting_room import fairness

ROOT = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT_SECONDS = 180  # a hang guard only


def _stats(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def _audited_run(out: Path, shape: str, users: int, run_time: str, *options: str) -> dict[str, dict[str, str]]:
    """Run ``python -m loadtest`` as documented; it must pass its audit, show its progress and leave every
    report without a failed request. Returns locust's statistics by request name."""
    command = [sys.executable, "-m", "loadtest", "--shape", shape, "--users", str(users), "--run-time", run_time]
    command += [*options, "--stop-timeout", "3", "--output", str(out)]
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=SMOKE_TIMEOUT_SECONDS
    )
    elapsed = time.monotonic() - started
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "INVARIANTS HOLD" in result.stdout, report
    assert " req/s " in result.stdout, "progress is shown while locust runs"
    for name in ("report.html", "locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"):
        assert (out / name).stat().st_size > 0, name
    assert "<html" in (out / "report.html").read_text()[:2000].lower()
    stats = _stats(out / "locust_stats.csv")
    assert int(stats["Aggregated"]["Request Count"]) > 0
    assert int(stats["Aggregated"]["Failure Count"]) == 0, (out / "locust_failures.csv").read_text()
    assert "INVARIANTS HOLD" in (out / "invariants.txt").read_text()
    # Wall time is not asserted (speed is the benchmark's business); on an idle 2-core box it is ~30 s.
    print(f"smoke run ({shape}): {elapsed:.0f}s")
    return stats


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smoke")


@pytest.fixture(scope="module")
def smoke_runs(smoke_dir: Path) -> Iterator[dict[str, Future[dict[str, dict[str, str]]]]]:
    """Both smoke runs at once (each is a service of its own starting, then a few seconds of load): the two
    tests below wait for their own, each run's reports in its shape's folder of ``smoke_dir``."""
    out = smoke_dir
    with ThreadPoolExecutor(2) as pool:
        yield {
            "flash-sale": pool.submit(
                _audited_run, out / "flash-sale", "flash-sale", 6, "5s", "--rows", "4", "--seats-per-row", "8"
            ),
            "waiting-room": pool.submit(
                _audited_run,
                out / "waiting-room",
                "waiting-room",
                10,
                "15s",
                "--seats",
                "6",
                "--opens-in",
                "3",
                "--hold-ttl",
                "10",
            ),
        }


def test_smoke_run_of_the_documented_command(smoke_runs: dict[str, Future[dict[str, dict[str, str]]]]) -> None:
    stats = smoke_runs["flash-sale"].result()
    assert int(stats["hold best"]["Request Count"]) > 0, "the crowd asked for the best seats"


def test_smoke_run_of_the_waiting_room_shape(
    smoke_runs: dict[str, Future[dict[str, dict[str, str]]]], smoke_dir: Path
) -> None:
    """Ten accounts for six seats: they join across the opening, wait their turn, and the audit's queue
    checks (order, sell-out, holds only when admitted, the published order) run and hold."""
    stats = smoke_runs["waiting-room"].result()
    assert int(stats["queue join"]["Request Count"]) == 10, "every user took one place"
    assert int(stats["queue poll"]["Request Count"]) > 0, "and waited for its turn"
    audit = (smoke_dir / "waiting-room" / "invariants.txt").read_text()
    assert "waiting room (show)" in audit, audit
    assert "[ok  ] admissions in queue order" in audit, audit
    assert "[ok  ] the pre-queue order is the committed seed's" in audit, audit


# -- negative controls ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """A show of 6 seats (A1–A6): A1, A2 booked and paid; A3 held; A4–A6 available. It sells through a
    waiting room that has opened: its pre-queue of three is numbered by the seed, number 1 (the account that
    booked and holds) admitted, numbers 2 and 3 waiting."""

    show_id: str
    user_id: str
    booking_id: str
    hold_id: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, cleanup = provision_postgres(tmp_path_factory.mktemp("loadtest-pg"))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        cleanup()


@pytest.fixture(scope="module")
def scene(server: str) -> Scene:
    s = Scene(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    movie, theater, screen, booked_hold = (str(uuid.uuid4()) for _ in range(4))
    waiting = [str(uuid.uuid4()) for _ in range(2)]
    with psycopg.connect(libpq_url(server), autocommit=True) as conn, conn.transaction():
        for user in (s.user_id, *waiting):
            conn.execute(
                "INSERT INTO users (id, email, name, password_hash, role) VALUES (%s, %s, 'n', 'x', 'customer')",
                (user, f"lt-{user}@example.com"),
            )
        conn.execute("INSERT INTO movies (id, title, duration_minutes) VALUES (%s, 'Negative', 90)", (movie,))
        conn.execute("INSERT INTO theaters (id, name, city, address) VALUES (%s, 'T', 'Pune', 'x')", (theater,))
        conn.execute("INSERT INTO screens (id, theater_id, name) VALUES (%s, %s, 'S')", (screen, theater))
        for n in range(1, 7):
            conn.execute(
                "INSERT INTO screen_seats (screen_id, seat_id, row_label, row_index, number, category) "
                "VALUES (%s, %s, 'A', 0, %s, 'standard')",
                (screen, f"A{n}", n),
            )
        conn.execute(
            "INSERT INTO shows (id, movie_id, theater_id, screen_id, starts_at, prices, hold_ttl_seconds, status, "
            "epoch, waiting_room) "
            "VALUES (%s, %s, %s, %s, now() + interval '1 day', '{\"standard\": \"100\"}', 600, 'on_sale', 1, true)",
            (s.show_id, movie, theater, screen),
        )
        _open_waiting_room(conn, s.show_id, [s.user_id, *waiting])
        # The hold that became the booking, and the live hold on A3.
        conn.execute(
            "INSERT INTO holds (id, show_id, user_id, seat_ids, amount, created_at, expires_at, status, epoch) "
            "VALUES (%s, %s, %s, %s, 200, now(), now() + interval '10 minutes', 'confirmed', 1), "
            "(%s, %s, %s, %s, 100, now(), now() + interval '10 minutes', 'active', 1)",
            (booked_hold, s.show_id, s.user_id, ["A1", "A2"], s.hold_id, s.show_id, s.user_id, ["A3"]),
        )
        conn.execute(
            "INSERT INTO bookings (id, show_id, user_id, seat_ids, hold_ids, amount, status, created_at, epoch) "
            "VALUES (%s, %s, %s, %s, %s, 200, 'confirmed', now(), 1)",
            (s.booking_id, s.show_id, s.user_id, ["A1", "A2"], [booked_hold]),
        )
        conn.execute(
            "INSERT INTO payments (id, show_id, user_id, hold_ids, amount, status, booking_id) "
            "VALUES (%s, %s, %s, %s, 200, 'captured', %s)",
            (f"pay-{s.booking_id}", s.show_id, s.user_id, [booked_hold], s.booking_id),
        )
        conn.execute(
            "INSERT INTO seat_claims (show_id, seat_id, user_id, booking_id) VALUES (%s, 'A1', %s, %s), "
            "(%s, 'A2', %s, %s)",
            (s.show_id, s.user_id, s.booking_id, s.show_id, s.user_id, s.booking_id),
        )
        conn.execute(
            "INSERT INTO seat_claims (show_id, seat_id, user_id, hold_id, expires_at) "
            "VALUES (%s, 'A3', %s, %s, now() + interval '10 minutes')",
            (s.show_id, s.user_id, s.hold_id),
        )
        ledger = [
            ("A1", "held", booked_hold, None),
            ("A2", "held", booked_hold, None),
            ("A1", "booked", None, s.booking_id),
            ("A2", "booked", None, s.booking_id),
            ("A3", "held", s.hold_id, None),
        ]
        for seat, event, hold, booking in ledger:
            conn.execute(
                "INSERT INTO seat_ledger (show_id, seat_id, event, user_id, hold_id, booking_id, epoch, at) "
                "VALUES (%s, %s, %s, %s, %s, %s, 1, now() - interval '40 seconds')",
                (s.show_id, seat, event, s.user_id, hold, booking),
            )
    return s


def _open_waiting_room(conn: psycopg.Connection[object], show_id: str, users: list[str]) -> None:
    """A room opened a minute ago whose pre-queue is ``users``' entries in the seed's order; the first
    account gets number 1 and is admitted, the others wait."""
    seed = fairness.new_seed()
    entries = fairness.pre_queue_order(seed, [str(uuid.uuid4()) for _ in users])
    conn.execute(
        "INSERT INTO waiting_rooms (show_id, seed, commitment, opens_at, admission_window_seconds, opened_at, "
        "merkle_root, pre_queue_size, next_number, admitted_through) "
        "VALUES (%s, %s, %s, now() - interval '1 minute', 600, now() - interval '1 minute', %s, %s, %s, 1)",
        (show_id, seed, fairness.commitment(seed), fairness.merkle_root(entries), len(entries), len(entries) + 1),
    )
    for number, (entry, user) in enumerate(zip(entries, users, strict=True), start=1):
        conn.execute(
            "INSERT INTO queue_entries (id, show_id, user_id, joined_at, pre_queue, number, admitted_at) "
            "VALUES (%s, %s, %s, now() - interval '2 minutes', true, %s, "
            "CASE WHEN %s = 1 THEN now() - interval '50 seconds' END)",
            (entry, show_id, user, number, number),
        )


def _admin(url: str) -> str:
    return libpq_url(make_url(url).set(database="postgres").render_as_string(hide_password=False))


@pytest.fixture
def copy_of(server: str, scene: Scene) -> Iterator[str]:
    """A fresh copy (``CREATE DATABASE … TEMPLATE``) of the scene's database, dropped afterwards."""
    original = make_url(server).database
    assert original is not None
    name = f"lt_copy_{secrets.token_hex(5)}"
    with psycopg.connect(_admin(server), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (original,),
        )
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(original)))
    copy = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield copy
    finally:
        with psycopg.connect(_admin(server), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _seen(scene: Scene) -> HarnessCounts:
    return HarnessCounts(holds=2, bookings=1, booked_seats=2, booking_seats={scene.booking_id: ["A1", "A2"]})


def test_the_check_passes_on_a_consistent_show(server: str, scene: Scene) -> None:
    report = invariants.check(server, [scene.show_id], _seen(scene))
    assert report.ok, report.render()
    (counts,) = [s for s in report.shows if s.show_id == scene.show_id]
    assert (counts.capacity, counts.available, counts.held, counts.booked) == (6, 3, 1, 2)
    (room,) = [r for r in report.rooms if r.show_id == scene.show_id]
    assert (room.entries, room.pre_queue, room.admitted, room.lapsed_passes, room.buyers) == (3, 3, 1, 0, 1)
    assert room.sold_out_after == "not sold out"


TAMPERING = {
    "extra booking of a sold seat": (
        "INSERT INTO bookings (id, show_id, user_id, seat_ids, hold_ids, amount, status, created_at, epoch) "
        "SELECT 'extra-booking', show_id, user_id, ARRAY['A2'], ARRAY['h'], 100, 'confirmed', now(), 1 "
        "FROM bookings",
        ["one owner per seat", "claimed once", "seats add up", "paid exactly once"],
    ),
    "a booked seat's claim lost": (
        "DELETE FROM seat_claims WHERE seat_id = 'A2'",
        ["claimed once", "seats add up", "ledger"],
    ),
    "a claim on a seat that is not on the screen": (
        "INSERT INTO seat_claims (show_id, seat_id, user_id, hold_id, expires_at) "
        "SELECT show_id, 'Z9', user_id, hold_id, expires_at FROM seat_claims WHERE seat_id = 'A3'",
        ["claimed once", "ledger"],
    ),
    "a booking charged twice": (
        "INSERT INTO payments (id, show_id, user_id, hold_ids, amount, status, booking_id) "
        "SELECT 'second-' || id, show_id, user_id, hold_ids, amount, 'captured', booking_id FROM payments",
        ["paid exactly once"],
    ),
    "a ledger that says a booked seat was released": (
        "INSERT INTO seat_ledger (show_id, seat_id, event, user_id, epoch) "
        "SELECT show_id, 'A1', 'released', user_id, 1 FROM bookings",
        ["ledger"],
    ),
    "an entry admitted while an earlier one still waits": (
        "UPDATE queue_entries SET admitted_at = now() WHERE number = 3",
        ["queue order"],
    ),
    "an admission after the sell-out": (
        "UPDATE waiting_rooms SET sold_out_at = now(); "
        "UPDATE queue_entries SET admitted_at = now() + interval '1 second' WHERE number = 2",
        ["after sell-out"],
    ),
    "a hold by an account never admitted": (
        "INSERT INTO holds (id, show_id, user_id, seat_ids, amount, created_at, expires_at, status, epoch) "
        "SELECT 'stray-hold', show_id, user_id, ARRAY['A4'], 100, now(), now(), 'expired', 1 "
        "FROM queue_entries WHERE number = 3",
        ["holds admitted"],
    ),
    "a sold-out show whose room still keeps people waiting": (
        "UPDATE holds SET status = 'released' WHERE status = 'active'; "
        "DELETE FROM seat_claims WHERE hold_id IS NOT NULL; "
        "INSERT INTO seat_ledger (show_id, seat_id, event, user_id, epoch, at) "  # 30 s ago: past the grace
        "SELECT show_id, 'A3', 'released', user_id, 1, now() - interval '30 seconds' FROM bookings; "
        "INSERT INTO blocked_seats (show_id, seat_id) "
        "SELECT show_id, s FROM bookings, unnest(ARRAY['A3', 'A4', 'A5', 'A6']) AS s",
        ["waiting at sell-out"],
    ),
    "a pre-queue that is not the one its root was published for": (
        "UPDATE waiting_rooms SET merkle_root = repeat('0', 64)",
        ["fair order"],
    ),
}

CHECK_NAMES = {
    "one owner per seat": "one owner per seat",
    "claimed once": "claimed once",
    "seats add up": "= capacity",
    "ledger": "ledger",
    "paid exactly once": "paid exactly once",
    "locust": "what locust saw",
    "queue order": "admissions in queue order",
    "after sell-out": "no admission after sell-out",
    "holds admitted": "only by admitted accounts",
    "waiting at sell-out": "nobody left waiting",
    "fair order": "the committed seed's",
}


def _failed(report: invariants.Report) -> set[str]:
    names = report.violated()
    return {short for short, needle in CHECK_NAMES.items() if any(needle in n for n in names)}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_the_check_reports_each_corruption(case: str, copy_of: str, scene: Scene) -> None:
    statement, expected = TAMPERING[case]
    with psycopg.connect(libpq_url(copy_of), autocommit=True) as conn:
        conn.execute(statement)
    report = invariants.check(copy_of, [scene.show_id], _seen(scene))
    assert not report.ok, report.render()
    assert _failed(report) == set(expected), report.render()
    assert "INVARIANTS VIOLATED" in report.render()


def test_the_check_reports_bookings_locust_saw_that_the_database_lacks(server: str, scene: Scene) -> None:
    more = HarnessCounts(holds=2, bookings=2, booked_seats=3, booking_seats={"never-stored": ["A5"]})
    report = invariants.check(server, [scene.show_id], more)
    assert _failed(report) == {"locust"}, report.render()
    rendered = report.render()
    assert "bookings: database 1 < locust 2" in rendered
    assert "booking never-stored" in rendered


def test_a_waiting_list_offer_after_the_sell_out_is_no_hold_without_admission(copy_of: str, scene: Scene) -> None:
    """The waiting list (after sell-out) offers seats as holds to accounts the room never admitted: such a
    hold is not flagged; the same hold before the sell-out is."""
    stray_hold = TAMPERING["a hold by an account never admitted"][0]
    with psycopg.connect(libpq_url(copy_of), autocommit=True) as conn:
        conn.execute("UPDATE waiting_rooms SET sold_out_at = now() - interval '45 seconds'")  # after number 1
        conn.execute(
            "INSERT INTO waiting_list (id, show_id, user_id, seats, state) "
            "SELECT 'list-entry', show_id, user_id, 1, 'offered' FROM queue_entries WHERE number = 3"
        )
        conn.execute(stray_hold)
    report = invariants.check(copy_of, [scene.show_id], _seen(scene))
    assert report.ok, report.render()
    with psycopg.connect(libpq_url(copy_of), autocommit=True) as conn:
        conn.execute("UPDATE waiting_rooms SET sold_out_at = now() + interval '1 minute'")
    assert _failed(invariants.check(copy_of, [scene.show_id], _seen(scene))) == {"holds admitted"}


def test_the_order_check_reads_what_the_service_published(server: str, scene: Scene) -> None:
    """The published pre-queue is held to the seed's order, and to PostgreSQL's: a list in another order
    fails the verifier, and a self-consistent order of other entries (its own seed, root and size) is not
    the database's."""
    with psycopg.connect(libpq_url(server)) as conn:
        row = conn.execute(
            "SELECT seed, commitment, merkle_root, pre_queue_size FROM waiting_rooms WHERE show_id = %s",
            (scene.show_id,),
        ).fetchone()
        assert row is not None
        listed = conn.execute(
            "SELECT number, id FROM queue_entries WHERE show_id = %s ORDER BY number", (scene.show_id,)
        ).fetchall()
    record = dict(zip(("seed", "commitment", "merkle_root", "pre_queue_size"), row, strict=True))
    as_stored = [(int(n), str(e)) for n, e in listed]
    report = invariants.check(server, [scene.show_id], _seen(scene), {scene.show_id: (record, as_stored)})
    assert report.ok, report.render()

    swapped = [(1, as_stored[1][1]), (2, as_stored[0][1]), as_stored[2]]
    report = invariants.check(server, [scene.show_id], _seen(scene), {scene.show_id: (record, swapped)})
    assert _failed(report) == {"fair order"}, report.render()
    assert "sha256(seed:entry_id)" in report.render()

    seed = fairness.new_seed()
    others = fairness.pre_queue_order(seed, [str(uuid.uuid4()) for _ in range(3)])
    forged = {
        "seed": seed,
        "commitment": fairness.commitment(seed),
        "merkle_root": fairness.merkle_root(others),
        "pre_queue_size": 3,
    }
    report = invariants.check(
        server, [scene.show_id], _seen(scene), {scene.show_id: (forged, list(enumerate(others, start=1)))}
    )
    assert _failed(report) == {"fair order"}, report.render()
    assert "not PostgreSQL's" in report.render()


def test_the_invariants_command_exits_non_zero_on_a_violation(copy_of: str, scene: Scene) -> None:
    with psycopg.connect(libpq_url(copy_of), autocommit=True) as conn:
        conn.execute(TAMPERING["extra booking of a sold seat"][0])
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.invariants", copy_of],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INVARIANTS VIOLATED" in result.stdout
    assert "booking extra-booking" in result.stdout
