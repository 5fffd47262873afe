"""The operators' load-test harness (``python -m loadtest``, docs/loadtest.md), run the documented way.

A smoke run of the real command (the service started by the harness on throwaway services, or on
``DATABASE_URL`` / ``REDIS_URL`` when set; a handful of users for a few seconds) must pass its invariant
check and leave the CSV and HTML reports. The negative controls prove the check can fail: a consistent
little show written straight into PostgreSQL passes, and every corruption of a copy of it (an extra
booking of a sold seat, a lost claim, a claim on a seat that does not exist, a second captured payment,
a ledger that disagrees, a booking locust saw that the database lacks) is reported by the check meant
to catch it, with a non-zero exit from ``python -m loadtest.invariants``.
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

ROOT = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT_SECONDS = 180  # a hang guard only


def _stats(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def test_smoke_run_of_the_documented_command(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "loadtest",
        "--shape",
        "flash-sale",
        "--users",
        "6",
        "--run-time",
        "5s",
        "--rows",
        "4",
        "--seats-per-row",
        "8",
        "--stop-timeout",
        "3",
        "--output",
        str(out),
    ]
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
    assert int(stats["hold best"]["Request Count"]) > 0, "the crowd asked for the best seats"
    assert "INVARIANTS HOLD" in (out / "invariants.txt").read_text()
    # Wall time is not asserted (speed is the benchmark's business); on an idle 2-core box it is ~30 s.
    print(f"smoke run: {elapsed:.0f}s")


# -- negative controls ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """A show of 6 seats (A1–A6): A1, A2 booked and paid; A3 held; A4–A6 available."""

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
    with psycopg.connect(libpq_url(server), autocommit=True) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO users (id, email, name, password_hash, role) VALUES (%s, %s, 'n', 'x', 'customer')",
            (s.user_id, f"lt-{s.user_id}@example.com"),
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
            "epoch) VALUES (%s, %s, %s, %s, now() + interval '1 day', '{\"standard\": \"100\"}', 600, 'on_sale', 1)",
            (s.show_id, movie, theater, screen),
        )
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
                "INSERT INTO seat_ledger (show_id, seat_id, event, user_id, hold_id, booking_id, epoch) "
                "VALUES (%s, %s, %s, %s, %s, %s, 1)",
                (s.show_id, seat, event, s.user_id, hold, booking),
            )
    return s


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
}

CHECK_NAMES = {
    "one owner per seat": "one owner per seat",
    "claimed once": "claimed once",
    "seats add up": "= capacity",
    "ledger": "ledger",
    "paid exactly once": "paid exactly once",
    "locust": "what locust saw",
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
