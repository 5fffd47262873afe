"""A 100,000-place stadium through the API (issue 19): created, shown, held, paid, expired and cancelled.

One venue (``harness/stadium.py``: 80 seated blocks of 25 x 40 and a 20,000-place standing zone ``FLA``)
is built once for the module, with two shows on it: one with the default hold length, one whose holds
last 2 seconds (for expiry). Seats are held by name (``112-K-14``), best-available in a block and in a
category across blocks, and standing places by quantity; paid, cancelled by the customer, and left to
expire. PostgreSQL's zone count (``show_zones.taken``) and the admin's seat ledger record the standing
places like seats. The old cinema ids and routes are the existing contract tests' business.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from harness.client import ShowFixture, admin_headers, bearer, bulk_users, wait_until
from harness.stadium import STADIUM_PRICES, Stadium, create_stadium_show
from settings import libpq_url
from tests.conftest import Backing, Service

STADIUM = Stadium()
CARD = {"card_number": "4242424242424242"}
# The seat maps may be up to 2 s behind the actors (as documented); give them room on a loaded machine.
MAP_SLACK = 15.0
EXPIRY_SLACK = 20.0


@dataclass(frozen=True)
class Venue:
    show: ShowFixture  # default hold length
    short: ShowFixture  # holds last 2 seconds
    created_in: float  # seconds to create the venue and its first show


@pytest.fixture(scope="module")
def venue(service: Service) -> Venue:
    with httpx.Client(base_url=service.base_url, timeout=120) as client:
        started = time.monotonic()
        show = create_stadium_show(client, STADIUM)
        created_in = time.monotonic() - started
        again = client.post(
            "/api/v1/admin/shows",
            headers=admin_headers(client),
            json={
                "movie_id": show.movie_id,
                "screen_id": show.screen_id,
                "starts_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
                "prices": STADIUM_PRICES,
                "hold_ttl_seconds": 2,
            },
        )
        assert again.status_code == 201, again.text
        short = ShowFixture(again.json()["id"], show.movie_id, show.theater_id, show.screen_id, show.seats)
    return Venue(show, short, created_in)


@pytest.fixture
def client(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=60) as c:
        yield c


def zone_taken(backing: Backing, show_id: str) -> int:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        row = conn.execute("SELECT taken FROM show_zones WHERE show_id = %s AND zone = 'FLA'", (show_id,)).fetchone()
    assert row is not None
    return int(row[0])


def hold(client: httpx.Client, show: ShowFixture, token: str, body: dict[str, Any]) -> list[str]:
    response = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer(token), json=body)
    assert response.status_code == 201, response.text
    return list(response.json()["seats"])


def pay(client: httpx.Client, show: ShowFixture, token: str) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/shows/{show.show_id}/holds/pay", headers=bearer(token), json={"payment_info": CARD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def section(client: httpx.Client, show: ShowFixture, code: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/shows/{show.show_id}/sections/{code}/seats")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def overview(client: httpx.Client, show: ShowFixture) -> dict[str, Any]:
    response = client.get(f"/api/v1/shows/{show.show_id}/venue")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def statuses(client: httpx.Client, show: ShowFixture, code: str) -> dict[str, str]:
    return {s["id"]: s["status"] for s in section(client, show, code)["seats"]}


def ledger(client: httpx.Client, show: ShowFixture, seat: str) -> list[str]:
    response = client.get(
        f"/api/v1/admin/shows/{show.show_id}/ledger", headers=admin_headers(client), params={"seat": seat}
    )
    assert response.status_code == 200, response.text
    return [entry["event"] for entry in response.json()]


def test_a_stadium_is_created_with_every_place(venue: Venue) -> None:
    seats = venue.show.seats
    assert len(seats) == STADIUM.capacity == 100_000
    assert len(set(seats)) == len(seats)
    assert {"112-K-14", "101-A-1", "240-Y-40", "FLA-1", "FLA-20000"} <= set(seats)
    assert sum(1 for s in seats if s.startswith("FLA-")) == 20_000
    assert venue.created_in < 30, f"creating a 100,000-place venue took {venue.created_in:.1f} s"


def test_the_whole_map_the_overview_and_a_section(venue: Venue, client: httpx.Client) -> None:
    whole = client.get(f"/api/v1/shows/{venue.show.show_id}/seats")
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert [s["id"] for s in body["seats"]] == venue.show.seats
    assert sum(body["counts"].values()) == 100_000

    over = overview(client, venue.show)
    assert over["capacity"] == 100_000
    assert sum(over["counts"].values()) == 100_000
    assert [s["code"] for s in over["sections"]] == [*STADIUM.block_codes(), "FLA"]
    assert sum(s["capacity"] for s in over["sections"]) == 100_000
    floor = over["sections"][-1]
    assert (floor["kind"], floor["category"], floor["capacity"]) == ("standing", "floor", 20_000)
    assert (floor["price_min"], floor["price_max"]) == (STADIUM_PRICES["floor"], STADIUM_PRICES["floor"])
    block = next(s for s in over["sections"] if s["code"] == "112")
    assert (block["kind"], block["category"], block["capacity"]) == ("seated", "premium", 1_000)
    # Small enough to poll: a few hundred bytes per section, where the whole map is megabytes.
    small = client.get(f"/api/v1/shows/{venue.show.show_id}/venue").content
    assert len(small) < 64 * 1024 < len(whole.content)

    seats = section(client, venue.show, "112")
    assert len(seats["seats"]) == 1_000
    assert all(s["id"].startswith("112-") for s in seats["seats"])
    assert {s["price"] for s in seats["seats"]} == {STADIUM_PRICES["premium"]}
    assert section(client, venue.show, "FLA")["seats"] == []
    missing = client.get(f"/api/v1/shows/{venue.show.show_id}/sections/999/seats")
    assert missing.status_code == 404, missing.text


def test_hold_by_name_in_a_block_by_category_and_standing(venue: Venue, client: httpx.Client, backing: Backing) -> None:
    show = venue.show
    (_, named), (_, block), (_, premium), (_, floor), (_, late) = bulk_users(backing.database_url, 5)
    taken_before = zone_taken(backing, show.show_id)

    assert hold(client, show, named, {"seats": ["112-K-14", "112-K-15"]}) == ["112-K-14", "112-K-15"]
    clash = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer(late), json={"seats": ["112-K-14"]})
    assert clash.status_code == 409, clash.text

    in_block = hold(client, show, block, {"count": 4, "section": "112"})
    assert all(s.startswith("112-") for s in in_block)
    rows = {s.split("-")[1] for s in in_block}
    numbers = sorted(int(s.split("-")[2]) for s in in_block)
    assert len(rows) == 1
    assert numbers == list(range(numbers[0], numbers[0] + 4))
    assert not {"112-K-14", "112-K-15"} & set(in_block)

    across = hold(client, show, premium, {"count": 2, "category": "premium"})
    assert all(s.split("-")[0].startswith("1") and s.count("-") == 2 for s in across)

    places = hold(client, show, floor, {"count": 3, "section": "FLA"})
    assert len(set(places)) == 3
    assert all(p.startswith("FLA-") and p.count("-") == 1 for p in places)
    assert zone_taken(backing, show.show_id) == taken_before + 3

    unknown = client.post(
        f"/api/v1/shows/{show.show_id}/holds", headers=bearer(late), json={"count": 2, "section": "999"}
    )
    assert unknown.status_code == 400, unknown.text

    def shown() -> bool:
        over = {s["code"]: s for s in overview(client, show)["sections"]}
        block_seats = statuses(client, show, "112")
        return (
            over["FLA"]["held"] >= 3
            and over["112"]["held"] >= 6
            and all(block_seats[s] == "held" for s in ["112-K-14", "112-K-15", *in_block])
        )

    wait_until(shown, MAP_SLACK, "the holds on the overview and the block's map")


def test_standing_places_paid_cancelled_and_in_the_ledger(venue: Venue, client: httpx.Client, backing: Backing) -> None:
    show = venue.show
    (_, fan), (_, other) = bulk_users(backing.database_url, 2)
    taken_before = zone_taken(backing, show.show_id)
    places = hold(client, show, fan, {"count": 4, "section": "FLA"})
    seat = hold(client, show, fan, {"seats": ["205-C-7"]})
    booking = pay(client, show, fan)
    assert sorted(booking["selected_seat"]) == sorted([*places, *seat])
    assert booking["amount"] >= 4 * STADIUM_PRICES["floor"] + STADIUM_PRICES["standard"]
    assert zone_taken(backing, show.show_id) == taken_before + 4  # booking keeps the claims

    wait_until(
        lambda: overview(client, show)["sections"][-1]["booked"] >= 4, MAP_SLACK, "the booked places on the overview"
    )
    mine = client.get(f"/api/v1/bookings/{booking['booking_id']}", headers=bearer(fan))
    assert mine.status_code == 200, mine.text
    assert sorted(mine.json()["seats"]) == sorted([*places, *seat])

    cancelled = client.post(f"/api/v1/bookings/{booking['booking_id']}/cancel", headers=bearer(fan))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "customer"
    assert zone_taken(backing, show.show_id) == taken_before
    wait_until(
        lambda: statuses(client, show, "205")["205-C-7"] == "available", MAP_SLACK, "the cancelled seat on sale again"
    )

    for place in places:
        assert ledger(client, show, place) == ["held", "payment_pending", "booked", "cancelled"], place
    assert ledger(client, show, "205-C-7") == ["held", "payment_pending", "booked", "cancelled"]

    # The places are free again: someone else may take the very same number.
    again = hold(client, show, other, {"count": 4, "section": "FLA"})
    assert len(again) == 4
    assert zone_taken(backing, show.show_id) == taken_before + 4


def test_holds_expire_on_a_stadium(venue: Venue, client: httpx.Client, backing: Backing) -> None:
    show = venue.short
    (_, slow), (_, next_) = bulk_users(backing.database_url, 2)
    places = hold(client, show, slow, {"count": 5, "section": "FLA"})
    seats = hold(client, show, slow, {"count": 3, "section": "230"})
    assert zone_taken(backing, show.show_id) == 5

    wait_until(lambda: zone_taken(backing, show.show_id) == 0, EXPIRY_SLACK, "the standing places' claims expired")
    for place in places:
        assert ledger(client, show, place) == ["held", "expired"], place
    assert ledger(client, show, seats[0]) == ["held", "expired"]
    mine = client.get(f"/api/v1/shows/{show.show_id}/holds", headers=bearer(slow))
    assert mine.status_code == 200, mine.text
    assert mine.json() == []
    wait_until(
        lambda: all(statuses(client, show, "230")[s] == "available" for s in seats),
        MAP_SLACK,
        "the expired seats on sale again",
    )
    # Another customer gets the seats the expired hold had (best-available picks the same block again).
    assert hold(client, show, next_, {"count": 3, "section": "230"}) == seats
