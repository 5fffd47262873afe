"""A small client of the pinned HTTP contract: set up shows, mint customers and book.

Used by the integration tests, the benchmarks, the load harness and the reliability suite. Its set-up
requests assert their status (a set-up step that fails should stop the caller at once, with the answer's
body); the seed's v0 calls (``seed_hold``, ``seed_pay``) return the answer, which is what their callers
measure or check. Those take any ``SeedShow`` (a ``ShowFixture``, a benchmark's own target).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-123"  # noqa: S105 (the throwaway admin harness.service sets)


@dataclass(frozen=True)
class ShowFixture:
    show_id: str
    movie_id: str
    theater_id: str
    screen_id: str
    seats: list[str]


def token(client: httpx.Client, email: str, password: str) -> str:
    response = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    value: str = response.json()["access_token"]
    return value


def admin_headers(client: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client, ADMIN_EMAIL, ADMIN_PASSWORD)}"}


def new_user(client: httpx.Client, name: str = "user") -> tuple[str, str]:
    """Register a fresh customer; returns (user id, token)."""
    email = f"{name}-{secrets.token_hex(6)}@example.com"
    response = client.post("/api/v1/auth/register", json={"email": email, "password": "correct-horse", "name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"], token(client, email, "correct-horse")


def staff_token(client: httpx.Client, role: str, name: str = "staff") -> str:
    """A fresh account given ``role`` (``gate``, ``box_office``, ``admin``) by the admin; returns a token
    issued after the change, so it carries the role."""
    user_id, user_token = new_user(client, name)
    changed = client.put(f"/api/v1/admin/users/{user_id}/role", headers=admin_headers(client), json={"role": role})
    assert changed.status_code == 200, changed.text
    email = client.get("/api/v1/auth/me", headers=bearer(user_token)).json()["email"]
    return token(client, email, "correct-horse")


def create_show(
    client: httpx.Client,
    rows: list[dict[str, Any]] | None = None,
    starts_in: timedelta = timedelta(days=1),
    prices: dict[str, float] | None = None,
    hold_ttl_seconds: int | None = None,
    sales_open_at: datetime | None = None,
    waiting_room: bool = False,
    reentry: bool = False,
    sections: list[dict[str, Any]] | None = None,
    names: tuple[str, str] = ("Movie", "Test Cinema"),
) -> ShowFixture:
    """A show made through the admin API: a new movie, theater and screen, the screen built from ``rows``
    (a cinema's) or from ``sections`` (a venue's: docs/venues.md); its ``seats`` are every place id."""
    headers = admin_headers(client)
    rows = rows or [
        {"row": "A", "seats": 10, "category": "standard"},
        {"row": "B", "seats": 10, "category": "premium"},
    ]
    prices = prices or {"standard": 250.0, "premium": 400.0}
    movie = client.post(
        "/api/v1/admin/movies",
        headers=headers,
        json={"title": f"{names[0]} {secrets.token_hex(3)}", "duration_minutes": 120},
    )
    assert movie.status_code == 201, movie.text
    theater = client.post(
        "/api/v1/admin/theaters",
        headers=headers,
        json={"name": names[1], "city": "Pune", "address": "1 Main St"},
    )
    assert theater.status_code == 201, theater.text
    screen = client.post(
        f"/api/v1/admin/theaters/{theater.json()['id']}/screens",
        headers=headers,
        json={"name": names[1], "sections": sections} if sections is not None else {"name": "S1", "rows": rows},
    )
    assert screen.status_code == 201, screen.text
    body: dict[str, Any] = {
        "movie_id": movie.json()["id"],
        "screen_id": screen.json()["id"],
        "starts_at": (datetime.now(UTC) + starts_in).isoformat(),
        "prices": prices,
    }
    if hold_ttl_seconds is not None:
        body["hold_ttl_seconds"] = hold_ttl_seconds
    if sales_open_at is not None:
        body["sales_open_at"] = sales_open_at.isoformat()
    if waiting_room:
        body["waiting_room"] = True
    if reentry:
        body["reentry"] = True
    show = client.post("/api/v1/admin/shows", headers=headers, json=body)
    assert show.status_code == 201, show.text
    return ShowFixture(
        show_id=show.json()["id"],
        movie_id=movie.json()["id"],
        theater_id=theater.json()["id"],
        screen_id=screen.json()["id"],
        seats=screen.json()["seats"],
    )


class SeedShow(Protocol):
    """A show as the seed's v0 requests name it."""

    @property
    def show_id(self) -> str: ...
    @property
    def movie_id(self) -> str: ...
    @property
    def theater_id(self) -> str: ...


def hold_body(show: SeedShow, seats: list[str]) -> dict[str, Any]:
    return {
        "movie_id": show.movie_id,
        "theater_id": show.theater_id,
        "selected_seat": seats,
        "event_id": show.show_id,
    }


def bearer(user_token: str) -> dict[str, str]:
    """The v1 API's ``Authorization`` header for ``user_token``."""
    return {"Authorization": f"Bearer {user_token}"}


def wait_until(check: Callable[[], bool], within: float, what: str, every: float = 0.1) -> float:
    """Seconds until ``check()`` held; ``AssertionError`` naming ``what`` if it did not within ``within``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(every)
    return time.monotonic() - started


def seed_headers(user_token: str) -> dict[str, str]:
    return {"AuthorizationToken": user_token}


def pay_body(show: SeedShow, card: str = "4242424242424242") -> dict[str, Any]:
    return {"event_id": show.show_id, "paymentInfo": {"card_number": card}}


def seed_hold(
    client: httpx.Client, show: SeedShow, user_token: str, seats: list[str], base: str = ""
) -> httpx.Response:
    """``POST /HoldSeat/api/v0/{movie}`` (on ``base``, or the client's own base URL): hold ``seats`` of
    ``show`` for the user of ``user_token``."""
    return client.post(
        f"{base}/HoldSeat/api/v0/{show.movie_id}", headers=seed_headers(user_token), json=hold_body(show, seats)
    )


def seed_pay(
    client: httpx.Client, show: SeedShow, user_token: str, card: str = "4242424242424242", key: str | None = None
) -> httpx.Response:
    """``POST /SubmitPayment/api/v0/{show}``: pay for the user's holds on ``show`` with ``card``, under the
    ``Idempotency-Key`` ``key`` if one is given."""
    headers = seed_headers(user_token) | ({"Idempotency-Key": key} if key else {})
    return client.post(f"/SubmitPayment/api/v0/{show.show_id}", headers=headers, json=pay_body(show, card))


def bulk_users(database_url: str, count: int) -> list[tuple[str, str]]:
    """Create ``count`` customers directly in PostgreSQL and mint their tokens with the service's key.

    Registering through HTTP costs two argon2 computations per user (about 0.35 s here); crowd tests need
    hundreds of users, and what they test is booking, not registration (which has its own tests).
    """
    import uuid

    import psycopg

    from api.auth import TokenService
    from settings import libpq_url

    users = [str(uuid.uuid4()) for _ in range(count)]
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO users (id, email, name, password_hash, role) VALUES (%s, %s, %s, 'x', 'customer')",
            [(u, f"crowd-{u}@example.com", "crowd") for u in users],
        )
        cur.execute("SELECT value FROM service_secrets WHERE name = 'token-signing-key'")
        row = cur.fetchone()
    assert row is not None, "the service creates its signing key at start-up"
    tokens = TokenService(row[0], 3600)
    return [(u, tokens.issue(u, "customer")) for u in users]
