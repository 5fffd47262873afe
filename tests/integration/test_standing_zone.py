"""A crowd on a standing zone, through HTTP: the places granted never exceed the zone's capacity, no place is
granted twice, losers get 409 (never a 5xx), and PostgreSQL's count of the zone agrees.

The same checker runs first against a deliberately racy stand-in (count the free places, await, then take
them: a hand-rolled lock-free design) to prove it catches an over-full zone when there is one; and
PostgreSQL's own guard (``show_zones``: a trigger-kept ``taken`` bounded by a CHECK, migration 0016) is
shown to refuse claims beyond the capacity, and claims in a zone the show does not have, written straight
into ``seat_claims`` past the show's actor.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from harness.client import bearer, bulk_users
from harness.stadium import Stadium, create_stadium_show
from harness.stand_in import serve_in_thread
from settings import libpq_url
from tests.conftest import Backing, Service

CROWD = 150
CAPACITY = 50
ZONE = "FLA"
# A small venue: one seated block beside the standing zone the crowd is after.
VENUE = Stadium(blocks=1, rows=2, seats_per_row=5, standing=CAPACITY, standing_code=ZONE)


@dataclass(frozen=True, slots=True)
class Answer:
    """One client's request (how many places) and the answer (status, places granted)."""

    asked: int
    status: int
    places: tuple[str, ...]
    problem: str = ""  # a refusal's problem type, its last path segment


async def crowd_on_zone(base_url: str, show_id: str, tokens: list[str], seed: int) -> list[Answer]:
    """Every client at once asks for 1–4 places of the zone."""
    rng = random.Random(seed)
    wanted = [rng.randint(1, 4) for _ in tokens]
    start = asyncio.Event()
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def one(token: str, count: int) -> Answer:
            await start.wait()
            response = await client.post(
                f"/api/v1/shows/{show_id}/holds", headers=bearer(token), json={"count": count, "section": ZONE}
            )
            body = response.json() if response.headers.get("content-type", "").endswith("json") else {}
            granted = tuple(body["seats"]) if response.status_code == 201 else ()
            problem = str(body.get("type", "")).rsplit("/", 1)[-1] if response.status_code != 201 else ""
            return Answer(count, response.status_code, granted, problem)

        tasks = [asyncio.create_task(one(t, n)) for t, n in zip(tokens, wanted, strict=True)]
        await asyncio.sleep(0.1)
        start.set()
        return await asyncio.gather(*tasks)


def zone_violations(answers: list[Answer], capacity: int) -> list[str]:
    """What is wrong with the crowd's answers (nothing, for a correct server)."""
    problems: list[str] = []
    statuses = Counter(a.status for a in answers)
    if not set(statuses) <= {201, 409}:
        problems.append(f"statuses other than 201/409: {dict(statuses)}")
    granted = [p for a in answers if a.status == 201 for p in a.places]
    if len(granted) > capacity:
        problems.append(f"{len(granted)} places granted in a zone of {capacity}")
    twice = {p: n for p, n in Counter(granted).items() if n > 1}
    if twice:
        problems.append(f"places granted more than once: {sorted(twice)[:5]}…")
    short = [a for a in answers if a.status == 201 and len(a.places) != a.asked]
    if short:
        problems.append(f"{len(short)} answers granted another number of places than asked")
    # Nothing is given back during the crowd, so the free count only falls: a refusal while the final
    # count still had room for it would be a false 409.
    left = capacity - len(granted)
    wrongly_refused = [a.asked for a in answers if a.status == 409 and a.asked <= left]
    if wrongly_refused:
        problems.append(f"refused although {left} places were left: {wrongly_refused}")
    return problems


# -- negative control: the checker catches a racy design --------------------------------------------------


def racy_app(capacity: int) -> FastAPI:
    app = FastAPI()
    taken: set[str] = set()

    @app.post("/api/v1/shows/{show_id}/holds")
    async def hold(show_id: str, body: dict[str, Any]) -> Any:
        free = [f"{ZONE}-{n}" for n in range(1, capacity + 1) if f"{ZONE}-{n}" not in taken]
        if len(free) < body["count"]:
            return JSONResponse({"detail": "not enough places"}, status_code=409)
        chosen = free[: body["count"]]
        await asyncio.sleep(0.01)  # the gap between "count" and "take" that real I/O opens
        taken.update(chosen)
        return JSONResponse({"seats": chosen}, status_code=201)

    return app


@pytest.fixture
def racy_server() -> Iterator[str]:
    with serve_in_thread(racy_app(CAPACITY)) as url:
        yield url


def test_negative_control_checker_catches_an_over_full_zone(racy_server: str) -> None:
    answers = asyncio.run(crowd_on_zone(racy_server, "s" * 36, ["x"] * CROWD, seed=1))
    problems = zone_violations(answers, CAPACITY)
    assert any("granted in a zone of" in p for p in problems), problems
    assert any("more than once" in p for p in problems), problems


# -- the real service ---------------------------------------------------------------------------------------


