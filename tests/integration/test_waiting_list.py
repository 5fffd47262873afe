"""The waiting list after sell-out, over HTTP: offers follow the list's order, a seat is offered to one
person at a time as a hold of their own, nothing is offered that is not free, and an unused offer passes to
the next (with a service of its own: offers kept 4 s, rounds every half second)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from harness.backing import provision_postgres
from persistence import migrate
from settings import libpq_url
from tests.api_client import ShowFixture, bearer, bulk_users, create_show, wait_until
from tests.conftest import Backing, Service, serving

OFFER_SECONDS = 4
# How long a round may take to act once it is due, on a loaded machine (CI runs beside other tests): a round
# waits for the show's actor and PostgreSQL, and rounds run one after another.
ROUND_SLACK = 20
CARD = {"card_number": "4242424242424242"}


@pytest.fixture(scope="module")
def own(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backing]:
    """A database of this module's own: every API process runs the waiting-list rounds of every show in
    its database, and the session's shared service (offers kept 5 minutes) must not make these offers."""
    url, drop = provision_postgres(tmp_path_factory.mktemp("waiting-list-db"))
    migrate.upgrade(url)
    try:
        yield dataclasses.replace(backing, database_url=url, redis_prefix=f"{backing.redis_prefix}wl:")
    finally:
        drop()


@pytest.fixture(scope="module")
def service(own: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = {
        "BOOKING_WAITING_LIST_OFFER_SECONDS": str(OFFER_SECONDS),
        "BOOKING_QUEUE_ROUND_SECONDS": "0.5",
        "BOOKING_PREWARM_LEAD_SECONDS": "0",
    }
    with serving(own, tmp_path_factory, "waiting-list", env) as svc:  # and a payment gateway of its own
        yield svc


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=30) as c:
        yield c


def place(client: httpx.Client, show: ShowFixture, token: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/shows/{show.show_id}/waiting-list", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def buy(client: httpx.Client, show: ShowFixture, token: str, seats: list[str]) -> str:
    held = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer(token), json={"seats": seats})
    assert held.status_code == 201, held.text
    paid = client.post(f"/api/v1/shows/{show.show_id}/holds/pay", headers=bearer(token), json={"payment_info": CARD})
    assert paid.status_code == 200, paid.text
    return str(paid.json()["booking_id"])


def seat_statuses(client: httpx.Client, show: ShowFixture) -> dict[str, str]:
    return {s["id"]: s["status"] for s in client.get(f"/api/v1/shows/{show.show_id}/seats").json()["seats"]}


