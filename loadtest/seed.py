"""Shows and accounts for a run, made before the measured period starts.

Shows are created through the real admin API with the test suite's helpers (``tests.api_client``), so a
run exercises the same catalog path operators use; accounts are inserted in bulk straight into PostgreSQL
with tokens minted by the service's own signing key (``bulk_users``): registering hundreds of accounts
over HTTP costs two argon2 hashes each and would measure registration, not a sale.
"""

from __future__ import annotations

import math
import string
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from harness.client import ShowFixture, bulk_users, create_show
from loadtest.plan import ShowPlan

MAX_PREMIUM_ROWS = 5
HOT_ROWS = 3  # rows around the middle of the premium block: where best-available lands first
HOT_SEATS_PER_ROW = 8
ROOM_ROW_SEATS = 10  # the waiting-room show's rows hold at most this many seats
PRICES = {"premium": 450.0, "standard": 250.0}


def row_labels(count: int) -> list[str]:
    letters = string.ascii_uppercase
    labels = list(letters) + [a + b for a in letters for b in letters]
    if count > len(labels):
        raise ValueError(f"at most {len(labels)} rows")
    return labels[:count]


def premium_rows(rows: int) -> int:
    """A quarter of the rows, at most five, at least one: a show always has both categories (if 2+ rows)."""
    return max(1, min(MAX_PREMIUM_ROWS, rows // 4))


def layout(rows: int, seats_per_row: int, premium_rows: int) -> list[dict[str, Any]]:
    """Rows A.. (A nearest the screen); the first ``premium_rows`` are ``premium``, the rest ``standard``."""
    return [
        {"row": label, "seats": seats_per_row, "category": "premium" if i < premium_rows else "standard"}
        for i, label in enumerate(row_labels(rows))
    ]


def hot_seats(rows: int, seats_per_row: int, premium_rows: int) -> list[str]:
    """The centre seats of the middle premium rows: the seats a flash-sale crowd fights for by name."""
    labels = row_labels(rows)[: max(1, min(premium_rows, rows))]
    middle = len(labels) // 2
    chosen = labels[max(0, middle - HOT_ROWS // 2) : middle - HOT_ROWS // 2 + HOT_ROWS]
    width = min(HOT_SEATS_PER_ROW, seats_per_row)
    first = (seats_per_row - width) // 2 + 1
    return [f"{row}{n}" for row in chosen for n in range(first, first + width)]


def _show_plan(client: httpx.Client, show: ShowFixture, rows: list[dict[str, Any]], hot: list[str]) -> ShowPlan:
    movie = client.get(f"/api/v1/movies/{show.movie_id}").raise_for_status().json()
    theater = client.get(f"/api/v1/theaters/{show.theater_id}").raise_for_status().json()
    detail = client.get(f"/api/v1/shows/{show.show_id}").raise_for_status().json()
    return ShowPlan(
        show_id=show.show_id,
        movie_id=show.movie_id,
        theater_id=show.theater_id,
        movie_title=movie["title"],
        city=theater["city"],
        starts_at=detail["starts_at"],
        categories=sorted({r["category"] for r in rows}),
        capacity=len(show.seats),
        hot_seats=hot,
    )


def seed_shows(
    base_url: str,
    *,
    flash: bool,
    browse_count: int,
    rows: int,
    seats_per_row: int,
    hold_ttl_seconds: int,
) -> tuple[ShowPlan | None, list[ShowPlan]]:
    """One big flash-sale show (if ``flash``) and ``browse_count`` smaller shows, each of its own movie.

    Needs the admin account of ``tests.api_client`` (``bench.harness`` starts the service with it)."""
    prices = PRICES
    with httpx.Client(base_url=base_url, timeout=30) as client:
        flash_plan = None
        if flash:
            big = layout(rows, seats_per_row, premium_rows(rows))
            fixture = create_show(
                client, rows=big, prices=prices, hold_ttl_seconds=hold_ttl_seconds, starts_in=timedelta(hours=6)
            )
            flash_plan = _show_plan(client, fixture, big, hot_seats(rows, seats_per_row, premium_rows(rows)))
        browse: list[ShowPlan] = []
        small = layout(10, 20, premium_rows(10))
        for i in range(browse_count):
            fixture = create_show(
                client,
                rows=small,
                prices=prices,
                hold_ttl_seconds=hold_ttl_seconds,
                starts_in=timedelta(hours=8 + 3 * i),
            )
            browse.append(_show_plan(client, fixture, small, hot_seats(10, 20, premium_rows(10))))
    return flash_plan, browse


def seed_room_show(base_url: str, *, seats: int, hold_ttl_seconds: int, opens_in: float) -> tuple[ShowPlan, str]:
    """The waiting-room shape's show: at least ``seats`` seats (whole rows of at most ``ROOM_ROW_SEATS``),
    sold only to accounts its waiting room admits, on sale ``opens_in`` seconds from now. Returns its plan
    and its ``sales_open_at`` (ISO 8601). The service activates its actor before then by itself
    (``BOOKING_PREWARM_LEAD_SECONDS``), as for any show about to go on sale."""
    rows = max(1, math.ceil(seats / ROOM_ROW_SEATS))
    per_row = math.ceil(seats / rows)
    screen = layout(rows, per_row, premium_rows(rows))
    opens_at = datetime.now(UTC) + timedelta(seconds=opens_in)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        fixture = create_show(
            client,
            rows=screen,
            prices=PRICES,
            hold_ttl_seconds=hold_ttl_seconds,
            starts_in=timedelta(hours=6),
            sales_open_at=opens_at,
            waiting_room=True,
        )
        return _show_plan(client, fixture, screen, []), opens_at.isoformat()


def seed_tokens(database_url: str, count: int) -> list[str]:
    """``count`` customer accounts inserted in one statement; their bearer tokens."""
    return [token for _, token in bulk_users(database_url, count)]


def prewarm(base_url: str, shows: list[ShowPlan], token: str) -> float:
    """Activate each show's actor before the crowd arrives (as an operator would before an on-sale):
    reading one account's holds goes through the actor. Returns the seconds it took."""
    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        for show in shows:
            client.get(f"/api/v1/shows/{show.show_id}/holds").raise_for_status()
    return time.monotonic() - started


def search_terms(shows: list[ShowPlan]) -> list[str]:
    """What browsers type: whole titles, single words, a typo, and a word that matches nothing."""
    terms: list[str] = []
    for show in shows:
        terms.append(show.movie_title)
        terms.extend(w for w in show.movie_title.split() if len(w) > 2)
        if len(show.movie_title) > 4:
            t = show.movie_title
            terms.append(t[:2] + t[3] + t[2] + t[4:])  # two letters swapped
    terms.append("nothing-like-this")
    return sorted(set(terms))
