"""The baseline for the waiting room: bare FastAPI routes answering a join and a poll with the service's
own entry JSON from memory (``BARE_QUEUE_FILE``), on the same HTTP stack (uvicorn, uvloop, httptools).

Encoded once at start-up and served as bytes: the fastest a FastAPI route can answer (see
``bench/bare_seatmap.py``). No token check, no database: the front's own ceiling.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

app = FastAPI()
PAYLOAD: bytes = Path(os.environ["BARE_QUEUE_FILE"]).read_bytes()


@app.post("/api/v1/shows/{show_id}/queue")
async def join(show_id: str) -> Response:
    return Response(PAYLOAD, media_type="application/json")


@app.get("/api/v1/shows/{show_id}/queue")
async def poll(show_id: str) -> Response:
    return Response(PAYLOAD, media_type="application/json")