def test_offers_go_in_list_order_one_at_a_time_and_pass_on_when_unused(client: httpx.Client, own: Backing) -> None:
    show = create_show(client, rows=[{"row": "A", "seats": 2, "category": "standard"}], prices={"standard": 100.0})
    (_, buyer), (carol_id, carol), (dan_id, dan), (_, erin) = bulk_users(own.database_url, 4)
    booking = buy(client, show, buyer, ["A1", "A2"])  # sold out
    for token in (carol, dan, erin):
        joined = client.post(f"/api/v1/shows/{show.show_id}/waiting-list", headers=bearer(token), json={"seats": 2})
        assert joined.status_code == 200, joined.text
    assert [place(client, show, t)["ahead"] for t in (carol, dan, erin)] == [0, 1, 2]
    time.sleep(1.5)
    assert all(place(client, show, t)["state"] == "waiting" for t in (carol, dan, erin))  # nothing is free

    cancelled = client.post(f"/api/v1/bookings/{booking}/cancel", headers=bearer(buyer))
    assert cancelled.status_code == 200, cancelled.text
    wait_until(
        lambda: place(client, show, carol)["state"] == "offered", ROUND_SLACK, "the first in line offered the seats"
    )
    offer = place(client, show, carol)
    assert offer["offer_hold_id"]
    assert offer["offer_expires_at"]
    assert [place(client, show, t)["state"] for t in (dan, erin)] == ["waiting", "waiting"]
    # Held for Carol, for nobody else (the seat map may be up to 2 s behind: BOOKING_SEATMAP_MAX_STALENESS).
    wait_until(lambda: set(seat_statuses(client, show).values()) == {"held"}, 5, "the offered seats shown held")
    with psycopg.connect(libpq_url(own.database_url)) as conn:
        (owner,) = conn.execute("SELECT user_id FROM holds WHERE id = %s", (offer["offer_hold_id"],)).fetchone() or (
            "",
        )
        mails = conn.execute(
            "SELECT count(*) FROM notification_outbox WHERE kind = 'waitlist.offered' AND user_id = %s", (carol_id,)
        ).fetchone()
    assert owner == carol_id
    assert mails == (1,)

    # Carol does not pay: her offer lapses and the seats pass to Dan, and to nobody else meanwhile.
    wait_until(
        lambda: place(client, show, carol)["state"] == "lapsed", OFFER_SECONDS + ROUND_SLACK, "Carol's offer lapsed"
    )
    wait_until(lambda: place(client, show, dan)["state"] == "offered", ROUND_SLACK, "Dan offered the seats next")
    assert place(client, show, erin)["state"] == "waiting"
    paid = client.post(f"/api/v1/shows/{show.show_id}/holds/pay", headers=bearer(dan), json={"payment_info": CARD})
    assert paid.status_code == 200, paid.text
    wait_until(lambda: place(client, show, dan)["state"] == "booked", ROUND_SLACK, "Dan's offer booked")
    time.sleep(1.5)
    assert place(client, show, erin)["state"] == "waiting"  # sold out again: nothing to offer
    with psycopg.connect(libpq_url(own.database_url)) as conn:
        offered_to = [
            r[0]
            for r in conn.execute(
                "SELECT user_id FROM holds WHERE show_id = %s ORDER BY created_at", (show.show_id,)
            ).fetchall()
        ][1:]
    assert offered_to == [carol_id, dan_id]  # one person at a time, in the list's order


def test_the_first_in_line_is_not_skipped_for_someone_wanting_fewer_seats(client: httpx.Client, own: Backing) -> None:
    show = create_show(client, rows=[{"row": "A", "seats": 3, "category": "standard"}], prices={"standard": 100.0})
    (_, one), (_, other), (_, big), (_, small) = bulk_users(own.database_url, 4)
    first = buy(client, show, one, ["A1"])
    buy(client, show, other, ["A2", "A3"])
    client.post(f"/api/v1/shows/{show.show_id}/waiting-list", headers=bearer(big), json={"seats": 2})
    client.post(f"/api/v1/shows/{show.show_id}/waiting-list", headers=bearer(small), json={"seats": 1})
    assert client.post(f"/api/v1/bookings/{first}/cancel", headers=bearer(one)).status_code == 200
    time.sleep(2)  # one seat free: the first wants two, so nobody is offered anything
    assert [place(client, show, t)["state"] for t in (big, small)] == ["waiting", "waiting"]
    left = client.delete(f"/api/v1/shows/{show.show_id}/waiting-list", headers=bearer(big))
    assert left.status_code == 204
    wait_until(
        lambda: place(client, show, small)["state"] == "offered", ROUND_SLACK, "the next in line offered the one seat"
    )


def test_refusals(client: httpx.Client, own: Backing) -> None:
    ((_, token),) = bulk_users(own.database_url, 1)
    show = create_show(client)
    missing = client.get(f"/api/v1/shows/{show.show_id}/waiting-list", headers=bearer(token))
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("not-on-waiting-list")
    unknown = client.post(
        "/api/v1/shows/00000000-0000-4000-8000-000000000000/waiting-list", headers=bearer(token), json={"seats": 1}
    )
    assert unknown.status_code == 404
    too_many = client.post(f"/api/v1/shows/{show.show_id}/waiting-list", headers=bearer(token), json={"seats": 99})
    assert too_many.status_code == 422
    assert client.post(f"/api/v1/shows/{show.show_id}/waiting-list", json={"seats": 1}).status_code == 401
