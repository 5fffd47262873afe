"""The baseline for a venue's reads: bare FastAPI routes returning the service's own answers from memory.

The benchmark (``bench/stadium_reads.py``) captures the service's ``GET /venue``, ``GET /sections/{code}/seats``
and ``GET /seats`` answers into the folder named by ``BARE_VENUE_DIR`` (``venue.json``, ``section.json``,
``seats.json``); each route here serves its file's bytes, encoded once, on the same HTTP stack (uvicorn,
uvloop, httptools), like ``bench/bare_seatmap.py`` does for a cinema's map.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

app = FastAPI()
FOLDER = Path(os.environ["BARE_VENUE_DIR"])
VENUE: bytes = (FOLDER / "venue.json").read_bytes()
SECTION: bytes = (FOLDER / "section.json").read_bytes()
SEATS: bytes = (FOLDER / "seats.json").read_bytes()


@app.get("/api/v1/shows/{show_id}/venue")
async def venue(show_id: str) -> Response:
    return Response(VENUE, media_type="application/json")


@app.get("/api/v1/shows/{show_id}/sections/{code}/seats")
async def section(show_id: str, code: str) -> Response:
    return Response(SECTION, media_type="application/json")


@app.get("/api/v1/shows/{show_id}/seats")
async def seats(show_id: str) -> Response:
    return Response(SEATS, media_type="application/json")
