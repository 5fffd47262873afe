"""The hold fast path (``api/fast_holds.py``) answers exactly as the FastAPI routes do, and the block list,
the rate limiter and idempotency keys still apply to it.

Two API processes of one deployment serve the same shows: the shared test service (fast path on, the
default) and ``routed``, the same service with ``BOOKING_FAST_HOLDS=false`` in the same Ray namespace,
so both submit to the same show hosts. Each request goes once through each, and the answers are compared
byte for byte: status, body and the headers a client depends on. Only a fresh hold's id and times differ
between two holds; those are compared with the values blanked out, and byte for byte where a replay of
one ``Idempotency-Key`` gives the identical answer through either path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from payments.simulator import SimulatorProcess
from settings import libpq_url
from tests.api_client import ShowFixture, admin_headers, bulk_users, create_show, hold_body
from tests.conftest import Backing, Service, serving

HEADERS = ("content-type", "content-length", "location", "retry-after", "www-authenticate", "allow")
VOLATILE = ("id", "hold_id", "created_at", "expires_at", "hold_end_time")
KINDS = ("v1", "v0")


@pytest.fixture(scope="module")
def routed(
    service: Service, backing: Backing, gateway: SimulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The shared service with the fast path off: another API process on the same show hosts (two sets of
    hosts for one show would fence each other's copies)."""
    settings = {
        "BOOKING_FAST_HOLDS": "false",
        "BOOKING_PREWARM_LEAD_SECONDS": "0",  # as the shared service: no waking every test's shows
        "BOOKING_RAY_NAMESPACE": service.ray_namespace,  # the shared service's hosts
    }
    with serving(backing, tmp_path_factory, "routed", settings, gateway) as svc:
        yield svc


@pytest.fixture(scope="module")
def limited(backing: Backing, gateway: SimulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The fast path on, under a rate limit of 30 requests a minute, logging JSON (so answers carry their
    request ids)."""
    settings = {
        "BOOKING_RATE_LIMIT_PER_MINUTE": "30",
        "BOOKING_LOG_FORMAT": "json",
        "BOOKING_REDIS_PREFIX": backing.redis_prefix + "fast-limited:",
        "BOOKING_PREWARM_LEAD_SECONDS": "0",
    }
    with serving(backing, tmp_path_factory, "fast-limited", settings, gateway) as svc:
        yield svc


@pytest.fixture
def fast(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def route(routed: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=routed.base_url, timeout=30) as client:
        yield client


def hold(kind: str, show: ShowFixture, token: str | None, seats: list[str], **overrides: Any) -> dict[str, Any]:
    """``client.post`` arguments of a hold of ``seats``: v1 (Bearer) or the seed's HoldSeat (its token
    header). ``overrides`` replace any of them (``json``, ``content``, ``headers``, ``url``)."""
    if kind == "v1":
        request: dict[str, Any] = {
            "url": f"/api/v1/shows/{show.show_id}/holds",
            "headers": {"Authorization": f"Bearer {token}"} if token else {},
            "json": {"seats": seats},
        }
    else:
        request = {
            "url": f"/HoldSeat/api/v0/{show.movie_id}",
            "headers": {"AuthorizationToken": token} if token else {},
            "json": hold_body(show, seats),
        }
    if "content" in overrides:
        request.pop("json")
    return request | overrides


def answer(response: httpx.Response) -> tuple[int, dict[str, list[str]], bytes]:
    """What a client depends on: status, the headers it reads, the body's bytes."""
    return response.status_code, {h: response.headers.get_list(h) for h in HEADERS}, response.content


def blanked(response: httpx.Response) -> tuple[int, dict[str, list[str]], bytes]:
    """``answer`` with a fresh hold's id and times blanked out of the bytes (each keeps its place)."""
    status, headers, body = answer(response)
    assert headers["content-length"] == [str(len(body))]
    values = response.json()
    for name in VOLATILE:
        if name in values:
            body = body.replace(f'"{values[name]}"'.encode(), b'"<' + name.encode() + b'>"')
    return status, {**headers, "content-length": []}, body


def hold_id(kind: str, response: httpx.Response) -> str:
    value: str = response.json()["id" if kind == "v1" else "hold_id"]
    return value