def test_crowd_on_a_standing_zone_never_overfills_it(live_service: Service, backing: Backing) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=60) as client:
        show = create_stadium_show(client, VENUE)
    assert len([s for s in show.seats if s.startswith(f"{ZONE}-")]) == CAPACITY
    users = bulk_users(backing.database_url, CROWD)
    answers = asyncio.run(crowd_on_zone(live_service.base_url, show.show_id, [t for _, t in users], seed=2))

    assert zone_violations(answers, CAPACITY) == []
    granted = {p for a in answers if a.status == 201 for p in a.places}
    assert granted <= {f"{ZONE}-{n}" for n in range(1, CAPACITY + 1)}
    statuses = Counter(a.status for a in answers)
    assert statuses[201] >= 1
    assert statuses[409] >= 1  # some 375 places were asked for 50
    assert {a.problem for a in answers if a.status == 409} == {"not-enough-places"}

    # PostgreSQL agrees: the zone's trigger-kept count is the number of claimed places, which are exactly
    # the acknowledged ones, within the capacity.
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        zone = conn.execute(
            "SELECT taken, capacity FROM show_zones WHERE show_id = %s AND zone = %s", (show.show_id, ZONE)
        ).fetchone()
        claimed = conn.execute(
            "SELECT seat_id FROM seat_claims WHERE show_id = %s AND seat_id LIKE %s", (show.show_id, f"{ZONE}-%")
        ).fetchall()
    assert zone is not None
    assert zone[1] == CAPACITY
    assert zone[0] == len(claimed) <= CAPACITY
    assert {seat for (seat,) in claimed} == granted


def test_a_refusal_names_the_free_count(live_service: Service, backing: Backing) -> None:
    """A 409 on a standing zone is ``not-enough-places`` and takes nothing."""
    with httpx.Client(base_url=live_service.base_url, timeout=60) as client:
        show = create_stadium_show(client, Stadium(blocks=1, rows=1, seats_per_row=4, standing=3, standing_code=ZONE))
        (_, first), (_, second) = bulk_users(backing.database_url, 2)
        url = f"/api/v1/shows/{show.show_id}/holds"
        held = client.post(url, headers=bearer(first), json={"count": 2, "section": ZONE})
        assert held.status_code == 201, held.text
        refused = client.post(url, headers=bearer(second), json={"count": 2, "section": ZONE})
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("not-enough-places"), refused.json()
        assert client.get(url, headers=bearer(second)).json() == []
        last = client.post(url, headers=bearer(second), json={"count": 1, "section": ZONE})
        assert last.status_code == 201, last.text
        assert not set(last.json()["seats"]) & set(held.json()["seats"])


# -- PostgreSQL's own guard ------------------------------------------------------------------------------------


def test_database_refuses_claims_beyond_a_zones_capacity(live_service: Service, backing: Backing) -> None:
    """Claims written straight into ``seat_claims`` (no actor, no core): the zone's CHECK refuses the
    transaction that would put one more person in a full zone, and a claim in a zone the show lacks."""
    capacity = 5
    with httpx.Client(base_url=live_service.base_url, timeout=60) as client:
        show = create_stadium_show(
            client, Stadium(blocks=1, rows=1, seats_per_row=4, standing=capacity, standing_code="GA")
        )
    ((user, _),) = bulk_users(backing.database_url, 1)
    hold_id = str(uuid.uuid4())
    now = datetime.now(UTC)

    def claim(conn: psycopg.Connection[Any], places: list[str]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO seat_claims (show_id, seat_id, user_id, hold_id, expires_at) VALUES (%s, %s, %s, %s, %s)",
                [(show.show_id, p, user, hold_id, now + timedelta(minutes=10)) for p in places],
            )

    def taken(conn: psycopg.Connection[Any]) -> tuple[int, int]:
        row = conn.execute(
            "SELECT taken, (SELECT count(*) FROM seat_claims WHERE show_id = %s AND seat_id LIKE 'GA-%%') "
            "FROM show_zones WHERE show_id = %s AND zone = 'GA'",
            (show.show_id, show.show_id),
        ).fetchone()
        assert row is not None
        return row[0], row[1]

    with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
        # A released hold row for the claims to name (seat_claims.hold_id is a foreign key); no sweeper
        # looks at released holds.
        conn.execute(
            "INSERT INTO holds (id, show_id, user_id, seat_ids, amount, created_at, expires_at, extensions, "
            "status, epoch, fee) VALUES (%s, %s, %s, %s, 0, %s, %s, 0, 'released', 0, 0)",
            (hold_id, show.show_id, user, [f"GA-{n}" for n in range(1, capacity + 2)], now, now),
        )
        try:
            # One more than the capacity in one transaction: refused whole.
            with pytest.raises(psycopg.errors.CheckViolation):
                claim(conn, [f"GA-{n}" for n in range(1, capacity + 2)])
            assert taken(conn) == (0, 0)
            # Exactly the capacity: accepted, and counted.
            claim(conn, [f"GA-{n}" for n in range(1, capacity + 1)])
            assert taken(conn) == (capacity, capacity)
            # One more, even under an id no place has: refused; the zone stays full, not over-full.
            with pytest.raises(psycopg.errors.CheckViolation):
                claim(conn, [f"GA-{capacity + 1}"])
            assert taken(conn) == (capacity, capacity)
            # A place of a zone this show does not have.
            with pytest.raises(psycopg.errors.CheckViolation, match="in no zone of the show"):
                claim(conn, ["ZZ-1"])
            # Seated ids are no zone's business.
            claim(conn, ["101-A-1"])
            # A claim that ends gives its place back to the count.
            conn.execute("DELETE FROM seat_claims WHERE show_id = %s AND seat_id = 'GA-1'", (show.show_id,))
            assert taken(conn) == (capacity - 1, capacity - 1)
            claim(conn, ["GA-1"])
            assert taken(conn) == (capacity, capacity)
        finally:
            conn.execute("DELETE FROM seat_claims WHERE hold_id = %s", (hold_id,))
            conn.execute("DELETE FROM holds WHERE id = %s", (hold_id,))
        assert taken(conn) == (0, 0)
