"""The baseline for check-in: a bare FastAPI ``POST /api/v1/shows/{id}/check-ins`` that reads the request's
body and answers the service's own check-in JSON from memory, on the same HTTP stack (uvicorn, uvloop,
httptools).

The answers are captured by ``bench/check_in.py`` (one ``admitted``, one ``already_admitted``) and passed
as files in ``BARE_DOOR_DIR``; the request's ``X-Bare-Answer`` header picks one (the service ignores it),
so one script drives both servers. No token check, no signature, no actor, no database: the front's own
ceiling for a POST of this size.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request, Response

app = FastAPI()
ANSWERS: dict[str, bytes] = {path.stem: path.read_bytes() for path in Path(os.environ["BARE_DOOR_DIR"]).glob("*.json")}


@app.post("/api/v1/shows/{show_id}/check-ins")
async def check_in(show_id: str, request: Request) -> Response:
    await request.body()
    return Response(ANSWERS[request.headers.get("x-bare-answer", "admitted")], media_type="application/json")
