"""The baseline for seat-map reads: a bare FastAPI endpoint returning the same payload from memory.

The payload is the service's own seat-map answer, captured once by the benchmark and passed in the
``BARE_SEATMAP_FILE`` environment variable; served on the same HTTP stack (uvicorn, uvloop, httptools).
It is encoded once at start-up and served as bytes, the fastest a FastAPI route can answer it (returning
the dict instead would encode it again on every request, a baseline the service beats by not doing so).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

app = FastAPI()
PAYLOAD: bytes = Path(os.environ["BARE_SEATMAP_FILE"]).read_bytes()


@app.get("/api/v1/shows/{show_id}/seats")
async def seats(show_id: str) -> Response:
    return Response(PAYLOAD, media_type="application/json")
