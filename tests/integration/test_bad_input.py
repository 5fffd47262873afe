"""Bad input gets a clear 4xx problem+json and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from settings import libpq_url
from tests.api_client import ShowFixture, create_show, hold_body, new_user, pay_body, seed_headers
from tests.conftest import Backing, Service

UNKNOWN = str(uuid.uuid4())


@pytest.fixture(scope="module")
def world(service: Service) -> Iterator[tuple[httpx.Client, ShowFixture, str]]:
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        show = create_show(client)
        _, token = new_user(client)
        # One committed hold, so "nothing changed" also covers existing state.
        assert (
            client.post(
                f"/HoldSeat/api/v0/{show.movie_id}", headers=seed_headers(token), json=hold_body(show, ["B1"])
            ).status_code
            == 200
        )
        yield client, show, token


def state(backing: Backing, show: ShowFixture) -> tuple[Any, ...]:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        return tuple(
            conn.execute(sql, (show.show_id,)).fetchall()
            for sql in (
                "SELECT seat_id, hold_id, booking_id FROM seat_claims WHERE show_id = %s ORDER BY seat_id",
                "SELECT count(*) FROM seat_ledger WHERE show_id = %s",
                "SELECT id, status, expires_at FROM holds WHERE show_id = %s ORDER BY id",
                "SELECT count(*) FROM bookings WHERE show_id = %s",
            )
        )


def cases(show: ShowFixture, token: str) -> list[tuple[str, str, str, dict[str, Any], int]]:
    """(name, method, path, request kwargs, expected status)"""
    auth = seed_headers(token)
    hold = f"/HoldSeat/api/v0/{show.movie_id}"
    return [
        (
            "unknown show",
            "POST",
            hold,
            {"headers": auth, "json": {**hold_body(show, ["A1"]), "event_id": UNKNOWN}},
            404,
        ),
        (
            "unknown movie",
            "POST",
            f"/HoldSeat/api/v0/{UNKNOWN}",
            {"headers": auth, "json": {**hold_body(show, ["A1"]), "movie_id": UNKNOWN}},
            404,
        ),
        (
            "movie mismatch",
            "POST",
            f"/HoldSeat/api/v0/{UNKNOWN}",
            {"headers": auth, "json": hold_body(show, ["A1"])},
            400,
        ),
        (
            "seat that does not exist",
            "POST",
            hold,
            {"headers": auth, "json": hold_body(show, ["A1", "Z99"])},
            404,
        ),
        ("empty seat list", "POST", hold, {"headers": auth, "json": hold_body(show, [])}, 422),
        (
            "oversized seat list",
            "POST",
            hold,
            {"headers": auth, "json": hold_body(show, [f"A{i}" for i in range(1, 61)])},
            422,
        ),
        (
            "more seats than one request may hold",
            "POST",
            hold,
            {"headers": auth, "json": hold_body(show, [f"A{i}" for i in range(1, 11)] + ["B9", "B10"])},
            400,
        ),
        ("repeated seat", "POST", hold, {"headers": auth, "json": hold_body(show, ["A1", "A1"])}, 400),
        ("malformed seat id", "POST", hold, {"headers": auth, "json": hold_body(show, ["a-1"])}, 422),
        (
            "malformed JSON",
            "POST",
            hold,
            {"headers": {**auth, "Content-Type": "application/json"}, "content": b'{"movie_id": '},
            400,
        ),
        ("no token", "POST", hold, {"json": hold_body(show, ["A1"])}, 401),
        (
            "garbage token",
            "POST",
            hold,
            {"headers": seed_headers("not-a-token"), "json": hold_body(show, ["A1"])},
            401,
        ),
        ("bearer garbage", "GET", "/api/v1/auth/me", {"headers": {"Authorization": "Bearer x.y.z"}}, 401),
        ("malformed id in path", "GET", "/api/v1/movies/not-a-uuid", {}, 404),
        ("unknown movie read", "GET", f"/api/v1/movies/{UNKNOWN}", {}, 404),
        ("unknown show seats", "GET", f"/api/v1/shows/{UNKNOWN}/seats", {}, 404),
        (
            "pay unknown show",
            "POST",
            f"/SubmitPayment/api/v0/{UNKNOWN}",
            {"headers": auth, "json": {**pay_body(show), "event_id": UNKNOWN}},
            404,
        ),
        (
            "pay without card",
            "POST",
            f"/SubmitPayment/api/v0/{show.show_id}",
            {"headers": auth, "json": {"event_id": show.show_id, "paymentInfo": {}}},
            422,
        ),
        (
            "register short password",
            "POST",
            "/api/v1/auth/register",
            {"json": {"email": "short@example.com", "password": "1234567"}},
            422,
        ),
        (
            "register bad email",
            "POST",
            "/api/v1/auth/register",
            {"json": {"email": "nope", "password": "12345678"}},
            422,
        ),
    ]


@pytest.mark.parametrize("index", range(20))
def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    index: int, world: tuple[httpx.Client, ShowFixture, str], backing: Backing
) -> None:
    client, show, token = world
    name, method, path, kwargs, expected = cases(show, token)[index]
    before = state(backing, show)
    response = client.request(method, path, **kwargs)
    assert response.status_code == expected, (name, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), name
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), name
    assert body["status"] == expected
    assert "Traceback" not in response.text
    assert state(backing, show) == before, f"{name} changed state"


def test_case_list_is_complete(world: tuple[httpx.Client, ShowFixture, str]) -> None:
    _, show, token = world
    assert len(cases(show, token)) == 20
