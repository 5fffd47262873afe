"""The answers of the comparison's baseline designs (``bench.pg_design``, ``bench.redis_design``), in the
service's shapes, so the same wrk script and the same seat-map reader drive every design: a HoldSeat answer
and a seat map. Each design decides what is held; this module only words it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

HOLD_SECONDS = 600
PRICE = 250.0


def hold_answer(show_id: str, seats: list[str]) -> dict[str, Any]:
    """``POST /HoldSeat/api/v0/{movie}``'s answer when every seat was held: each at ``PRICE``, for
    ``HOLD_SECONDS``."""
    return {
        "hold_end_time": (datetime.now(UTC) + timedelta(seconds=HOLD_SECONDS)).isoformat(),
        "event_id": show_id,
        "selected_seat": seats,
        "price": PRICE * len(seats),
        "hold_id": secrets.token_hex(16),
    }


def seat_map_answer(show_id: str, seats: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """``GET /api/v1/shows/{id}/seats``'s answer: ``seats`` (each with its ``status``, "available" or
    "held"), their counts, and which store ``source`` read them."""
    held = sum(1 for s in seats if s["status"] == "held")
    return {
        "show_id": show_id,
        "seats": seats,
        "counts": {"available": len(seats) - held, "held": held},
        "as_of": datetime.now(UTC).isoformat(),
        "source": source,
    }
