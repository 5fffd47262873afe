"""The fast path's body decoder (``api.fast_holds.decoded``: the route's model, validated on the raw bytes)
takes nothing FastAPI's route would refuse, and takes what it takes as the same value.

FastAPI parses a JSON body with ``json.loads`` and validates the Python value; the fast path validates the
bytes directly. The two parsers differ at the edges (duplicate keys, a byte-order mark, NaN, numbers like
``2.0``); wherever the fast path says no, the route answers, so only its yeses must be the route's. Hypothesis
sends bodies of the holds' shapes, odd values and raw JSON text with repeated keys through both: a route
declared exactly as the real ones are (``body: HoldIn``, ``body: SeedHoldIn``), in process, and the decoder.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from api.fast_holds import decoded
from api.routes.holds import HoldIn
from api.schemas import SeedHoldIn

app = FastAPI()


@app.post("/v1")
async def v1(body: HoldIn) -> dict[str, Any]:
    return body.model_dump(mode="json")


@app.post("/v0")
async def v0(body: SeedHoldIn) -> dict[str, Any]:
    return body.model_dump(mode="json")


IDS = st.sampled_from(["0b7f3f0e-5c1a-4f0e-9a51-3c2d4e5f6a7b", "0B7F3F0E-5C1A-4F0E-9A51-3C2D4E5F6A7B", "x", ""])
SEATS = st.sampled_from(["A1", "B12", "ZZZ999", "a1", "A", "A1000", " A1", ""])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 60),
    st.sampled_from([2.0, 2.5, 1e400, -0.0, 10.0]),
    SEATS,
    IDS,
    st.sampled_from(["standard", "premium", "Standard", "", "a" * 31]),
)
VALUES = st.one_of(
    SCALARS, st.lists(st.one_of(SEATS, SCALARS), max_size=4), st.dictionaries(SEATS, SCALARS, max_size=2)
)
KEYS = st.sampled_from(
    ["seats", "count", "category", "movie_id", "theater_id", "selected_seat", "event_id", "price", "Seats"]
)
ID = "0b7f3f0e-5c1a-4f0e-9a51-3c2d4e5f6a7b"
# Valid bodies of each route, as key/value pairs: the examples start from one and are changed a little.
BASES: dict[str, list[list[tuple[str, Any]]]] = {
    "/v1": [[("seats", ["A1", "B2"])], [("count", 2), ("category", "premium")], [("count", 3)]],
    "/v0": [[("movie_id", ID), ("theater_id", ID), ("selected_seat", ["A1"]), ("event_id", ID)]],
}
MODELS: dict[str, type[BaseModel]] = {"/v1": HoldIn, "/v0": SeedHoldIn}
WRAPPERS = st.sampled_from(["{%s}"] * 6 + [" {%s}\n", "\ufeff{%s}", "[{%s}]", "{%s", "{%s}x"])


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A route and a JSON text for it: one of its valid bodies, a pair or two dropped, replaced or added
    (keys may repeat: ``json.loads`` and the bytes validator must agree on which one wins), wrapped."""
    path = draw(st.sampled_from(sorted(BASES)))
    pairs = list(draw(st.sampled_from(BASES[path])))
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
        action = draw(st.sampled_from(["drop", "set", "add"]))
        if action == "drop" and pairs:
            pairs.pop(draw(st.integers(0, len(pairs) - 1)))
        elif action == "set" and pairs:
            index = draw(st.integers(0, len(pairs) - 1))
            pairs[index] = (pairs[index][0], draw(VALUES))
        else:
            pairs.insert(draw(st.integers(0, len(pairs))), (draw(KEYS), draw(VALUES)))
    inner = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs)
    return path, (draw(WRAPPERS) % inner).encode()


async def through_route(path: str, body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, content=body, headers={"Content-Type": "application/json"})


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=bodies())
def test_what_the_fast_decoder_takes_the_route_takes_as_the_same_value(case: tuple[str, bytes]) -> None:
    path, body = case
    fast = decoded(MODELS[path], body)
    event("taken" if fast is not None else "left to the route")
    if fast is None:
        return  # the route answers this one itself
    route = asyncio.run(through_route(path, body))
    assert route.status_code == 200, (body, route.text)
    assert route.json() == fast.model_dump(mode="json"), body


def test_the_decoder_takes_valid_holds() -> None:
    """Control: the property above is not vacuous (the decoder says yes to real requests)."""
    seat_hold = decoded(HoldIn, b'{"seats": ["A1", "B2"]}')
    assert seat_hold is not None
    assert seat_hold.seats == ["A1", "B2"]
    count = decoded(HoldIn, b'{"count": 2.0, "category": "premium"}')
    assert count is not None
    assert count.count == 2
    seed = {"movie_id": ID, "theater_id": ID, "selected_seat": ["A1"]}
    assert decoded(SeedHoldIn, json.dumps(seed).encode()) is not None
    assert decoded(HoldIn, b'{"count": true}') is None
