"""A crowd on a few seats, through HTTP: every seat gets at most one owner, losers get 409, nobody a 5xx.

The same checker runs first against a deliberately racy server (check, then await, then take — a
hand-rolled lock-free design) to prove it catches a double sale when there is one; and the database
constraint is shown to refuse a double claim even when two actor copies bypass the serialization.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from harness.stand_in import serve_in_thread
from settings import libpq_url
from tests.api_client import ShowFixture, bulk_users, create_show, hold_body, seed_headers
from tests.conftest import Backing, Service

CROWD = 200
HOT_SEATS = ["A1", "A2", "A3", "A4", "A5"]


async def crowd_holds(base_url: str, show: ShowFixture, tokens: list[str], seed: int) -> list[tuple[int, list[str]]]:
    """Every client at once asks for 1–2 random hot seats. Returns (status, seats asked) per client."""
    rng = random.Random(seed)
    wanted = [rng.sample(HOT_SEATS, rng.randint(1, 2)) for _ in tokens]
    start = asyncio.Event()
    limits = httpx.Limits(max_connections=CROWD, max_keepalive_connections=CROWD)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def one(token: str, seats: list[str]) -> tuple[int, list[str]]:
            await start.wait()
            response = await client.post(
                f"/HoldSeat/api/v0/{show.movie_id}", headers=seed_headers(token), json=hold_body(show, seats)
            )
            return response.status_code, seats

        tasks = [asyncio.create_task(one(t, s)) for t, s in zip(tokens, wanted, strict=True)]
        await asyncio.sleep(0.1)
        start.set()
        return await asyncio.gather(*tasks)


def double_sold(results: list[tuple[int, list[str]]]) -> dict[str, int]:
    """Seats that more than one successful hold claims."""
    owners = Counter(seat for status, seats in results if status == 200 for seat in seats)
    return {seat: n for seat, n in owners.items() if n > 1}


# -- negative control: the checker catches a racy design --------------------------------------------------


def racy_app() -> FastAPI:
    app = FastAPI()
    owner: dict[str, str] = {}

    @app.post("/HoldSeat/api/v0/{movie_id}")
    async def hold(movie_id: str, body: dict[str, Any]) -> Any:
        seats = body["selected_seat"]
        if any(s in owner for s in seats):
            return JSONResponse({"detail": "taken"}, status_code=409)
        await asyncio.sleep(0.01)  # the gap between "check" and "take" that real I/O opens
        for s in seats:
            owner[s] = "someone"
        return {"ok": True}

    return app


@pytest.fixture
def racy_server() -> Iterator[str]:
    with serve_in_thread(racy_app()) as url:
        yield url


def test_negative_control_checker_catches_a_racy_design(racy_server: str) -> None:
    show = ShowFixture("00000000-0000-0000-0000-000000000000", "m" * 36, "t" * 36, "s", HOT_SEATS)
    results = asyncio.run(crowd_holds(racy_server, show, ["x"] * CROWD, seed=1))
    assert double_sold(results), "the racy server should have sold a seat twice; the checker would be blind"


# -- the real service ---------------------------------------------------------------------------------------


def test_crowd_on_few_seats_gets_one_owner_per_seat(live_service: Service, backing: Backing) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
    users = bulk_users(backing.database_url, CROWD)
    results = asyncio.run(crowd_holds(live_service.base_url, show, [t for _, t in users], seed=2))

    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {200, 409}, statuses
    assert statuses[200] >= 1
    assert double_sold(results) == {}

    # The database agrees: one claim per seat, owned by the hold that was acknowledged, and the ledger
    # recorded exactly the acknowledged holds.
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        claims = conn.execute(
            "SELECT seat_id, count(*) FROM seat_claims WHERE show_id = %s GROUP BY seat_id", (show.show_id,)
        ).fetchall()
        held_events = conn.execute(
            "SELECT count(*) FROM seat_ledger WHERE show_id = %s AND event = 'held'", (show.show_id,)
        ).fetchone()
    assert all(n == 1 for _, n in claims)
    acknowledged_seats = sum(len(seats) for status, seats in results if status == 200)
    assert {seat for seat, _ in claims} == {s for status, seats in results if status == 200 for s in seats}
    assert held_events is not None
    assert held_events[0] == acknowledged_seats


def test_constraint_refuses_a_double_claim_that_bypasses_the_actor(live_service: Service, backing: Backing) -> None:
    """Two 'actor copies' with the same epoch each believe A1 is free: PostgreSQL lets only one win."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from actors.seat_map_core import Hold, SeatsHeld
    from persistence.show_store import ShowStore

    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
    (user_a, _), (user_b, _) = bulk_users(backing.database_url, 2)

    async def race() -> list[BaseException | None]:
        stores = [ShowStore(backing.database_url, 5.0), ShowStore(backing.database_url, 5.0)]
        stored = await stores[0].activate(show.show_id)
        now = datetime.now(UTC)

        def held(hold_id: str, user: str) -> SeatsHeld:
            return SeatsHeld(Hold(hold_id, user, ("A1",), now, now + timedelta(minutes=10), Decimal(250)))

        import uuid

        results = await asyncio.gather(
            stores[0].commit(show.show_id, stored.epoch, [held(str(uuid.uuid4()), user_a)]),
            stores[1].commit(show.show_id, stored.epoch, [held(str(uuid.uuid4()), user_b)]),
            return_exceptions=True,
        )
        for store in stores:
            await store.close()
        return list(results)

    outcomes = asyncio.run(race())
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1, outcomes
    assert isinstance(failures[0], psycopg.errors.UniqueViolation)
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM seat_claims WHERE show_id = %s AND seat_id = 'A1'", (show.show_id,)
        ).fetchone()
    assert row is not None
    assert row[0] == 1
