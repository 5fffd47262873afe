"""Idempotency-Key on hold creation and payment: replays, mismatches, concurrent duplicates, refusals."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import httpx
import psycopg
import pytest

from payments.simulator import SimulatorProcess
from settings import libpq_url
from tests.api_client import ShowFixture, bulk_users, create_show, pay_body
from tests.conftest import Backing, Service, gateway_ledger


@pytest.fixture
def client(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
        yield c


def holds_of(backing: Backing, show: ShowFixture, user_id: str) -> list[tuple[str, list[str]]]:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT id, seat_ids FROM holds WHERE show_id = %s AND user_id = %s", (show.show_id, user_id)
            )
        ]


def test_a_replayed_hold_returns_the_first_answer_and_holds_nothing_more(
    client: httpx.Client, backing: Backing
) -> None:
    show = create_show(client)
    ((user_id, token),) = bulk_users(backing.database_url, 1)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "hold-1"}
    url = f"/api/v1/shows/{show.show_id}/holds"
    first = client.post(url, headers=headers, json={"seats": ["A1", "A2"]})
    again = client.post(url, headers=headers, json={"seats": ["A1", "A2"]})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert holds_of(backing, show, user_id) == [(first.json()["id"], ["A1", "A2"])]

    other_body = client.post(url, headers=headers, json={"seats": ["A3"]})
    assert other_body.status_code == 422
    assert other_body.json()["type"].endswith("idempotency-key-reused")


def test_a_refusal_is_replayed_too(client: httpx.Client, backing: Backing) -> None:
    show = create_show(client)
    (_, alice), (_, bob) = bulk_users(backing.database_url, 2)
    url = f"/api/v1/shows/{show.show_id}/holds"
    taken = client.post(url, headers={"Authorization": f"Bearer {alice}"}, json={"seats": ["B1"]})
    assert taken.status_code == 201
    headers = {"Authorization": f"Bearer {bob}", "Idempotency-Key": "bob-b1"}
    refused = client.post(url, headers=headers, json={"seats": ["B1"]})
    assert refused.status_code == 409
    assert client.delete(f"{url}/{taken.json()['id']}", headers={"Authorization": f"Bearer {alice}"}).status_code == 204
    replayed = client.post(url, headers=headers, json={"seats": ["B1"]})
    assert replayed.status_code == 409
    assert replayed.json()["detail"] == refused.json()["detail"]


def test_concurrent_duplicates_create_one_hold(live_service: Service, backing: Backing) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
        show = create_show(c)
    ((user_id, token),) = bulk_users(backing.database_url, 1)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "burst"}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_service.base_url, timeout=30) as c:
            return await asyncio.gather(
                *(
                    c.post(f"/api/v1/shows/{show.show_id}/holds", headers=headers, json={"seats": ["A5"]})
                    for _ in range(12)
                )
            )

    responses = asyncio.run(burst())
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status_code not in {201, 409}]
    assert statuses[201] >= 1
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
    assert all(r.json()["type"].endswith("request-in-progress") for r in responses if r.status_code == 409)
    assert len(holds_of(backing, show, user_id)) == 1


def test_a_replayed_payment_never_charges_twice(
    client: httpx.Client, backing: Backing, gateway: SimulatorProcess
) -> None:
    show = create_show(client)
    ((_, token),) = bulk_users(backing.database_url, 1)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/v1/shows/{show.show_id}/holds", headers=auth, json={"seats": ["A6"]}).status_code == 201
    headers = {**auth, "Idempotency-Key": "pay-d1"}
    body = {"payment_info": {"card_number": "4242424242424242"}}
    charged_before = {c["charge_id"] for c in gateway_ledger(gateway)["charges"] if c["status"] == "captured"}
    first = client.post(f"/api/v1/shows/{show.show_id}/holds/pay", headers=headers, json=body)
    second = client.post(f"/api/v1/shows/{show.show_id}/holds/pay", headers=headers, json=body)
    seed = client.post(
        f"/SubmitPayment/api/v0/{show.show_id}",
        headers={"AuthorizationToken": token, "Idempotency-Key": "pay-d1"},
        json=pay_body(show),
    )
    assert first.status_code == second.status_code == seed.status_code == 200
    assert first.json() == second.json() == seed.json()
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        bookings = conn.execute("SELECT payment_ref FROM bookings WHERE show_id = %s", (show.show_id,)).fetchall()
    assert len(bookings) == 1
    # Tests run one at a time, so every charge captured since the first request is this payment's: one.
    captured = [
        c
        for c in gateway_ledger(gateway)["charges"]
        if c["status"] == "captured" and c["charge_id"] not in charged_before
    ]
    assert [c["charge_id"] for c in captured] == [bookings[0][0]]
    assert Decimal(captured[0]["amount"]) == Decimal(str(first.json()["amount"]))


@pytest.mark.parametrize("shape", ["hosted", "dedicated"])
def test_a_retry_that_reaches_the_show_behind_its_first_attempt_gets_the_first_answer(
    live_service: Service, backing: Backing, shape: str
) -> None:
    """A hold timed out at the API (503, outcome unknown) while it still waited in the show's mailbox; the
    client retries with its key, and the retry reaches the show after the first attempt ran. It must get
    the first answer, not a refusal for seats its own first attempt took. On a copy of the show of each
    shape (on a host, and in an actor of its own)."""
    import ray

    from actors.commands import HoldSeats
    from actors.seat_map_core import Hold
    from tests.integration.test_group_commit import actor_for

    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
    (alice, _), (bob, _) = bulk_users(backing.database_url, 2)
    actor = actor_for(show.show_id, backing, shape)
    first, retry, other_body, other_customer = ray.get(
        actor.apply(
            [
                HoldSeats(alice, ("A1",), idempotency_key="k1", request_hash="h1"),
                HoldSeats(alice, ("A1",), idempotency_key="k1", request_hash="h1"),
                HoldSeats(alice, ("A1",), idempotency_key="k1", request_hash="h2"),  # control: another request
                HoldSeats(bob, ("A1",), idempotency_key="k1", request_hash="h1"),  # control: another customer
            ]
        ),
        timeout=30,
    )
    assert isinstance(first, Hold)
    assert isinstance(retry, Hold)
    assert retry.hold_id == first.hold_id
    assert not isinstance(other_body, Hold)
    assert not isinstance(other_customer, Hold)
    assert [hold_id for hold_id, _ in holds_of(backing, show, alice)] == [first.hold_id]
    ray.kill(actor.handle)
