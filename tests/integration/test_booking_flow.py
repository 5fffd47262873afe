"""The pinned contract end to end over HTTP: accounts, catalog, seat map, hold, pay, idempotency."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import psycopg
import pytest
import redis

from actors.redis_publisher import seatmap_key, seatmap_log
from settings import libpq_url
from tests.api_client import ShowFixture, admin_headers, create_show, new_user, seed_headers, seed_hold, seed_pay
from tests.conftest import Backing, Service


@pytest.fixture
def client(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
        yield c


@pytest.fixture
def show(client: httpx.Client) -> ShowFixture:
    return create_show(client)


def seat_status(client: httpx.Client, show: ShowFixture) -> dict[str, str]:
    response = client.get(f"/api/v1/shows/{show.show_id}/seats")
    assert response.status_code == 200, response.text
    return {s["id"]: s["status"] for s in response.json()["seats"]}


def wait_for_status(client: httpx.Client, show: ShowFixture, seat: str, status: str, within: float = 2.5) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if seat_status(client, show)[seat] == status:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{seat} not {status} within {within}s: {seat_status(client, show)[seat]}")


def test_hold_then_pay_books_the_seats(client: httpx.Client, show: ShowFixture) -> None:
    _, user = new_user(client)
    available = client.get(f"/GetAvailableSeat/api/v0/{show.movie_id}/{show.theater_id}", headers=seed_headers(user))
    assert available.status_code == 200
    assert available.json()["event_id"] == show.show_id
    assert set(available.json()["available_seat"]) == set(show.seats)

    held = seed_hold(client, show, user, ["A1", "B2"])
    assert held.status_code == 200, held.text
    body = held.json()
    assert body["event_id"] == show.show_id
    assert sorted(body["selected_seat"]) == ["A1", "B2"]
    assert body["price"] == 650.0
    assert body["hold_end_time"].endswith(("Z", "+00:00"))
    wait_for_status(client, show, "A1", "held")

    paid = seed_pay(client, show, user)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "confirmed"
    assert sorted(paid.json()["selected_seat"]) == ["A1", "B2"]
    assert paid.json()["amount"] == 650.0
    wait_for_status(client, show, "B2", "booked")

    again = seed_pay(client, show, user)
    assert again.status_code == 404
    assert again.headers["content-type"].startswith("application/problem+json")


def test_someone_elses_held_seat_is_a_409_and_nothing_is_held(client: httpx.Client, show: ShowFixture) -> None:
    _, alice = new_user(client, "alice")
    _, bob = new_user(client, "bob")
    assert seed_hold(client, show, alice, ["A5"]).status_code == 200
    refused = seed_hold(client, show, bob, ["A4", "A5"])
    assert refused.status_code == 409
    assert refused.json()["seats"] == ["A5"]
    assert seat_status(client, show)["A4"] == "available"


def test_declined_card_keeps_the_hold_and_idempotent_payment_charges_once(
    client: httpx.Client, show: ShowFixture
) -> None:
    _, user = new_user(client)
    assert seed_hold(client, show, user, ["A7"]).status_code == 200
    declined = seed_pay(client, show, user, "4000000000000002")
    assert declined.status_code == 402
    assert seat_status(client, show)["A7"] == "held"

    first = seed_pay(client, show, user, key="pay-once-1")
    second = seed_pay(client, show, user, key="pay-once-1")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    mismatch = seed_pay(client, show, user, "4000000000000002", key="pay-once-1")
    assert mismatch.status_code == 422


def test_hold_expires_by_its_timer_and_payment_then_answers_410(client: httpx.Client, backing: Backing) -> None:
    show = create_show(client, hold_ttl_seconds=2)
    _, user = new_user(client)
    held = seed_hold(client, show, user, ["A1"])
    assert held.status_code == 200
    wait_for_status(client, show, "A1", "held", within=1.5)
    # Expired by time (within 2 s) and released by the actor's timer, which the ledger records.
    wait_for_status(client, show, "A1", "available", within=4.0)
    paid = seed_pay(client, show, user)
    assert paid.status_code == 410, paid.text
    deadline = time.monotonic() + 5
    while True:
        with psycopg.connect(libpq_url(backing.database_url)) as conn:
            events = [
                r[0]
                for r in conn.execute(
                    "SELECT event FROM seat_ledger WHERE show_id = %s AND seat_id = 'A1' ORDER BY id",
                    (show.show_id,),
                )
            ]
            hold_status = conn.execute("SELECT status FROM holds WHERE id = %s", (held.json()["hold_id"],)).fetchone()
        if events == ["held", "expired"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert events == ["held", "expired"]
    assert hold_status == ("expired",)
    # The seat is free for someone else now.
    _, other = new_user(client)
    assert seed_hold(client, show, other, ["A1"]).status_code == 200


def test_v1_holds_best_available_extend_release(client: httpx.Client, show: ShowFixture) -> None:
    _, user = new_user(client)
    auth = {"Authorization": f"Bearer {user}"}
    base = f"/api/v1/shows/{show.show_id}/holds"
    best = client.post(base, headers=auth, json={"count": 4, "category": "premium"})
    assert best.status_code == 201, best.text
    # Row B has 10 premium seats: the centred block of four is B4..B7.
    assert best.json()["seats"] == ["B4", "B5", "B6", "B7"]
    hold_id = best.json()["id"]
    listed = client.get(base, headers=auth)
    assert [h["id"] for h in listed.json()] == [hold_id]

    extended = [client.post(f"{base}/{hold_id}/extend", headers=auth) for _ in range(3)]
    assert [r.status_code for r in extended] == [200, 200, 409]
    assert extended[1].json()["extensions"] == 2

    _, other = new_user(client)
    assert client.delete(f"{base}/{hold_id}", headers={"Authorization": f"Bearer {other}"}).status_code == 404
    assert client.delete(f"{base}/{hold_id}", headers=auth).status_code == 204
    wait_for_status(client, show, "B5", "available")
    assert client.get(base, headers=auth).json() == []
    assert client.post(base, headers=auth, json={"seats": ["A1"], "count": 2}).status_code == 422


def test_per_account_seat_cap_counts_holds_and_bookings(client: httpx.Client, show: ShowFixture) -> None:
    _, user = new_user(client)
    first = seed_hold(client, show, user, [f"A{i}" for i in range(1, 7)])
    assert first.status_code == 200
    assert seed_pay(client, show, user).status_code == 200
    over = seed_hold(client, show, user, ["B1", "B2", "B3", "B4", "B5"])
    assert over.status_code == 409
    assert "at most 10" in over.json()["detail"]
    assert seed_hold(client, show, user, ["B1", "B2", "B3", "B4"]).status_code == 200


def test_show_start_closes_sales_and_drops_the_live_seat_map(
    client: httpx.Client, backing: Backing, live_service: Service
) -> None:
    """When the show starts its sales close (holds end, the show is ``closed``) and its live seat map
    leaves Redis; the actor stays for the door (check-ins) until it passivates like any idle show."""
    show = create_show(client, starts_in=timedelta(seconds=4))
    _, user = new_user(client)
    held = seed_hold(client, show, user, ["A3"])
    assert held.status_code == 200
    assert held.json()["hold_end_time"] <= show_starts_at(client, show)
    time.sleep(5.5)
    late = seed_hold(client, show, user, ["A4"])
    assert late.status_code == 409
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(libpq_url(backing.database_url)) as conn:
            statuses = conn.execute(
                "SELECT (SELECT status FROM shows WHERE id = %s), (SELECT status FROM holds WHERE id = %s)",
                (show.show_id, held.json()["hold_id"]),
            ).fetchone()
        if (statuses is not None and statuses[1] != "active") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    # The hold ran until the start (its expires_at is capped there); it ends as expired or closed.
    assert statuses is not None
    assert statuses[0] == "closed"
    assert statuses[1] in {"closed", "expired"}
    # Its live state is gone from Redis too (readers fall back to PostgreSQL's final seat map).
    live_keys = redis.Redis.from_url(backing.redis_url).exists(
        seatmap_key(backing.redis_prefix, show.show_id), seatmap_log(backing.redis_prefix, show.show_id)
    )
    assert live_keys == 0
    seats = client.get(f"/api/v1/shows/{show.show_id}/seats")
    assert seats.status_code == 200


def show_starts_at(client: httpx.Client, show: ShowFixture) -> str:
    starts: str = client.get(f"/api/v1/shows/{show.show_id}").json()["starts_at"]
    return starts


def test_admin_routes_refuse_customers(client: httpx.Client) -> None:
    _, user = new_user(client)
    response = client.post(
        "/api/v1/admin/movies",
        headers={"Authorization": f"Bearer {user}"},
        json={"title": "x", "duration_minutes": 90},
    )
    assert response.status_code == 403
    assert client.post("/api/v1/admin/movies", json={"title": "x", "duration_minutes": 90}).status_code == 401
    assert (
        client.post(
            "/api/v1/admin/movies", headers=admin_headers(client), json={"title": "x", "duration_minutes": 90}
        ).status_code
        == 201
    )


def test_api_docs_render_offline(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert assets, page.text
    assert all(a.startswith("/") for a in assets), f"external assets: {assets}"
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/openapi.json").json()["info"]["title"] == "Seatwise booking API"