def release(client: httpx.Client, show: ShowFixture, token: str, held: str) -> None:
    gone = client.delete(f"/api/v1/shows/{show.show_id}/holds/{held}", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 204, gone.text


def holds_of(backing: Backing, show: ShowFixture, user_id: str) -> list[list[str]]:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        rows = conn.execute("SELECT seat_ids FROM holds WHERE show_id = %s AND user_id = %s", (show.show_id, user_id))
        return sorted(r[0] for r in rows)


@pytest.mark.parametrize("kind", KINDS)
def test_a_hold_is_the_routes_answer(kind: str, fast: httpx.Client, route: httpx.Client, backing: Backing) -> None:
    """The same seat held through the fast path, released, then held through the route: the two answers
    differ only in the hold's id and times."""
    show = create_show(fast)
    ((user_id, token),) = bulk_users(backing.database_url, 1)
    first = fast.post(**hold(kind, show, token, ["A1"]))
    assert first.status_code == (201 if kind == "v1" else 200), first.text
    release(fast, show, token, hold_id(kind, first))
    second = route.post(**hold(kind, show, token, ["A1"]))
    assert blanked(first) == blanked(second)
    assert hold_id(kind, first) != hold_id(kind, second)
    assert holds_of(backing, show, user_id) == [["A1"], ["A1"]]


@pytest.mark.parametrize("kind", KINDS)
def test_an_idempotency_key_replays_the_same_bytes_through_either_path(
    kind: str, fast: httpx.Client, route: httpx.Client, backing: Backing
) -> None:
    """A key's first answer, from either path, is what both paths replay; the key reused for another
    request is refused alike; and nothing more is held."""
    show = create_show(fast)
    ((user_id, token),) = bulk_users(backing.database_url, 1)
    for first_path, other_path, seat in ((fast, route, "A1"), (route, fast, "A2")):
        key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
        request = hold(kind, show, token, [seat])
        request["headers"] |= key
        first = first_path.post(**request)
        assert first.status_code == (201 if kind == "v1" else 200), first.text
        replays = [other_path.post(**request), first_path.post(**request)]
        assert [answer(r) for r in replays] == [answer(first)] * 2
        reused = hold(kind, show, token, ["A3"])
        reused["headers"] |= key
        refusals = [fast.post(**reused), route.post(**reused)]
        assert refusals[0].status_code == 422, refusals[0].text
        assert answer(refusals[0]) == answer(refusals[1])
    assert holds_of(backing, show, user_id) == [["A1"], ["A2"]]


def refusals(kind: str, show: ShowFixture, token: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """Requests each path must refuse, by name: the expected status and the request."""
    other_movie = str(uuid.uuid4())
    cases: dict[str, tuple[int, dict[str, Any]]] = {
        "seat taken": (409, hold(kind, show, token, ["A5"])),
        "unknown seat": (404, hold(kind, show, token, ["Z99"])),
        "no token": (401, hold(kind, show, None, ["A6"])),
        "bad token": (401, hold(kind, show, "not-a-token", ["A6"])),
        "malformed JSON": (400, hold(kind, show, token, [], content=b'{"seats": ["A6"', headers=auth(kind, token))),
        "another content type": (
            400,
            hold(kind, show, token, [], content=b'{"seats": ["A6"]}', headers=auth(kind, token, "text/plain")),
        ),
        "empty key": (422, hold(kind, show, token, ["A6"], headers=auth(kind, token) | {"Idempotency-Key": ""})),
        "long key": (422, hold(kind, show, token, ["A6"], headers=auth(kind, token) | {"Idempotency-Key": "k" * 256})),
    }
    if kind == "v1":
        cases |= {
            "not a number": (422, hold(kind, show, token, [], json={"count": True})),
            "null seats": (422, hold(kind, show, token, [], json={"seats": None})),
            "both ways": (422, hold(kind, show, token, [], json={"seats": ["A6"], "count": 1})),
            "unknown field": (422, hold(kind, show, token, [], json={"seats": ["A6"], "price": 1})),
            "not a show id": (404, hold(kind, show, token, ["A6"], url="/api/v1/shows/nope/holds")),
            "unknown show": (404, hold(kind, show, token, ["A6"], url=f"/api/v1/shows/{uuid.uuid4()}/holds")),
        }
    else:
        cases |= {
            "empty seat list": (422, hold(kind, show, token, [])),
            "movie mismatch": (400, hold(kind, show, token, ["A6"], url=f"/HoldSeat/api/v0/{other_movie}")),
            "unknown event": (
                404,
                hold(kind, show, token, ["A6"], json=hold_body(show, ["A6"]) | {"event_id": other_movie}),
            ),
            "not a movie id": (404, hold(kind, show, token, ["A6"], url="/HoldSeat/api/v0/nope")),
        }
    return cases


def auth(kind: str, token: str, content_type: str = "application/json") -> dict[str, str]:
    header = {"Authorization": f"Bearer {token}"} if kind == "v1" else {"AuthorizationToken": token}
    return header | {"Content-Type": content_type}


@pytest.mark.parametrize("kind", KINDS)
def test_every_refusal_is_the_routes_answer(
    kind: str, fast: httpx.Client, route: httpx.Client, backing: Backing
) -> None:
    """Each refusal (409, 404, 401, 400, 422), sent once through each path, is the same bytes; none of them
    holds anything."""
    show = create_show(fast)
    (_, holder), (user_id, token) = bulk_users(backing.database_url, 2)
    assert fast.post(**hold(kind, show, holder, ["A5"])).status_code in (200, 201)
    for name, (status, request) in refusals(kind, show, token).items():
        through_fast, through_route = fast.post(**request), route.post(**request)
        assert through_fast.status_code == status, (name, through_fast.text)
        assert answer(through_fast) == answer(through_route), name
    assert holds_of(backing, show, user_id) == []


@pytest.mark.parametrize("kind", KINDS)
def test_an_unavailable_show_is_the_routes_503(
    kind: str, fast: httpx.Client, route: httpx.Client, backing: Backing
) -> None:
    """A show whose actor copy was fenced (another activation took a newer epoch behind its back) refuses
    its next write with 503 and Retry-After: the same answer through either path."""
    show = create_show(fast)
    ((_, token),) = bulk_users(backing.database_url, 1)
    assert fast.post(**hold(kind, show, token, ["A1"])).status_code in (200, 201)  # the show is live
    answers = []
    for client, seat in ((fast, "A2"), (route, "A3")):
        with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
            conn.execute("UPDATE shows SET epoch = epoch + 1 WHERE id = %s", (show.show_id,))
        refused = client.post(**hold(kind, show, token, [seat]))
        assert refused.status_code == 503, refused.text
        answers.append(answer(refused))
        retried = retry(client, hold(kind, show, token, [seat]))
        assert retried.status_code in (200, 201), retried.text  # a current copy serves again
    assert answers[0] == answers[1]
    assert answers[0][1]["retry-after"] == ["1"]


def retry(client: httpx.Client, request: dict[str, Any], attempts: int = 60) -> httpx.Response:
    """``request`` again until it is not refused with 503 (at most ``attempts`` times, half a second apart)."""
    for _ in range(attempts):
        response = client.post(**request)
        if response.status_code != 503:
            return response
        time.sleep(0.5)
    return response


@pytest.mark.parametrize("kind", KINDS)
def test_a_blocked_network_is_refused_before_the_fast_path(
    kind: str, live_service: Service, fast: httpx.Client, backing: Backing
) -> None:
    address = "127.0.0.41" if kind == "v1" else "127.0.0.42"
    show = create_show(fast)
    ((user_id, token),) = bulk_users(backing.database_url, 1)
    admin = admin_headers(fast)
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=live_service.base_url, timeout=30, transport=transport) as blocked:
        added = fast.post("/api/v1/admin/blocked-networks", headers=admin, json={"network": f"{address}/32"})
        assert added.status_code == 201, added.text
        try:
            refused = blocked.post(**hold(kind, show, token, ["A1"]))
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"].endswith("/network-blocked")
            assert holds_of(backing, show, user_id) == []
        finally:
            fast.delete("/api/v1/admin/blocked-networks", headers=admin, params={"network": f"{address}/32"})
        assert blocked.post(**hold(kind, show, token, ["A1"])).status_code in (200, 201)  # control


@pytest.mark.parametrize("kind", KINDS)
def test_the_rate_limiter_counts_and_refuses_fast_holds(kind: str, limited: Service, backing: Backing) -> None:
    """Under a limit of 30 a minute, holds from one address carry the RateLimit fields counting down, and
    the 31st is refused (429, Retry-After), holding nothing. Every answer carries its request id."""
    address = "127.0.0.43" if kind == "v1" else "127.0.0.44"
    with httpx.Client(base_url=limited.base_url, timeout=30) as admin_client:
        show = create_show(admin_client, rows=[{"row": "A", "seats": 40, "category": "standard"}])
    users = bulk_users(backing.database_url, 10)  # the per-account limit is 30 too: spread over accounts
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=limited.base_url, timeout=30, transport=transport) as client:
        requests = [hold(kind, show, users[i % 10][1], [f"A{i + 1}"]) for i in range(31)]
        for i, request in enumerate(requests):
            request["headers"]["X-Request-ID"] = f"hold-{i}"
        answers = [client.post(**request) for request in requests]
    assert [a.headers.get("X-Request-ID") for a in answers] == [f"hold-{i}" for i in range(31)]
    assert [a.status_code for a in answers[:30]] == [201 if kind == "v1" else 200] * 30, answers[0].text
    assert [a.headers["RateLimit-Remaining"] for a in answers[:30]] == [str(29 - i) for i in range(30)]
    assert all(a.headers["RateLimit-Limit"] == "30" for a in answers)
    refused = answers[30]
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert sum(len(holds_of(backing, show, user_id)) for user_id, _ in users) == 30
