"""Seat maps that scale (issue 19) over HTTP against the real service: a venue's overview
(``GET /shows/{id}/venue``), one section's map (``GET /shows/{id}/sections/{code}/seats``) and the live
stream narrowed to a section (``/seats/stream?section=CODE``), on a venue of a few thousand places built
through the API (seated sections and a standing zone). Holds are made through the API; what the reads
show is checked against them, within the 2 s staleness promise."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api_client import bearer, bulk_users, create_show, wait_until
from tests.conftest import Backing, Service
from tests.integration.test_stream import SseClient, SseEvent, seat_statuses

STALENESS = 2.0  # the promise: a read is at most this far behind the show's actor
PRICES = {"standard": 80.0, "premium": 150.0, "floor": 60.0}
SECTIONS: list[dict[str, Any]] = [
    {"code": "111", "name": "Block 111", "rows": [{"row": r, "seats": 40} for r in "ABCDEFGHIJ"]},
    {
        "code": "112",
        "name": "Block 112",
        "rows": [{"row": "A", "seats": 30, "category": "premium"}] + [{"row": r, "seats": 30} for r in "BCDEFGHIJK"],
    },
    {"code": "113", "name": "Block 113", "category": "premium", "rows": [{"row": r, "seats": 25} for r in "ABCDEF"]},
    {"code": "FLA", "name": "Floor A", "kind": "standing", "category": "floor", "capacity": 1500},
]
CAPACITY = 400 + 330 + 150 + 1500


@dataclass(frozen=True)
class Venue:
    show_id: str
    seats: list[str]


@pytest.fixture
def client(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
        yield c


def create_venue_show(client: httpx.Client) -> Venue:
    """A stadium-like venue and a show in it, through the admin API."""
    show = create_show(client, prices=PRICES, sections=SECTIONS, names=("Concert", "Arena"))
    return Venue(show.show_id, show.seats)


@pytest.fixture
def venue(client: httpx.Client) -> Venue:
    return create_venue_show(client)


def hold(client: httpx.Client, show_id: str, token: str, body: dict[str, Any]) -> list[str]:
    response = client.post(f"/api/v1/shows/{show_id}/holds", headers=bearer(token), json=body)
    assert response.status_code == 201, response.text
    seats: list[str] = response.json()["seats"]
    return seats


def get_json(client: httpx.Client, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def sections_of(overview: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["code"]: s for s in overview["sections"]}


def test_the_overview_and_a_sections_map_count_what_the_api_holds(
    client: httpx.Client, venue: Venue, backing: Backing
) -> None:
    overview = get_json(client, f"/api/v1/shows/{venue.show_id}/venue")
    sections = sections_of(overview)
    assert list(sections) == ["111", "112", "113", "FLA"]
    assert overview["capacity"] == CAPACITY == len(venue.seats) == sum(s["capacity"] for s in sections.values())
    assert overview["counts"] == {"available": CAPACITY, "held": 0, "booked": 0, "blocked": 0}
    assert [(s["kind"], s["capacity"], s["available"]) for s in sections.values()] == [
        ("seated", 400, 400),
        ("seated", 330, 330),
        ("seated", 150, 150),
        ("standing", 1500, 1500),
    ]
    prices = {code: (s["price_min"], s["price_max"]) for code, s in sections.items()}
    assert prices == {"111": (80.0, 80.0), "112": (80.0, 150.0), "113": (150.0, 150.0), "FLA": (60.0, 60.0)}
    block = get_json(client, f"/api/v1/shows/{venue.show_id}/sections/112/seats")
    assert [s["id"] for s in block["seats"]] == [s for s in venue.seats if s.startswith("112-")]
    assert block["seats"][0] == {
        "id": "112-A-1",
        "row": "A",
        "number": 1,
        "status": "available",
        "category": "premium",
        "price": 150.0,
    }
    assert block["section"] == sections["112"]
    assert get_json(client, f"/api/v1/shows/{venue.show_id}/sections/FLA/seats")["seats"] == []

    (_, alice), (_, bob) = bulk_users(backing.database_url, 2)
    held_112 = hold(client, venue.show_id, alice, {"seats": ["112-C-5", "112-C-6", "112-C-7"]})
    floor = hold(client, venue.show_id, bob, {"count": 4, "section": "FLA"})
    best = hold(client, venue.show_id, bob, {"count": 2, "section": "113"})
    assert sorted(p.split("-")[0] for p in floor + best) == ["113", "113", "FLA", "FLA", "FLA", "FLA"]
    held_at = time.monotonic()

    def shows_the_holds() -> bool:
        sections = sections_of(get_json(client, f"/api/v1/shows/{venue.show_id}/venue"))
        return [sections[c]["held"] for c in ("111", "112", "113", "FLA")] == [0, 3, 2, 4]

    wait_until(shows_the_holds, STALENESS, "the overview shows the holds")
    assert time.monotonic() - held_at < STALENESS
    overview = get_json(client, f"/api/v1/shows/{venue.show_id}/venue")
    assert overview["counts"] == {"available": CAPACITY - 9, "held": 9, "booked": 0, "blocked": 0}
    assert sections_of(overview)["FLA"]["available"] == 1496
    block = get_json(client, f"/api/v1/shows/{venue.show_id}/sections/112/seats")
    assert {s["id"] for s in block["seats"] if s["status"] == "held"} == set(held_112)
    assert block["counts"] == {"available": 327, "held": 3, "booked": 0, "blocked": 0}
    assert block["section"]["held"] == 3
    standing = get_json(client, f"/api/v1/shows/{venue.show_id}/sections/FLA/seats")
    assert standing["counts"] == {"available": 1496, "held": 4, "booked": 0, "blocked": 0}
    # The pinned flat map still lists every place, with the same statuses, encoded as before (compact).
    response = client.get(f"/api/v1/shows/{venue.show_id}/seats")
    flat = response.json()
    assert response.content == json.dumps(flat, separators=(",", ":")).encode()
    assert flat["counts"] == overview["counts"]
    assert [s["id"] for s in flat["seats"]] == venue.seats
    assert {s["id"] for s in flat["seats"] if s["status"] == "held"} == {*held_112, *floor, *best}


def test_unknown_sections_and_shows_are_404(client: httpx.Client, venue: Venue, live_service: Service) -> None:
    missing = client.get(f"/api/v1/shows/{venue.show_id}/sections/999/seats")
    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/api/v1/shows/{venue.show_id}/sections/bad-code/seats").status_code == 404  # issue 14
    nobody = "00000000-0000-4000-8000-000000000000"
    assert client.get(f"/api/v1/shows/{nobody}/venue").status_code == 404
    assert client.get(f"/api/v1/shows/{nobody}/sections/112/seats").status_code == 404
    with SseClient(
        live_service.base_url, f"/api/v1/shows/{venue.show_id}/seats/stream", params={"section": "999"}
    ) as s:
        assert s.status == 404, s.body


def test_a_section_stream_carries_its_section_only(
    client: httpx.Client, venue: Venue, live_service: Service, backing: Backing
) -> None:
    (_, alice), (_, bob) = bulk_users(backing.database_url, 2)
    hold(client, venue.show_id, alice, {"seats": ["111-J-40"]})  # the show's actor is active
    path = f"/api/v1/shows/{venue.show_id}/seats/stream"
    with (
        SseClient(live_service.base_url, path, params={"section": "112"}) as narrow,
        SseClient(live_service.base_url, path) as whole,
    ):
        snapshot = narrow.until(lambda e: e.event == "snapshot" and e.data["seq"] is not None)
        assert [s["id"] for s in snapshot.data["seats"]] == [s for s in venue.seats if s.startswith("112-")]
        assert snapshot.data["section"]["code"] == "112"
        assert snapshot.data["counts"] == {"available": 330, "held": 0, "booked": 0, "blocked": 0}
        whole.until(lambda e: e.event == "snapshot" and e.data["seq"] is not None)
        hold(client, venue.show_id, alice, {"seats": ["111-A-1", "111-A-2"]})  # elsewhere: first
        hold(client, venue.show_id, bob, {"seats": ["112-K-1", "112-K-2"]})
        # The whole map's stream sees both (the other section's change was published) ...
        whole.until(lambda e: seat_statuses(e).get("111-A-1") == "held")
        whole.until(lambda e: seat_statuses(e).get("112-K-1") == "held")
        # ... the section's stream only its own: nothing before it, nothing of 111 with it.
        seen: list[SseEvent] = []

        def noted(event: SseEvent) -> bool:
            seen.append(event)
            return seat_statuses(event).get("112-K-1") == "held"

        narrow.until(noted)
        assert [e.event for e in seen] == ["seats"], seen
        assert seen[0].data["section"] == "112"
        assert seat_statuses(seen[0]) == {"112-K-1": "held", "112-K-2": "held"}
        floor = hold(client, venue.show_id, alice, {"count": 3, "section": "FLA"})
        assert {c["seat"] for c in whole.next("seats").data["changes"]} == set(floor)
        assert [e for e in narrow.drain(0.5) if e.event == "seats"] == []


def test_a_cinema_screens_venue_has_no_sections(client: httpx.Client) -> None:
    show = create_show(client)
    overview = get_json(client, f"/api/v1/shows/{show.show_id}/venue")
    assert overview["sections"] == []
    assert overview["capacity"] == len(show.seats) == 20
    assert overview["counts"] == {"available": 20, "held": 0, "booked": 0, "blocked": 0}
    assert client.get(f"/api/v1/shows/{show.show_id}/sections/A/seats").status_code == 404
