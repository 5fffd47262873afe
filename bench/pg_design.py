"""Baseline 4 of the comparison benchmark: a PostgreSQL row-lock design, one transaction per request.

What a team would write with only PostgreSQL: a ``bench_pg_seats`` table with one row per (show, seat),
and per hold request one transaction running a conditional ``UPDATE … SET holder, until WHERE show_id =
… AND seat_id = ANY(…) AND (holder IS NULL OR until < now())``; it commits only if every requested seat
was updated (rowcount), else rolls back and answers 409. Row locks serialise competing requests: a loser
waits for the winner's commit, re-checks the row and updates nothing. Durable on commit, like the
service, but with a commit (and three round trips) per request instead of per batch.

Served on the same HTTP stack as the service (uvicorn, uvloop, httptools, FastAPI, the same
``SeedHoldIn`` body and ``POST /HoldSeat/api/v0/{movie_id}`` path) through a psycopg async pool.
``GET /api/v1/shows/{id}/seats`` answers a seat map in the service's shape straight from the table.

Configured by ``PG_DESIGN_URL`` (libpq URL) and ``PG_DESIGN_POOL`` (``python -m uvicorn
bench.pg_design:app``), or built with ``create_app`` (tests). ``setup_schema`` and ``load_show`` prepare
the table; ``held_seats`` reads it back for the double-sale audit.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from api.schemas import SeedHoldIn
from bench.design_answers import HOLD_SECONDS, hold_answer, seat_map_answer

DEADLOCK_RETRIES = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_pg_seats (
    show_id text NOT NULL,
    seat_id text NOT NULL,
    position int NOT NULL,
    seat_row text NOT NULL,
    number int NOT NULL,
    category text NOT NULL,
    price numeric NOT NULL,
    holder text,
    until timestamptz,
    PRIMARY KEY (show_id, seat_id)
)
"""

HOLD = (
    "UPDATE bench_pg_seats SET holder = %s, until = now() + make_interval(secs => %s) "
    "WHERE show_id = %s AND seat_id = ANY(%s) AND (holder IS NULL OR until < now())"
)

SEAT_MAP = (
    "SELECT seat_id, seat_row, number, category, price::float8, holder IS NOT NULL AND until >= now() "
    "FROM bench_pg_seats WHERE show_id = %s ORDER BY position"
)


def setup_schema(conn: psycopg.Connection[Any]) -> None:
    conn.execute(SCHEMA)


def load_show(conn: psycopg.Connection[Any], show_id: str, seats: list[dict[str, Any]]) -> None:
    """Insert a show's seats (``[{id, row, number, category, price}]``), all free."""
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY bench_pg_seats (show_id, seat_id, position, seat_row, number, category, price) FROM STDIN"
        ) as copy,
    ):
        for position, s in enumerate(seats):
            copy.write_row((show_id, s["id"], position, s["row"], s["number"], s["category"], s["price"]))


def held_seats(conn: psycopg.Connection[Any], show_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    """Every live hold of these shows: ``(show, seat) -> holder`` (for the double-sale audit)."""
    rows = conn.execute(
        "SELECT show_id, seat_id, holder FROM bench_pg_seats "
        "WHERE show_id = ANY(%s) AND holder IS NOT NULL AND until >= now()",
        (list(show_ids),),
    ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def create_app(database_url: str, pool_size: int = 16) -> FastAPI:
    state: dict[str, AsyncConnectionPool[Any]] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url, min_size=pool_size, max_size=pool_size, open=False
        )
        await pool.open(wait=True)
        state["pool"] = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    async def try_hold(show_id: str, seats: list[str], holder: str) -> bool:
        for attempt in range(DEADLOCK_RETRIES):
            try:
                async with state["pool"].connection() as conn, conn.transaction() as tx:
                    cur = await conn.execute(HOLD, (holder, HOLD_SECONDS, show_id, seats))
                    if cur.rowcount == len(seats):
                        return True
                    raise psycopg.Rollback(tx)
            except psycopg.errors.DeadlockDetected:
                if attempt == DEADLOCK_RETRIES - 1:
                    raise
        return False

    @app.post("/HoldSeat/api/v0/{movie_id}")
    async def hold(movie_id: str, body: SeedHoldIn, authorizationtoken: str = Header()) -> Any:
        show_id = body.event_id or movie_id
        if len(set(body.selected_seat)) != len(body.selected_seat):
            return JSONResponse({"detail": "a seat is named twice"}, status_code=422)
        if not await try_hold(show_id, body.selected_seat, authorizationtoken):
            return JSONResponse({"detail": "taken", "seats": body.selected_seat}, status_code=409)
        return hold_answer(show_id, body.selected_seat)

    @app.get("/api/v1/shows/{show_id}/seats")
    async def seat_map(show_id: str) -> Any:
        async with state["pool"].connection() as conn:
            rows = await (await conn.execute(SEAT_MAP, (show_id,))).fetchall()
        if not rows:
            return JSONResponse({"detail": "unknown show"}, status_code=404)
        seats = [
            {
                "id": r[0],
                "row": r[1],
                "number": r[2],
                "status": "held" if r[5] else "available",
                "category": r[3],
                "price": r[4],
            }
            for r in rows
        ]
        return seat_map_answer(show_id, seats, "database")

    return app


def __getattr__(name: str) -> FastAPI:
    """``bench.pg_design:app`` for uvicorn, configured from the environment when first asked for."""
    if name == "app":
        app = create_app(os.environ["PG_DESIGN_URL"], int(os.environ.get("PG_DESIGN_POOL", "16")))
        globals()["app"] = app
        return app
    raise AttributeError(name)
