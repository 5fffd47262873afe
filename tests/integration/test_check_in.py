"""Check-in through HTTP (issue 20): a ticket is admitted exactly once across gates, codes that are not
genuine are invalid, taken-back tickets refused, screenshots of a rotating code expire, offline admits sync
and report conflicts.

The crowd checker (``admits``) first runs against a deliberately racy stand-in that decides without the
serialisation (read "is it in?", await, then write) to prove it finds a double admit when there is one;
then against the service, where the show's actor decides and PostgreSQL's key backs it.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pyotp
import pytest
from fastapi import FastAPI

from harness.client import ShowFixture, admin_headers, bearer, create_show, new_user, seed_hold, seed_pay, staff_token
from harness.stand_in import serve_in_thread
from settings import libpq_url
from tests.conftest import Backing, Service

SCANNERS = 20


@pytest.fixture(scope="module")
def client(service: Service) -> Iterator[httpx.Client]:
    if service.process is None or service.process.poll() is not None:
        service.start()  # an earlier test killed it
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        yield http


def gate_token(client: httpx.Client) -> str:
    return staff_token(client, "gate", "gate")


def booked(client: httpx.Client, show: ShowFixture, seats: list[str]) -> tuple[str, str]:
    """A customer books ``seats``; returns (booking id, the customer's token)."""
    _, customer = new_user(client, "holder")
    assert seed_hold(client, show, customer, seats).status_code == 200
    paid = seed_pay(client, show, customer)
    assert paid.status_code == 200, paid.text
    return str(paid.json()["booking_id"]), customer


def ticket(client: httpx.Client, booking_id: str, customer: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/bookings/{booking_id}/ticket", headers=bearer(customer))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def scan(
    client: httpx.Client, show_id: str, token: str, code: str, gate: str = "G1", direction: str = "in"
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/shows/{show_id}/check-ins",
        headers=bearer(token),
        json={"code": code, "gate": gate, "direction": direction},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def door(client: httpx.Client) -> tuple[ShowFixture, str]:
    return create_show(client), gate_token(client)


def test_a_genuine_code_admits_once_with_the_holder(client: httpx.Client, door: tuple[ShowFixture, str]) -> None:
    show, gate = door
    booking_id, customer = booked(client, show, ["A1", "A2"])
    code = ticket(client, booking_id, customer)["code"]
    first = scan(client, show.show_id, gate, code)
    assert first["result"] == "admitted"
    assert first["seats"] == ["A1", "A2"]
    assert first["holder"] == "holder"
    again = scan(client, show.show_id, gate, code, gate="G7")
    assert again["result"] == "already_admitted"
    assert again["gate"] == "G1"  # where it went in, not where it was scanned again
    assert again["at"] == first["at"]


def test_forged_altered_and_other_show_codes_are_invalid(client: httpx.Client, door: tuple[ShowFixture, str]) -> None:
    show, gate = door
    booking_id, customer = booked(client, show, ["A3"])
    code = ticket(client, booking_id, customer)["code"]
    header, payload, signature = code.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["st"] = ["A3", "A4"]  # one more seat
    altered_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged_signature = base64.urlsafe_b64encode(bytes(64)).rstrip(b"=").decode()
    cases = {
        "altered": f"{header}.{altered_payload}.{signature}",
        "forged": f"{header}.{payload}.{forged_signature}",
        "garbage": "SEATWISE:not-a-ticket",
    }
    for what, bad in cases.items():
        result = scan(client, show.show_id, gate, bad)
        assert result["result"] == "invalid", (what, result)
    other = create_show(client)
    assert scan(client, other.show_id, gate, code)["result"] == "invalid"
    assert scan(client, show.show_id, gate, code)["result"] == "admitted"  # none of that spent the ticket


def test_a_cancelled_bookings_code_is_refused(client: httpx.Client, door: tuple[ShowFixture, str]) -> None:
    show, gate = door
    booking_id, customer = booked(client, show, ["A5"])
    code = ticket(client, booking_id, customer)["code"]
    cancelled = client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=bearer(customer))
    assert cancelled.status_code == 200, cancelled.text
    result = scan(client, show.show_id, gate, code)
    assert result["result"] == "refused"
    assert "cancel" in result["reason"]


def test_a_rotating_code_older_than_its_window_is_refused(client: httpx.Client, door: tuple[ShowFixture, str]) -> None:
    show, gate = door
    booking_id, customer = booked(client, show, ["A6"])
    rotating = ticket(client, booking_id, customer)["rotating"]
    totp = pyotp.TOTP(rotating["secret"], digits=rotating["digits"], interval=rotating["period"])
    screenshot = f"{rotating['token']}~{totp.at(datetime.now(UTC) - timedelta(seconds=60))}"
    old = scan(client, show.show_id, gate, screenshot)
    assert old["result"] == "invalid"
    assert old["reason"] == "expired_code"
    assert scan(client, show.show_id, gate, rotating["token"])["reason"] == "code_required"
    live = f"{rotating['token']}~{totp.now()}"
    assert scan(client, show.show_id, gate, live)["result"] == "admitted"


def test_a_customer_may_not_scan(client: httpx.Client, door: tuple[ShowFixture, str]) -> None:
    show, _ = door
    booking_id, customer = booked(client, show, ["A7"])
    code = ticket(client, booking_id, customer)["code"]
    response = client.post(
        f"/api/v1/shows/{show.show_id}/check-ins", headers=bearer(customer), json={"code": code, "gate": "G1"}
    )
    assert response.status_code == 403


# -- exactly once under concurrent scans ---------------------------------------------------------------------


async def admits(base_url: str, path: str, gate_token_: str, code: str) -> list[str]:
    """Every gate scans the same code at the same instant; the results, one per gate."""
    start = asyncio.Event()
    limits = httpx.Limits(max_connections=SCANNERS)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:

        async def one(gate: int) -> str:
            await start.wait()
            response = await http.post(path, headers=bearer(gate_token_), json={"code": code, "gate": f"G{gate}"})
            assert response.status_code == 200, response.text
            return str(response.json()["result"])

        tasks = [asyncio.create_task(one(g)) for g in range(SCANNERS)]
        await asyncio.sleep(0.1)
        start.set()
        return await asyncio.gather(*tasks)


def racy_door() -> FastAPI:
    """Decides without the serialisation: check, then the awaited write, then answer."""
    app = FastAPI()
    inside: set[str] = set()

    @app.post("/api/v1/shows/{show_id}/check-ins")
    async def check_in(show_id: str, body: dict[str, Any]) -> dict[str, str]:
        if body["code"] in inside:
            return {"result": "already_admitted"}
        await asyncio.sleep(0.01)  # the gap a database round trip opens between the read and the write
        inside.add(body["code"])
        return {"result": "admitted"}

    return app


@pytest.fixture
def racy_server() -> Iterator[str]:
    with serve_in_thread(racy_door()) as url:
        yield url


def test_negative_control_the_checker_finds_a_double_admit(racy_server: str) -> None:
    results = asyncio.run(admits(racy_server, "/api/v1/shows/x/check-ins", "t", "same-ticket"))
    assert results.count("admitted") > 1, results


def test_twenty_gates_at_once_admit_a_ticket_once(
    client: httpx.Client, door: tuple[ShowFixture, str], live_service: Service, backing: Backing
) -> None:
    show, gate = door
    booking_id, customer = booked(client, show, ["B1", "B2"])
    code = ticket(client, booking_id, customer)["code"]
    results = asyncio.run(admits(live_service.base_url, f"/api/v1/shows/{show.show_id}/check-ins", gate, code))
    assert results.count("admitted") == 1, results
    assert results.count("already_admitted") == SCANNERS - 1, results
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        rows = conn.execute("SELECT count(*) FROM admissions WHERE booking_id = %s", (booking_id,)).fetchone()
    assert rows == (1,)


# -- offline gates -------------------------------------------------------------------------------------------


def test_offline_admits_sync_and_report_conflicts(client: httpx.Client, door: tuple[ShowFixture, str]) -> None:
    show, gate = door
    one, customer_one = booked(client, show, ["B3"])
    two, customer_two = booked(client, show, ["B4"])
    code_one = ticket(client, one, customer_one)["code"]
    code_two = ticket(client, two, customer_two)["code"]
    manifest = client.get(f"/api/v1/shows/{show.show_id}/gate-manifest", headers=bearer(gate))
    assert manifest.status_code == 200, manifest.text
    listed = {t["booking_id"]: t for t in manifest.json()["tickets"]}
    assert {one, two} <= set(listed)
    assert manifest.json()["keys"]["keys"]
    now = datetime.now(UTC)
    # Both offline gates let ticket one in; gate North also let ticket two in.
    north = client.post(
        f"/api/v1/shows/{show.show_id}/check-ins/sync",
        headers=bearer(gate),
        json={
            "gate": "North",
            "scans": [
                {"code": code_one, "scanned_at": (now - timedelta(seconds=30)).isoformat()},
                {"code": code_two, "scanned_at": (now - timedelta(seconds=20)).isoformat()},
            ],
        },
    )
    assert north.status_code == 200, north.text
    assert [r["result"] for r in north.json()["results"]] == ["admitted", "admitted"]
    assert all(r["offline"] for r in north.json()["results"])
    south = client.post(
        f"/api/v1/shows/{show.show_id}/check-ins/sync",
        headers=bearer(gate),
        json={"gate": "South", "scans": [{"code": code_one, "scanned_at": (now - timedelta(seconds=10)).isoformat()}]},
    )
    assert south.status_code == 200, south.text
    assert south.json()["conflicts"] == 1
    (result,) = south.json()["results"]
    assert result["result"] == "already_admitted"
    assert result["gate"] == "North"
    report = client.get(f"/api/v1/admin/shows/{show.show_id}/door", headers=admin_headers(client))
    assert report.status_code == 200, report.text
    conflicts = [c for c in report.json()["conflicts"] if c["booking_id"] == one]
    assert [(c["gate"], c["first_gate"]) for c in conflicts] == [("South", "North")]
    assert report.json()["inside"] >= 2
    assert any(m["gate"] == "North" for m in report.json()["per_minute"])


def test_reentry_after_an_exit_scan_when_the_show_allows_it(client: httpx.Client) -> None:
    gate = gate_token(client)
    for reentry in (False, True):
        show = create_show(client, reentry=reentry)
        booking_id, customer = booked(client, show, ["A1"])
        code = ticket(client, booking_id, customer)["code"]
        assert scan(client, show.show_id, gate, code)["result"] == "admitted"
        out = scan(client, show.show_id, gate, code, direction="out")
        back = scan(client, show.show_id, gate, code)
        if reentry:
            assert out["result"] == "exited"
            assert (back["result"], back["entry"]) == ("admitted", 2)
        else:
            assert out["result"] == "refused"
            assert back["result"] == "already_admitted"
