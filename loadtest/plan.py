"""The plan: everything the harness prepared before the run, handed to locust as one JSON file.

The harness process (Ray, psycopg, the service) and the locust process (gevent, monkey-patched sockets)
must not share an interpreter, so they share this file instead: the shows to load, which seats are the
hot ones, the waiting-room show and when its sales open, the tokens of the accounts created in bulk
beforehand, and where the locust process writes what its users saw (``seen.json``, compared with
PostgreSQL by ``loadtest.invariants``). Pure data, no I/O beyond reading and writing the file; both sides
import it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PLAN_ENV = "LOADTEST_PLAN"
SHAPE_ENV = "LOADTEST_SHAPE"
SHAPES = ("flash-sale", "browsing", "waiting-room")
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


@dataclass(frozen=True)
class ShowPlan:
    show_id: str
    movie_id: str
    theater_id: str
    movie_title: str
    city: str
    starts_at: str
    categories: list[str]
    capacity: int
    # Seats most of a flash-sale crowd asks for by name: the centre of the best rows.
    hot_seats: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    shape: str
    host: str
    hold_ttl_seconds: int
    flash_show: ShowPlan | None
    browse_shows: list[ShowPlan]
    tokens: list[str]
    search_terms: list[str]
    seen_path: str
    progress_path: str
    # The waiting-room shape's show (sold only to accounts its room admits) and its ``sales_open_at``.
    room_show: ShowPlan | None = None
    opens_at: str = ""

    @property
    def all_shows(self) -> list[ShowPlan]:
        return [s for s in (self.flash_show, self.room_show) if s] + self.browse_shows

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Plan:
        raw: dict[str, Any] = json.loads(path.read_text())
        flash, room = raw.pop("flash_show"), raw.pop("room_show", None)
        browse = raw.pop("browse_shows")
        return cls(
            flash_show=ShowPlan(**flash) if flash else None,
            room_show=ShowPlan(**room) if room else None,
            browse_shows=[ShowPlan(**s) for s in browse],
            **raw,
        )


@dataclass
class Seen:
    """What the load generator's users saw: the counts the audit holds PostgreSQL to.

    ``booking_ids`` maps every booking a user saw confirmed (200 from pay) to its seats; ``queue`` counts what
    the waiting room told its users (``joined``, then the state each ended in: ``admitted``, ``sold_out``,
    ``closed``; ``walked_away``: admitted, but left without holding, so the pass lapses)."""

    holds_won: int = 0
    holds_lost: int = 0
    held_seats: int = 0
    bookings: int = 0
    booked_seats: int = 0
    declined: int = 0
    released: int = 0
    abandoned: int = 0
    gave_up: int = 0
    errors: int = 0
    booking_ids: dict[str, list[str]] = field(default_factory=dict)
    queue: dict[str, int] = field(default_factory=dict)

    def tally(self, what: str) -> None:
        self.queue[what] = self.queue.get(what, 0) + 1

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Seen:
        return cls(**json.loads(path.read_text()))

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}
