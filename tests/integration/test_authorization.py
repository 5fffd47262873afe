"""Object-level authorization: account B against every one of account A's ids, on every route that takes
one. Each attempt must fail as if the id did not exist (404, or an empty list) and change nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from payments.simulator import SimulatorProcess
from settings import libpq_url
from tests.api_client import ShowFixture, bulk_users, create_show, pay_body
from tests.conftest import Backing, Service, gateway_ledger


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


def snapshot(backing: Backing, gateway: SimulatorProcess, show: ShowFixture) -> tuple[Any, ...]:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        charges = {r[0] for r in conn.execute("SELECT payment_ref FROM bookings WHERE show_id = %s", (show.show_id,))}
        return (
            # Money given back for this show's bookings: the gateway's refunds of their charges.
            [r["refund_id"] for r in gateway_ledger(gateway)["refunds"] if r["charge_id"] in charges],
            conn.execute(
                "SELECT seat_id, hold_id, booking_id FROM seat_claims WHERE show_id = %s ORDER BY seat_id",
                (show.show_id,),
            ).fetchall(),
            conn.execute(
                "SELECT id, status, expires_at, extensions FROM holds WHERE show_id = %s", (show.show_id,)
            ).fetchall(),
            conn.execute("SELECT id, status FROM bookings WHERE show_id = %s", (show.show_id,)).fetchall(),
        )


Attempt = Callable[[dict[str, Any]], httpx.Response]


def as_b(world: dict[str, Any], method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request by account B, with its bearer token."""
    client: httpx.Client = world["client"]
    return client.request(method, path, headers={"Authorization": f"Bearer {world['b']}"}, **kwargs)


ATTEMPTS: dict[str, tuple[Attempt, int]] = {
    "view A's booking": (lambda w: as_b(w, "GET", f"/api/v1/bookings/{w['booking']}"), 404),
    "cancel A's booking": (lambda w: as_b(w, "POST", f"/api/v1/bookings/{w['booking']}/cancel"), 404),
    "extend A's hold": (
        lambda w: as_b(w, "POST", f"/api/v1/shows/{w['show'].show_id}/holds/{w['hold']}/extend"),
        404,
    ),
    "release A's hold": (lambda w: as_b(w, "DELETE", f"/api/v1/shows/{w['show'].show_id}/holds/{w['hold']}"), 404),
    "pay on A's show (v1)": (
        lambda w: as_b(
            w,
            "POST",
            f"/api/v1/shows/{w['show'].show_id}/holds/pay",
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
    "read the show's ledger": (lambda w: as_b(w, "GET", f"/api/v1/admin/shows/{w['show'].show_id}/ledger"), 403),
}


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_account_b_cannot_touch_account_a(
    name: str, world: dict[str, Any], backing: Backing, gateway: SimulatorProcess
) -> None:
    attempt, expected = ATTEMPTS[name]
    before = snapshot(backing, gateway, world["show"])
    response = attempt(world)
    assert response.status_code == expected, (name, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert world["a_id"] not in response.text  # nothing of A leaks (echoing the id B sent is fine)
    assert snapshot(backing, gateway, world["show"]) == before, f"{name} changed something"


def test_lists_show_only_the_callers_own(world: dict[str, Any]) -> None:
    client, show = world["client"], world["show"]
    b = {"Authorization": f"Bearer {world['b']}"}
    assert client.get("/api/v1/bookings", headers=b).json()["items"] == []
    assert client.get(f"/api/v1/shows/{show.show_id}/holds", headers=b).json() == []
    a = {"Authorization": f"Bearer {world['a']}"}
    assert [x["id"] for x in client.get("/api/v1/bookings", headers=a).json()["items"]] == [world["booking"]]
    assert [h["id"] for h in client.get(f"/api/v1/shows/{show.show_id}/holds", headers=a).json()] == [world["hold"]]


def test_the_owner_cancels_and_is_refunded(live_service: Service, backing: Backing, gateway: SimulatorProcess) -> None:
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
        assert cancelled.json()["cancel_reason"] == "customer"
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
        booking = conn.execute("SELECT payment_ref FROM bookings WHERE id = %s", (booking_id,)).fetchone()
    assert events == ["held", "payment_pending", "booked", "cancelled"]
    assert booking is not None
    ledger = gateway_ledger(gateway)
    (charge,) = [c for c in ledger["charges"] if c["charge_id"] == booking[0]]
    refunds = [r for r in ledger["refunds"] if r["charge_id"] == booking[0]]
    assert charge["status"] == "captured"
    assert refunds
    # The default policy keeps 10 % of the seats' price on a customer's own cancellation.
    expected = Decimal(charge["amount"]) - (Decimal(charge["amount"]) * Decimal("0.10")).quantize(Decimal("0.01"))
    assert Decimal(charge["refunded"]) == sum(Decimal(r["amount"]) for r in refunds) == expected
    assert Decimal(str(cancelled.json()["refund_amount"])) == expected


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
