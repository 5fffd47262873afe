"""Baseline 3 of the comparison benchmark: the seed's Redis design, an all-or-nothing SET NX EX per seat.

What users would pick instead of the service: no actor, no PostgreSQL, a hold is ``SET seat-key holder NX
EX 600`` for every seat of the request. One Lua script makes a multi-seat request all-or-nothing (Redis
runs a script atomically): it refuses the request if any seat key exists, otherwise it sets every key with
``NX EX``. Nothing is durable beyond what Redis persists, and seat ids are not checked against a screen
(the seed did not), so it does strictly less than the service per hold.

Served on the same HTTP stack as the service and the bare baseline (uvicorn, uvloop, httptools,
FastAPI, the same ``SeedHoldIn`` body and ``POST /HoldSeat/api/v0/{movie_id}`` path), so the same wrk
script drives all designs. ``GET /api/v1/shows/{id}/seats`` answers a seat map in the service's shape,
read live from Redis (one MGET) over a layout stored by ``load_show``.

Configured by ``REDIS_DESIGN_URL`` and ``REDIS_DESIGN_PREFIX`` (``python -m uvicorn
bench.redis_design:app``), or built with ``create_app`` (tests).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import redis
import redis.asyncio as aioredis
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from api.schemas import SeedHoldIn
from bench.design_answers import HOLD_SECONDS, hold_answer, seat_map_answer

# KEYS: the seat keys; ARGV[1]: holder, ARGV[2]: seconds. Returns the 1-based indexes of taken seats
# (empty: every seat is now the holder's).
HOLD_SCRIPT = """
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then taken[#taken + 1] = i end
end
if #taken > 0 then return taken end
for i, key in ipairs(KEYS) do
  if not redis.call('SET', key, ARGV[1], 'NX', 'EX', ARGV[2]) then
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    return {i}
  end
end
return {}
"""


def seat_key(prefix: str, show_id: str, seat: str) -> str:
    return f"{prefix}seat:{show_id}:{seat}"


def layout_key(prefix: str, show_id: str) -> str:
    return f"{prefix}layout:{show_id}"


def load_show(client: redis.Redis, prefix: str, show_id: str, seats: list[dict[str, Any]]) -> None:
    """Store a show's seat layout (``[{id, row, number, category, price}]``) for its seat map."""
    client.set(layout_key(prefix, show_id), json.dumps(seats))


def held_seats(client: redis.Redis, prefix: str, seats: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Which of these (show, seat) pairs are held, and by whom (for the double-sale audit)."""
    pairs = list(seats)
    held: dict[tuple[str, str], str] = {}
    for start in range(0, len(pairs), 5000):
        chunk = pairs[start : start + 5000]
        for pair, value in zip(chunk, client.mget([seat_key(prefix, *p) for p in chunk]), strict=True):
            if value is not None:
                held[pair] = value.decode() if isinstance(value, bytes) else str(value)
    return held


def create_app(redis_url: str, prefix: str) -> FastAPI:
    state: dict[str, Any] = {}
    layouts: dict[str, list[dict[str, Any]]] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(redis_url, max_connections=64)
        state["redis"] = client
        state["hold"] = client.register_script(HOLD_SCRIPT)
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/HoldSeat/api/v0/{movie_id}")
    async def hold(movie_id: str, body: SeedHoldIn, authorizationtoken: str = Header()) -> Any:
        show_id = body.event_id or movie_id
        keys = [seat_key(prefix, show_id, s) for s in body.selected_seat]
        if len(set(keys)) != len(keys):
            return JSONResponse({"detail": "a seat is named twice"}, status_code=422)
        taken = await state["hold"](keys=keys, args=[authorizationtoken, HOLD_SECONDS])
        if taken:
            seats = [body.selected_seat[int(i) - 1] for i in taken]
            return JSONResponse({"detail": "taken", "seats": seats}, status_code=409)
        return hold_answer(show_id, body.selected_seat)

    @app.get("/api/v1/shows/{show_id}/seats")
    async def seat_map(show_id: str) -> Any:
        client: aioredis.Redis = state["redis"]
        layout = layouts.get(show_id)
        if layout is None:
            raw = await client.get(layout_key(prefix, show_id))
            if raw is None:
                return JSONResponse({"detail": "unknown show"}, status_code=404)
            layout = layouts[show_id] = json.loads(raw)
        holders = await client.mget([seat_key(prefix, show_id, s["id"]) for s in layout])
        seats = [{**s, "status": "available" if h is None else "held"} for s, h in zip(layout, holders, strict=True)]
        return seat_map_answer(show_id, seats, "redis")

    return app


def __getattr__(name: str) -> FastAPI:
    """``bench.redis_design:app`` for uvicorn, configured from the environment when first asked for."""
    if name == "app":
        app = create_app(os.environ["REDIS_DESIGN_URL"], os.environ.get("REDIS_DESIGN_PREFIX", "bench-redis:"))
        globals()["app"] = app
        return app
    raise AttributeError(name)
