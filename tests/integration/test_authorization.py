"""Object-level authorization: account B against every one of account A's ids, on every route that takes
one. Each attempt must fail as if the id did not exist (404, or an empty list) and change nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from settings import libpq_url
from tests.api_client import ShowFixture, bulk_users, create_show, pay_body
from tests.conftest import Backing, Service


@pytest.fixture(scope="module")
def world(service: Service, backing: Backing) -> Iterator[dict[str, Any]]:
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        show = create_show(client)
        (a_id, a), (b_id, b) = bulk_users(backing.database_url, 2)
        auth_a = {"Authorization": f"Bearer {a}"}
        booked = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=auth_a, json={"seats": ["A1", "A2"]})
        assert booked.status_code == 201
        paid = client.post(
            f"/api/v1/shows/{show.show_id}/holds/pay",
            headers=auth_a,
            json={"payment_info": {"card_number": "4242424242424242"}},
        )
        assert paid.status_code == 200
        held = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=auth_a, json={"seats": ["B5"]})
        assert held.status_code == 201
        yield {
            "client": client,
            "show": show,
            "a": a,
            "b": b,
            "b_id": b_id,
            "a_id": a_id,
            "hold": held.json()["id"],
            "booking": paid.json()["booking_id"],
        }


def snapshot(backing: Backing, show: ShowFixture) -> tuple[Any, ...]:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        return (
            conn.execute(
                "SELECT seat_id, hold_id, booking_id FROM seat_claims WHERE show_id = %s ORDER BY seat_id",
                (show.show_id,),
            ).fetchall(),
            conn.execute(
                "SELECT id, status, expires_at, extensions FROM holds WHERE show_id = %s", (show.show_id,)
            ).fetchall(),
            conn.execute("SELECT id, status FROM bookings WHERE show_id = %s", (show.show_id,)).fetchall(),
            conn.execute("SELECT count(*) FROM payment_charges WHERE status = 'refunded'").fetchall(),
        )


Attempt = Callable[[dict[str, Any]], httpx.Response]

ATTEMPTS: dict[str, tuple[Attempt, int]] = {
    "view A's booking": (
        lambda w: w["client"].get(f"/api/v1/bookings/{w['booking']}", headers={"Authorization": f"Bearer {w['b']}"}),
        404,
    ),
    "cancel A's booking": (
        lambda w: w["client"].post(
            f"/api/v1/bookings/{w['booking']}/cancel", headers={"Authorization": f"Bearer {w['b']}"}
        ),
        404,
    ),
    "extend A's hold": (
        lambda w: w["client"].post(
            f"/api/v1/shows/{w['show'].show_id}/holds/{w['hold']}/extend", headers={"Authorization": f"Bearer {w['b']}"}
        ),
        404,
    ),
    "release A's hold": (
        lambda w: w["client"].delete(
            f"/api/v1/shows/{w['show'].show_id}/holds/{w['hold']}", headers={"Authorization": f"Bearer {w['b']}"}
        ),
        404,
    ),
    "pay on A's show (v1)": (
        lambda w: w["client"].post(
            f"/api/v1/shows/{w['show'].show_id}/holds/pay",
            headers={"Authorization": f"Bearer {w['b']}"},
            json={"payment_info": {"card_number": "4242424242424242"}},
        ),
        404,
    ),
    "pay on A's show (v0)": (
        lambda w: w["client"].post(
            f"/SubmitPayment/api/v0/{w['show'].show_id}",
            headers={"AuthorizationToken": w["b"]},
            json=pay_body(w["show"]),
        ),
        404,
    ),
    "read the show's ledger": (
        lambda w: w["client"].get(
            f"/api/v1/admin/shows/{w['show'].show_id}/ledger", headers={"Authorization": f"Bearer {w['b']}"}
        ),
        403,
    ),
}


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_account_b_cannot_touch_account_a(name: str, world: dict[str, Any], backing: Backing) -> None:
    attempt, expected = ATTEMPTS[name]
    before = snapshot(backing, world["show"])
    response = attempt(world)
    assert response.status_code == expected, (name, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert world["a_id"] not in response.text  # nothing of A leaks (echoing the id B sent is fine)
    assert snapshot(backing, world["show"]) == before, f"{name} changed something"


def test_lists_show_only_the_callers_own(world: dict[str, Any]) -> None:
    client, show = world["client"], world["show"]
    b = {"Authorization": f"Bearer {world['b']}"}
    assert client.get("/api/v1/bookings", headers=b).json()["items"] == []
    assert client.get(f"/api/v1/shows/{show.show_id}/holds", headers=b).json() == []
    a = {"Authorization": f"Bearer {world['a']}"}
    assert [x["id"] for x in client.get("/api/v1/bookings", headers=a).json()["items"]] == [world["booking"]]
    assert [h["id"] for h in client.get(f"/api/v1/shows/{show.show_id}/holds", headers=a).json()] == [world["hold"]]


def test_the_owner_cancels_and_is_refunded(live_service: Service, backing: Backing) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
        ((_, token),) = bulk_users(backing.database_url, 1)
        auth = {"Authorization": f"Bearer {token}"}
        assert (
            client.post(f"/api/v1/shows/{show.show_id}/holds", headers=auth, json={"seats": ["A9"]}).status_code == 201
        )
        paid = client.post(
            f"/api/v1/shows/{show.show_id}/holds/pay",
            headers=auth,
            json={"payment_info": {"card_number": "4242424242424242"}},
        )
        booking_id = paid.json()["booking_id"]
        cancelled = client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=auth)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=auth).json()["status"] == "cancelled"
        assert client.get(f"/api/v1/bookings/{booking_id}", headers=auth).json()["status"] == "cancelled"
        # The seat map may lag by up to 2 s.
        deadline = time.monotonic() + 2.5
        while True:
            seats = {s["id"]: s["status"] for s in client.get(f"/api/v1/shows/{show.show_id}/seats").json()["seats"]}
            if seats["A9"] == "available" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert seats["A9"] == "available"
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        events = [
            r[0]
            for r in conn.execute(
                "SELECT event FROM seat_ledger WHERE show_id = %s AND seat_id = 'A9' ORDER BY id", (show.show_id,)
            )
        ]
        refunded = conn.execute(
            "SELECT c.status FROM payment_charges c JOIN bookings b ON b.payment_ref = c.charge_id WHERE b.id = %s",
            (booking_id,),
        ).fetchone()
    assert events == ["held", "booked", "cancelled"]
    assert refunded == ("refunded",)


def test_an_expired_token_is_refused(live_service: Service, backing: Backing) -> None:
    import datetime as dt

    import jwt

    ((user_id, _),) = bulk_users(backing.database_url, 1)
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        row = conn.execute("SELECT value FROM service_secrets WHERE name = 'token-signing-key'").fetchone()
    assert row is not None
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    expired = jwt.encode({"sub": user_id, "role": "customer", "iat": past, "exp": past}, row[0], algorithm="HS256")
    forged = jwt.encode({"sub": user_id, "role": "admin", "exp": past + dt.timedelta(hours=1)}, "not-the-key")
    with httpx.Client(base_url=live_service.base_url, timeout=10) as client:
        for token, words in ((expired, "expired"), (forged, "not valid")):
            response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
            assert words in response.json()["detail"]
            assert response.headers["WWW-Authenticate"] == "Bearer"
