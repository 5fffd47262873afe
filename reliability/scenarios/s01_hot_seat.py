"""Scenario 1: hot-seat contention, with negative controls that prove the detectors can see a double sale.

A crowd of buyers arrives at once for a handful of seats; every buyer holds one or two of them and pays
at once when the hold is granted. Two detectors count seats sold more than once: one over the answers the
buyers got (two acknowledged bookings naming one seat), one over the database (one seat in two confirmed
bookings). Both must find nothing on the real service.

A detector that never fires proves nothing, so both are first run against designs that do race:

- the answer detector against a tiny in-file HTTP server that checks, awaits, then takes (the gap real
  I/O opens between "is it free?" and "it is mine"), driven by the very same crowd code;
- the database detector against a read-then-insert into a table without a uniqueness constraint, in the
  scenario's own database, raced from many connections.

Each must count more than zero double sales, or the scenario fails.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from harness.client import bulk_users, create_show
from harness.stand_in import serve_in_thread
from reliability.env import Env
from reliability.figures import Figure, informational, zero
from settings import libpq_url

HOT_SEATS = ["A1", "A2", "A3", "A4", "A5"]
CARD = "4242424242424242"


@dataclass
class Round:
    """What one crowd saw: every answer's status, and the seats each acknowledged booking named."""

    statuses: Counter[int] = field(default_factory=Counter)
    booked: list[list[str]] = field(default_factory=list)
    holds_won: int = 0


def double_sold(bookings: Iterable[Iterable[str]]) -> dict[str, int]:
    """The answer detector: seats that more than one acknowledged booking names."""
    owners = Counter(seat for seats in bookings for seat in set(seats))
    return {seat: n for seat, n in owners.items() if n > 1}


DOUBLE_SOLD_SQL = (
    "SELECT seat, count(*) FROM {table}, unnest(seat_ids) AS seat "
    "WHERE show_id = ANY(%s) AND status = 'confirmed' GROUP BY show_id, seat HAVING count(*) > 1"
)


