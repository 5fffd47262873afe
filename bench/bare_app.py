"""The baseline: the same HoldSeat route as the service, holding seats in a dict in the API process.

Same HTTP stack (uvicorn, uvloop, httptools, FastAPI, pydantic body), no actor, no database: the front's
own ceiling on this machine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from api.schemas import SeedHoldIn

app = FastAPI()
owners: dict[str, str] = {}


@app.post("/HoldSeat/api/v0/{movie_id}")
async def hold(movie_id: str, body: SeedHoldIn, authorizationtoken: str = Header()) -> Any:
    taken = [s for s in body.selected_seat if s in owners]
    if taken:
        return JSONResponse({"detail": "taken", "seats": taken}, status_code=409)
    for seat in body.selected_seat:
        owners[seat] = authorizationtoken
    return {
        "hold_end_time": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
        "event_id": body.event_id,
        "selected_seat": body.selected_seat,
        "price": 250.0 * len(body.selected_seat),
    }
