"""The waiting room's contract over HTTP (``../shared/api-contract.md``, "Waiting room"), against the real
service: one place per account, the pre-queue in the revealed seed's sha256 order, holds refused to the
non-admitted, admission that follows the stock, sold out within 5 s, and places that survive a restart."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from settings import libpq_url
from tests.api_client import (
    ShowFixture,
    admin_headers,
    bearer,
    bulk_users,
    create_show,
    seed_hold,
    seed_pay,
    wait_until,
)
from tests.conftest import Backing, Service
from waiting_room import verify


@pytest.fixture
def client(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
        yield c


def room_show(client: httpx.Client, seats: int = 20, opens_in: float = 0.0) -> ShowFixture:
    """A show with a waiting room: one row of ``seats`` standard seats, sales opening in ``opens_in`` s."""
    return create_show(
        client,
        rows=[{"row": "A", "seats": seats, "category": "standard"}],
        prices={"standard": 100.0},
        sales_open_at=datetime.now(UTC) + timedelta(seconds=opens_in),
        waiting_room=True,
    )


def join(client: httpx.Client, show: ShowFixture, token: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/shows/{show.show_id}/queue", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def entry(client: httpx.Client, show: ShowFixture, token: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/shows/{show.show_id}/queue", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def hold(client: httpx.Client, show: ShowFixture, token: str, seats: list[str]) -> httpx.Response:
    return client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer(token), json={"seats": seats})


def test_one_place_per_account_and_the_refusals(client: httpx.Client, backing: Backing) -> None:
    (_, token), (_, other) = bulk_users(backing.database_url, 2)
    show = room_show(client, opens_in=60)
    first = join(client, show, token)
    assert first["state"] == "waiting"
    assert first["number"] is None  # ordered at the opening
    assert join(client, show, token)["entry_id"] == first["entry_id"]
    assert entry(client, show, token)["entry_id"] == first["entry_id"]
    assert join(client, show, other)["entry_id"] != first["entry_id"]

    never = bulk_users(backing.database_url, 1)[0][1]
    missing = client.get(f"/api/v1/shows/{show.show_id}/queue", headers=bearer(never))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    plain = create_show(client)
    no_room = client.post(f"/api/v1/shows/{plain.show_id}/queue", headers=bearer(token))
    assert no_room.status_code == 409
    assert no_room.json()["type"].endswith("no-waiting-room")
    unknown = client.post("/api/v1/shows/00000000-0000-4000-8000-000000000000/queue", headers=bearer(token))
    assert unknown.status_code == 404
    assert client.post(f"/api/v1/shows/{show.show_id}/queue").status_code == 401

    fairness = client.get(f"/api/v1/shows/{show.show_id}/queue/fairness").json()
    assert len(fairness["commitment"]) == 64
    assert fairness["seed"] is None  # not before the opening


def test_the_pre_queue_is_ordered_by_the_revealed_seed_and_later_joiners_follow(
    client: httpx.Client, backing: Backing
) -> None:
    users = bulk_users(backing.database_url, 14)
    show = room_show(client, seats=40, opens_in=4)
    early = {join(client, show, token)["entry_id"]: token for _, token in users[:12]}
    wait_until(lambda: datetime.now(UTC) >= show_opens(client, show), 10, "sales open")
    late = [join(client, show, token) for _, token in users[12:]]

    fairness = client.get(f"/api/v1/shows/{show.show_id}/queue/fairness").json()
    seed = fairness["seed"]
    assert hashlib.sha256(seed.encode()).hexdigest() == fairness["commitment"]
    expected = sorted(early, key=lambda e: hashlib.sha256(f"{seed}:{e}".encode()).hexdigest())
    numbers = {e: entry(client, show, token)["number"] for e, token in early.items()}
    assert sorted(numbers, key=lambda e: numbers[e]) == expected
    assert sorted(numbers.values()) == list(range(1, 13))
    assert [e["number"] for e in late] == [13, 14]
    assert fairness["pre_queue_size"] == 12

    record, published = verify.fetch(str(client.base_url), show.show_id, progress=False)
    assert verify.check(record, published, entry_id=expected[0]).ok
    assert verify.main(["--base-url", str(client.base_url), "--show", show.show_id]) == 0


def show_opens(client: httpx.Client, show: ShowFixture) -> datetime:
    opens = client.get(f"/api/v1/shows/{show.show_id}/queue/fairness").json()["opens_at"]
    return datetime.fromisoformat(opens)


def test_a_hold_by_an_account_not_admitted_is_403_and_holds_nothing(client: httpx.Client, backing: Backing) -> None:
    users = bulk_users(backing.database_url, 3)
    show = room_show(client, seats=4)  # two buyers' worth at two seats each
    for _, token in users:
        join(client, show, token)
    wait_until(lambda: entry(client, show, users[1][1])["state"] == "admitted", 5, "the first two admitted")
    waiting = entry(client, show, users[2][1])
    assert waiting["state"] == "waiting"
    assert waiting["ahead"] == 0

    refused = hold(client, show, users[2][1], ["A1"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("not-admitted")
    seed = seed_hold(client, show, users[2][1], ["A1"])
    assert seed.status_code == 403, seed.text
    outsider = hold(client, show, bulk_users(backing.database_url, 1)[0][1], ["A1"])
    assert outsider.status_code == 403
    seats = {s["id"]: s["status"] for s in client.get(f"/api/v1/shows/{show.show_id}/seats").json()["seats"]}
    assert seats["A1"] == "available"

    assert hold(client, show, users[0][1], ["A1", "A2"]).status_code == 201


def test_sold_out_within_five_seconds_and_no_one_admitted_after(client: httpx.Client, backing: Backing) -> None:
    users = bulk_users(backing.database_url, 8)
    show = room_show(client, seats=4)
    for _, token in users:
        join(client, show, token)
    wait_until(lambda: entry(client, show, users[1][1])["state"] == "admitted", 5, "two admitted")
    for (_, token), seats in zip(users[:2], (["A1", "A2"], ["A3", "A4"]), strict=True):
        assert seed_hold(client, show, token, seats).status_code == 200
        paid = seed_pay(client, show, token)
        assert paid.status_code == 200, paid.text
    sold_out_after = wait_until(
        lambda: all(entry(client, show, t)["state"] == "sold_out" for _, t in users[2:]), 5, "every waiter sold out"
    )
    assert sold_out_after <= 5
    admin = client.get(f"/api/v1/admin/shows/{show.show_id}/queue", headers=admin_headers(client)).json()
    assert admin["admitted"] == 2
    assert admin["sold_out_at"] is not None
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE admitted_at IS NOT NULL), max(admitted_at) <= r.sold_out_at "
            "FROM queue_entries q JOIN waiting_rooms r USING (show_id) WHERE show_id = %s GROUP BY r.sold_out_at",
            (show.show_id,),
        ).fetchone()
    assert row == (2, True)


def test_seats_that_come_back_admit_the_next_in_line(client: httpx.Client, backing: Backing) -> None:
    users = bulk_users(backing.database_url, 3)
    show = room_show(client, seats=2)  # one buyer's worth
    for _, token in users:
        join(client, show, token)
    wait_until(lambda: entry(client, show, users[0][1])["state"] == "admitted", 5, "the first admitted")
    first, second = sorted(users, key=lambda u: entry(client, show, u[1])["number"])[:2]
    assert entry(client, show, second[1])["state"] == "waiting"
    held = hold(client, show, first[1], ["A1", "A2"])
    assert held.status_code == 201, held.text
    time.sleep(2)
    assert entry(client, show, second[1])["state"] == "waiting"  # nothing free: nobody else admitted
    released = client.delete(f"/api/v1/shows/{show.show_id}/holds/{held.json()['id']}", headers=bearer(first[1]))
    assert released.status_code == 204, released.text
    wait_until(lambda: entry(client, show, second[1])["state"] == "admitted", 5, "the next one admitted")


def test_a_restart_keeps_every_place(client: httpx.Client, backing: Backing, live_service: Service) -> None:
    users = bulk_users(backing.database_url, 5)
    show = room_show(client, seats=2)
    for _, token in users:
        join(client, show, token)
    wait_until(lambda: any(entry(client, show, t)["state"] == "admitted" for _, t in users), 5, "the first admitted")
    before = {token: entry(client, show, token) for _, token in users}
    live_service.kill()
    live_service.start()
    with httpx.Client(base_url=live_service.base_url, timeout=30) as again:
        after = {token: entry(again, show, token) for _, token in users}
        for token, was in before.items():
            assert (after[token]["entry_id"], after[token]["number"]) == (was["entry_id"], was["number"])
            assert join(again, show, token)["entry_id"] == was["entry_id"]
    admitted_before = [t for t, e in before.items() if e["state"] == "admitted"]
    assert admitted_before
    assert all(after[t]["state"] == "admitted" for t in admitted_before)


def test_the_entry_is_pushed_over_sse(client: httpx.Client, backing: Backing) -> None:
    ((_, token),) = bulk_users(backing.database_url, 1)
    show = room_show(client, opens_in=60)
    join(client, show, token)
    with client.stream("GET", f"/api/v1/shows/{show.show_id}/queue/events", params={"access_token": token}) as s:
        assert s.status_code == 200
        events = 0
        started = time.monotonic()
        for line in s.iter_lines():
            if line.startswith("event: entry"):
                events += 1
                if events == 2:
                    break
        assert time.monotonic() - started < 5
    assert events == 2


def duplicated(values: list[int]) -> int:
    """How many values stand more than once."""
    return len(values) - len(set(values))


def test_a_crowd_joining_at_once_gets_one_place_each_numbered_without_gap_or_repeat(
    live_service: Service, backing: Backing
) -> None:
    users = bulk_users(backing.database_url, 40)
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = room_show(client, seats=10)  # on sale now: every join is numbered at once

    def join_twice(token: str) -> list[dict[str, Any]]:
        with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
            return [join(c, show, token), join(c, show, token)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(join_twice, [t for _, t in users]))
    assert all(first["entry_id"] == again["entry_id"] for first, again in answers)
    numbers = [first["number"] for first, _ in answers]
    assert duplicated(numbers) == 0
    assert sorted(numbers) == list(range(1, 41))
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM queue_entries WHERE show_id = %s", (show.show_id,)
        ).fetchone()
    assert rows == (40, 40)


def test_the_repeat_detector_sees_numbers_handed_out_without_the_rooms_lock(backing: Backing) -> None:
    """Negative control: 40 joins numbering themselves as max + 1 with no lock do repeat numbers, and
    ``duplicated`` sees it."""
    table = f"racy_numbers_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (n bigint)")
    barrier = threading.Barrier(20)

    def racy_join(_: int) -> None:
        with psycopg.connect(libpq_url(backing.database_url)) as conn:
            (n,) = conn.execute(f"SELECT coalesce(max(n), 0) + 1 FROM {table}").fetchone() or (1,)
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=2)
            conn.execute(f"INSERT INTO {table} VALUES (%s)", (n,))
            conn.commit()

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            list(pool.map(racy_join, range(40)))
        with psycopg.connect(libpq_url(backing.database_url)) as conn:
            numbers = [int(r[0]) for r in conn.execute(f"SELECT n FROM {table}")]
        assert len(numbers) == 40
        assert duplicated(numbers) > 0
    finally:
        with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")
