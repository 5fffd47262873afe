"""The reliability suite in CI: the short version of scenarios 1, 2, 10, 11 and 12, and their controls.

The scenarios run through ``reliability.core.run_suite`` as ``python -m reliability --shared`` runs them
(one env where they allow it: start-up dominates a short run), in two lanes at once; every figure must
meet its bound. The negative controls are also tested on their own, so a detector that went blind fails here
by name: the double-sale detectors against racy designs, the history checker against corrupted
histories, and the reconciliation against a database corrupted on purpose. The fault-injection
scenarios (3–9) have their own runs; this file does not depend on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from reliability.core import ScenarioResult, format_table, run_suite
from reliability.env import Env, reconcile_database
from reliability.scenarios import s01_hot_seat, s02_seat_history
from settings import libpq_url
from tests.conftest import Backing

MINE = (1, 2, 10, 11, 12)


# Two lanes, each one shared env: schemathesis (10) is as long as the other four together.
LANES = ((10,), (1, 2, 11, 12))


@pytest.fixture(scope="module")
def results(backing: Backing) -> list[ScenarioResult]:
    """``backing`` first: the session's Ray is the conftest's, which the suite then joins."""
    with ThreadPoolExecutor(max_workers=len(LANES), thread_name_prefix="lane") as pool:
        lanes = list(pool.map(lambda lane: run_suite(lane, full=False, progress=print, shared=True), LANES))
    found = sorted((r for lane in lanes for r in lane), key=lambda r: r.number)
    print(format_table(found))
    return found


@pytest.mark.parametrize("number", MINE)
def test_short_scenario_meets_every_bound(results: list[ScenarioResult], number: int) -> None:
    (result,) = [r for r in results if r.number == number]
    missed = [f for f in result.figures if not f.ok]
    assert result.figures, f"scenario {number} reported nothing"
    assert not missed, missed
    assert any(f.name.startswith("reconcile:") for f in result.figures), "every scenario ends reconciled"


def test_double_sale_detector_sees_a_check_then_set_server() -> None:
    assert s01_hot_seat.negative_control_http(clients=60) > 0


def test_history_checker_flags_every_corrupted_history_and_accepts_valid_ones() -> None:
    flagged, total = s02_seat_history.negative_controls()
    assert flagged == total
    accepted, valid = s02_seat_history.sanity_controls()
    assert accepted == valid


@pytest.fixture(scope="module")
def env(backing: Backing) -> Iterator[Env]:
    with Env(0) as environment:
        yield environment


def test_database_detector_sees_read_then_insert(env: Env) -> None:
    assert s01_hot_seat.negative_control_db(env.database_url) > 0


def test_reconciliation_flags_a_corrupted_database(env: Env) -> None:
    """A booking nobody paid for, whose seat is also claimed by nobody's hold: every check must fire."""
    from tests.api_client import bulk_users, create_show

    service = env.start_service()
    with service.client() as client:
        show = create_show(client)
    ((user, _),) = bulk_users(env.database_url, 1)
    assert reconcile_database(env.database_url)["bad_shows"] == 0
    booking = str(uuid.uuid4())
    with psycopg.connect(libpq_url(env.database_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO bookings (id, show_id, user_id, seat_ids, hold_ids, amount, status, created_at, epoch) "
            "VALUES (%s, %s, %s, ARRAY['A1', 'A2'], ARRAY[]::varchar[], 500, 'confirmed', now(), 0)",
            (booking, show.show_id, user),
        )
        conn.execute(
            "INSERT INTO seat_claims (show_id, seat_id, user_id, booking_id) VALUES (%s, 'A1', %s, %s)",
            (show.show_id, user, booking),
        )
    audit = reconcile_database(env.database_url)
    assert audit["bad_shows"] == 1  # A1 and A2 counted as booked, and A2 also as available
    assert audit["bad_claims"] == 1  # A2 of the booking has no claim
    assert audit["unpaid_bookings"] == 1
    figures = {f.name: f for f in env.reconcile(settle_timeout=1)}
    assert not figures["reconcile: bookings without a captured payment"].ok