def db_double_sold(database_url: str, show_ids: list[str], table: str = "bookings") -> int:
    """The database detector: seats that appear in more than one confirmed booking of their show."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(sql.SQL(DOUBLE_SOLD_SQL).format(table=sql.Identifier(table)), (show_ids,)).fetchall()
    return len(rows)


async def crowd(base_url: str, show_id: str, tokens: list[str], seed: int) -> Round:
    """Every buyer at once holds 1–2 random hot seats, and pays at once if the hold was granted."""
    rng = random.Random(seed)
    wanted = [rng.sample(HOT_SEATS, rng.randint(1, 2)) for _ in tokens]
    result = Round()
    start = asyncio.Event()
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def one(token: str, seats: list[str]) -> None:
            auth = {"Authorization": f"Bearer {token}"}
            await start.wait()
            held = await client.post(f"/api/v1/shows/{show_id}/holds", headers=auth, json={"seats": seats})
            result.statuses[held.status_code] += 1
            if held.status_code != 201:
                return
            result.holds_won += 1
            paid = await client.post(
                f"/api/v1/shows/{show_id}/holds/pay", headers=auth, json={"payment_info": {"card_number": CARD}}
            )
            result.statuses[paid.status_code] += 1
            if paid.status_code == 200:
                body = paid.json()
                result.booked.append(list(body.get("seats") or body.get("selected_seat") or seats))

        tasks = [asyncio.create_task(one(t, s)) for t, s in zip(tokens, wanted, strict=True)]
        await asyncio.sleep(0.1)
        start.set()
        await asyncio.gather(*tasks)
    return result


# -- negative control 1: a check-then-set server ----------------------------------------------------------


def racy_app() -> FastAPI:
    """Holds and pays like the service, but checks, awaits, then takes: no serialization, no constraint."""
    app = FastAPI()
    owner: dict[str, str] = {}
    holds: dict[str, list[str]] = {}

    @app.post("/api/v1/shows/{show_id}/holds")
    async def hold(show_id: str, body: dict[str, Any]) -> Any:
        seats: list[str] = body["seats"]
        if any(s in owner for s in seats):
            return JSONResponse({"detail": "taken"}, status_code=409)
        await asyncio.sleep(0.01)  # the gap between "check" and "take" that real I/O opens
        hold_id = f"h{len(holds)}"
        for s in seats:
            owner[s] = hold_id
        holds[hold_id] = seats
        return JSONResponse({"id": hold_id, "seats": seats}, status_code=201)

    @app.post("/api/v1/shows/{show_id}/holds/pay")
    async def pay(show_id: str) -> Any:
        await asyncio.sleep(0.001)
        return {"status": "confirmed", "booking_id": "b", "seats": []}

    return app


def racy_server() -> AbstractContextManager[str]:
    """The racy app served in a thread: its base URL for the length of a ``with`` block."""
    return serve_in_thread(racy_app())


def negative_control_http(clients: int = 100) -> int:
    """Double sales the answer detector finds when the same crowd hits the racy server (must be > 0).

    The racy server answers a booking with no seat list, so the crowd falls back to the seats it held,
    exactly what a client believes it bought."""
    with racy_server() as url:
        seen = asyncio.run(crowd(url, "racy", ["x"] * clients, seed=1))
    return len(double_sold(seen.booked))


# -- negative control 2: read-then-insert without a constraint --------------------------------------------


def negative_control_db(database_url: str, writers: int = 40) -> int:
    """Double sales the database detector finds after a read-then-insert race (must be > 0)."""
    table = "reliability_racy_bookings"
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id serial PRIMARY KEY, show_id text, seat_ids text[], status text)"
            ).format(sql.Identifier(table))
        )
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))

    async def race() -> None:
        async with AsyncConnectionPool(libpq_url(database_url), min_size=8, max_size=8, open=False) as pool:
            await pool.open(wait=True)
            start = asyncio.Event()

            async def writer(seat: str) -> None:
                await start.wait()
                async with pool.connection() as conn:
                    taken = await (
                        await conn.execute(
                            sql.SQL(
                                "SELECT 1 FROM {} WHERE show_id = 'racy' AND status = 'confirmed' "
                                "AND %s = ANY(seat_ids)"
                            ).format(sql.Identifier(table)),
                            (seat,),
                        )
                    ).fetchone()
                    if taken is None:
                        await asyncio.sleep(0.005)
                        await conn.execute(
                            sql.SQL(
                                "INSERT INTO {} (show_id, seat_ids, status) VALUES ('racy', %s, 'confirmed')"
                            ).format(sql.Identifier(table)),
                            ([seat],),
                        )

            tasks = [asyncio.create_task(writer(HOT_SEATS[i % 2])) for i in range(writers)]
            await asyncio.sleep(0.05)
            start.set()
            await asyncio.gather(*tasks)

    asyncio.run(race())
    return db_double_sold(database_url, ["racy"], table)


# -- the scenario -----------------------------------------------------------------------------------------


class HotSeat:
    number = 1
    title = "hot-seat contention"

    def run(self, env: Env, full: bool) -> list[Figure]:
        n = self.number
        rounds, clients = (6, 300) if full else (1, 120)
        figures = [
            Figure(n, "negative control: double sales found on a check-then-set server", negative_control_http(),
                   "> 0", False),
            Figure(n, "negative control: double sales found after read-then-insert", negative_control_db(
                env.database_url), "> 0", False),
        ]  # fmt: skip
        figures = [Figure(f.scenario, f.name, f.value, f.bound, int(f.value) > 0) for f in figures]

        service = env.start_service()
        with service.client() as client:
            shows = [create_show(client) for _ in range(rounds)]
        users = bulk_users(env.database_url, clients)
        total = Round()
        acknowledged_doubles = 0
        for i, show in enumerate(shows):
            env.log(f"round {i + 1}/{rounds}: {clients} buyers on {len(HOT_SEATS)} seats")
            seen = asyncio.run(crowd(service.base_url, show.show_id, [t for _, t in users], seed=100 + i))
            acknowledged_doubles += len(double_sold(seen.booked))
            total.statuses.update(seen.statuses)
            total.booked.extend(seen.booked)
            total.holds_won += seen.holds_won
        unexpected = sum(c for status, c in total.statuses.items() if status not in (200, 201, 409))
        figures += [
            zero(n, "seats sold more than once (acknowledged answers)", acknowledged_doubles),
            zero(n, "seats sold more than once (confirmed bookings in PostgreSQL)",
                 db_double_sold(env.database_url, [s.show_id for s in shows])),
            zero(n, "answers other than 200/201/409 (5xx, lost races not 409)", unexpected),
            informational(n, "buyers / holds granted / bookings", f"{rounds * clients} / {total.holds_won} / "
                          f"{len(total.booked)}"),
        ]  # fmt: skip
        booked_seats = sum(len(set(seats)) for seats in total.booked)
        # Informational: a seat can stay unsold when every request naming it also named a taken one.
        figures.append(informational(n, "hot seats sold", f"{booked_seats}/{len(shows) * len(HOT_SEATS)}"))
        return figures


SCENARIO = HotSeat()
