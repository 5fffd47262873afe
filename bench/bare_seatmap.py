"""The baseline for seat-map reads: a bare FastAPI endpoint returning the same payload from memory.

The payload is the service's own seat-map answer, captured once by the benchmark and passed in the
``BARE_SEATMAP_FILE`` environment variable; served on the same HTTP stack (uvicorn, uvloop, httptools).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI

app = FastAPI()
PAYLOAD: dict[str, Any] = json.loads(Path(os.environ["BARE_SEATMAP_FILE"]).read_text())


@app.get("/api/v1/shows/{show_id}/seats")
async def seats(show_id: str) -> dict[str, Any]:
    return PAYLOAD
