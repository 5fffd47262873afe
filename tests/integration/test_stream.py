"""The live seat-map stream (``GET /api/v1/shows/{id}/seats/stream``) over HTTP against the real service:
another client's hold arrives within a second, versions only grow, ``Last-Event-ID`` replays exactly
what was missed, a hold's owner (and only its owner) gets its countdown, and a Redis outage degrades the
stream to periodic snapshots (bookings go on) until Redis is back."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import pytest
import redis

from actors.redis_publisher import seatmap_channel
from cluster.embedded import EmbeddedRedis
from tests.api_client import ShowFixture, bulk_users, create_show
from tests.conftest import Backing, Service, ShowPlacement


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: Any
    id: str | None
    at: float  # time.monotonic() when it arrived


class SseClient:
    """Reads a server-sent event stream in a background thread (a tiny EventSource)."""

    def __init__(
        self, base_url: str, path: str, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
    ) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=60.0))
        self._path, self._headers, self._params = path, headers or {}, params or {}
        self.events: queue.Queue[SseEvent] = queue.Queue()
        self.lines: list[str] = []
        self.status: int | None = None
        self.content_type = ""
        self.body = b""
        self._socket: socket.socket | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SseClient:
        self._thread.start()
        assert self._started.wait(10), "no response"
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._socket is not None:  # wakes the reader thread from its blocking read: a disconnect
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._http.close()

    def _run(self) -> None:
        try:
            with self._http.stream("GET", self._path, headers=self._headers, params=self._params) as response:
                self._socket = response.extensions["network_stream"].get_extra_info("socket")
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                if response.status_code != 200:
                    self.body = response.read()
                    self._started.set()
                    return
                self._started.set()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    self.lines.append(line)
                    if line == "":
                        if "data" in fields:
                            self.events.put(
                                SseEvent(
                                    fields.get("event", "message"),
                                    json.loads(fields["data"]),
                                    fields.get("id"),
                                    time.monotonic(),
                                )
                            )
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value[1:] if value.startswith(" ") else value
        except Exception:  # closed by __exit__
            pass
        finally:
            self._started.set()

    def next(self, kinds: str | tuple[str, ...], timeout: float = 5.0) -> SseEvent:
        return self.until(lambda e: e.event in ((kinds,) if isinstance(kinds, str) else kinds), timeout)

    def until(self, predicate: Callable[[SseEvent], bool], timeout: float = 5.0) -> SseEvent:
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no matching event within {timeout}s") from None
            if predicate(event):
                return event

    def drain(self, seconds: float) -> list[SseEvent]:
        """Every event arriving within ``seconds``."""
        got: list[SseEvent] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.events.get(timeout=left))
            except queue.Empty:
                break
        return got


def stream_path(show: ShowFixture) -> str:
    return f"/api/v1/shows/{show.show_id}/seats/stream"


def seat_statuses(event: SseEvent) -> dict[str, str]:
    """The seats an event shows: all of them for a snapshot, the changed ones for a delta."""
    if event.event == "snapshot":
        return {s["id"]: s["status"] for s in event.data["seats"]}
    if event.event == "seats":
        return {c["seat"]: c["status"] for c in event.data["changes"]}
    return {}


def shows_seat(seat: str, status: str) -> Callable[[SseEvent], bool]:
    return lambda event: seat_statuses(event).get(seat) == status


def subscribers(backing: Backing, show: ShowFixture) -> int:
    """Redis subscriptions to the show's change channel (from every API process)."""
    with redis.Redis.from_url(backing.redis_url) as r:
        ((_, count),) = r.pubsub_numsub(seatmap_channel(backing.redis_prefix, show.show_id))
    return int(count)


@pytest.fixture
def client(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
        yield c


def hold(client: httpx.Client, show: ShowFixture, token: str, seats: list[str]) -> str:
    response = client.post(
        f"/api/v1/shows/{show.show_id}/holds", headers={"Authorization": f"Bearer {token}"}, json={"seats": seats}
    )
    assert response.status_code == 201, response.text
    hold_id: str = response.json()["id"]
    return hold_id


def release(client: httpx.Client, show: ShowFixture, token: str, hold_id: str) -> None:
    response = client.delete(
        f"/api/v1/shows/{show.show_id}/holds/{hold_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 204, response.text


def in_step_snapshot(sse: SseClient) -> SseEvent:
    """The first snapshot that follows the published changes (the show's actor is active)."""
    return sse.until(lambda e: e.event == "snapshot" and e.data["seq"] is not None, timeout=5)


def test_a_stream_sees_another_clients_hold_within_a_second(
    client: httpx.Client, live_service: Service, backing: Backing
) -> None:
    show = create_show(client)
    (_, alice), (_, bob) = bulk_users(backing.database_url, 2)
    with SseClient(live_service.base_url, stream_path(show)) as watcher:
        assert watcher.status == 200
        assert watcher.content_type.startswith("text/event-stream")
        first = watcher.next("snapshot")
        assert first.data["reason"] == "connect"
        assert set(seat_statuses(first).values()) == {"available"}
        # Cold show: the hold activates the show's actor (Ray starts a process for it: that is the
        # hold request's time, not the stream's), whose first publication is a full map.
        requested = time.monotonic()
        hold(client, show, alice, ["A1"])
        acknowledged = time.monotonic()
        cold_seen = watcher.until(shows_seat("A1", "held"), timeout=10).at
        cold = cold_seen - acknowledged
        # Warm show: one change, one `seats` event, timed from the moment the hold is requested.
        started = time.monotonic()
        hold(client, show, bob, ["B5", "B6"])
        seen = watcher.until(shows_seat("B5", "held"))
        warm = seen.at - started
    print(
        f"hold seen by another client's stream: warm show {warm * 1000:.0f} ms after the hold was requested; "
        f"cold show {(cold_seen - requested) * 1000:.0f} ms after it was requested, {cold * 1000:.0f} ms after "
        "its answer"
    )
    assert seen.event == "seats"
    assert seat_statuses(seen) == {"B5": "held", "B6": "held"}
    assert warm < 1.0, f"took {warm:.3f}s"
    assert cold < 1.0, f"took {cold:.3f}s"


def test_versions_only_grow_and_last_event_id_replays_exactly_what_was_missed(
    client: httpx.Client, live_service: Service, backing: Backing
) -> None:
    show = create_show(client)
    (_, alice), (_, bob) = bulk_users(backing.database_url, 2)
    release(client, show, alice, hold(client, show, alice, ["A9"]))  # the show's actor is active
    with SseClient(live_service.base_url, stream_path(show)) as sse:
        snapshot = in_step_snapshot(sse)
        assert snapshot.id == str(snapshot.data["seq"])
        versions = {s["id"]: s["version"] for s in snapshot.data["seats"]}
        statuses = seat_statuses(snapshot)
        for late in sse.drain(0.5):  # the snapshot may predate the warm-up's hold or release
            assert late.event == "seats"
            statuses.update(seat_statuses(late))
            versions.update({c["seat"]: c["version"] for c in late.data["changes"]})
        assert statuses["A9"] == "available"
        first = hold(client, show, alice, ["A3"])
        release(client, show, alice, first)
        hold(client, show, bob, ["A3", "A4"])
        deltas = [sse.next("seats") for _ in range(3)]
    seqs = [int(d.data["seq"]) for d in deltas]
    assert [d.id for d in deltas] == [str(s) for s in seqs]
    assert seqs == sorted(set(seqs))
    assert seqs[0] > snapshot.data["seq"]
    assert [seat_statuses(d) for d in deltas] == [{"A3": "held"}, {"A3": "available"}, {"A3": "held", "A4": "held"}]
    for delta in deltas:
        for change in delta.data["changes"]:
            assert change["version"] == delta.data["seq"]
            assert change["version"] > versions[change["seat"]]
            versions[change["seat"]] = change["version"]

    # Disconnected: three more changes happen, then the client comes back with the last id it saw.
    missed_hold = hold(client, show, alice, ["B1"])
    hold(client, show, bob, ["B2"])
    release(client, show, alice, missed_hold)
    time.sleep(0.3)  # published
    with SseClient(live_service.base_url, stream_path(show), headers={"Last-Event-ID": deltas[-1].id or ""}) as sse:
        replayed = sse.drain(1.0)
    assert [e.event for e in replayed] == ["seats", "seats", "seats"], replayed
    assert [seat_statuses(e) for e in replayed] == [{"B1": "held"}, {"B2": "held"}, {"B1": "available"}]
    assert [int(e.data["seq"]) for e in replayed] == [seqs[-1] + 1, seqs[-1] + 2, seqs[-1] + 3]

    # An id the change log does not hold (or a garbled one) gets a fresh snapshot.
    for stale in ("12345", "not-a-number"):
        with SseClient(live_service.base_url, stream_path(show), headers={"Last-Event-ID": stale}) as sse:
            fresh = sse.next(("snapshot", "seats"))
        assert fresh.event == "snapshot"
        assert seat_statuses(fresh)["B2"] == "held"


def test_an_actor_restart_resets_the_stream_and_numbers_keep_growing(
    client: httpx.Client, live_service: Service, backing: Backing
) -> None:
    show = create_show(client)
    ((_, alice),) = bulk_users(backing.database_url, 1)
    hold(client, show, alice, ["A1"])
    placement = ShowPlacement.of(live_service)
    with SseClient(live_service.base_url, stream_path(show)) as sse:
        before = in_step_snapshot(sse)
        killed = placement.ping(show.show_id)
        placement.kill(show.show_id, restart=True)  # its own actor, or its host (hosted placement)
        # Ray restarts it. A show's own actor activates again at once; a restarted host is empty and
        # activates the show on its next command, here the ping (as the pre-warmer's or a customer's).
        placement.wait_ping(show.show_id, timeout=30, not_pid=int(killed["pid"]))
        reset = sse.until(lambda e: e.event == "snapshot" and e.data["reason"] == "reset", timeout=15)
        assert reset.data["epoch"] > before.data["epoch"]
        assert int(reset.id or 0) == reset.data["seq"] > before.data["seq"]
        assert seat_statuses(reset)["A1"] == "held"
        assert {s["version"] for s in reset.data["seats"]} == {reset.data["seq"]}
        hold(client, show, alice, ["A2"])
        after = sse.until(shows_seat("A2", "held"))
    assert after.event == "seats"
    assert after.data["seq"] == reset.data["seq"] + 1


def test_the_owner_gets_the_countdown_and_nobody_else_sees_owners_or_hold_ids(
    client: httpx.Client, live_service: Service, backing: Backing
) -> None:
    show = create_show(client, hold_ttl_seconds=3)
    (owner_id, owner), (other_id, other) = bulk_users(backing.database_url, 2)
    base = live_service.base_url
    with (
        SseClient(base, stream_path(show), params={"access_token": owner}) as mine,
        SseClient(base, stream_path(show), headers={"Authorization": f"Bearer {other}"}) as theirs,
        SseClient(base, stream_path(show)) as anonymous,
    ):
        for sse in (mine, theirs, anonymous):
            sse.next("snapshot")
        assert subscribers(backing, show) == 1  # one Redis subscription per API process, not per client
        hold_id = hold(client, show, owner, ["A2", "A3"])
        countdown = [mine.next("hold", timeout=3)]
        while True:
            event = mine.next(("hold", "expired"), timeout=3)
            if event.event == "expired":
                break
            countdown.append(event)
        assert event.data == {"hold_id": hold_id, "seats": ["A2", "A3"], "expires_at": countdown[0].data["expires_at"]}
        assert all(e.data["hold_id"] == hold_id and e.data["status"] == "active" for e in countdown)
        assert all(e.data["seats"] == ["A2", "A3"] for e in countdown)
        left = [e.data["seconds_left"] for e in countdown]
        assert left[-3:] == [3, 2, 1], left
        gaps = [b.at - a.at for a, b in zip(countdown[1:], [*countdown[2:], event], strict=True)]
        assert all(0.7 < g < 1.3 for g in gaps), gaps  # one tick a second in the last minute
        for sse in (theirs, anonymous):
            sse.until(shows_seat("A2", "held"), timeout=2)
            sse.until(shows_seat("A2", "available"), timeout=3)  # released by the actor when it lapsed
        time.sleep(0.2)
    deadline = time.monotonic() + 3
    while subscribers(backing, show) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert subscribers(backing, show) == 0  # the last client gone, the subscription went too
    for sse in (theirs, anonymous):
        text = "\n".join(sse.lines)
        assert hold_id not in text
        assert owner_id not in text
        assert other_id not in text
        assert "event: hold" not in text
        assert "event: expired" not in text
    assert owner_id not in "\n".join(mine.lines)  # even the owner's own id is never echoed


def test_an_unknown_show_is_a_404_and_a_bad_token_a_401(live_service: Service) -> None:
    path = f"/api/v1/shows/{uuid.uuid4()}/seats/stream"
    with SseClient(live_service.base_url, path) as sse:
        assert sse.status == 404
        assert sse.content_type.startswith("application/problem+json")
        assert json.loads(sse.body)["status"] == 404
    with httpx.Client(base_url=live_service.base_url, timeout=10) as client:
        show = create_show(client)
    with SseClient(live_service.base_url, stream_path(show), params={"access_token": "not-a-token"}) as sse:
        assert sse.status == 401
        assert sse.content_type.startswith("application/problem+json")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PrivateRedis:
    service: Service
    redis: EmbeddedRedis


@pytest.fixture(scope="module")
def private_redis(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A second service with a Redis of its own, which a test may stop and start again. Its settings give
    it a Ray namespace of its own (``Service.ray_namespace``): its hosts publish to its Redis."""
    root = tmp_path_factory.mktemp("private-redis")
    redis = EmbeddedRedis(root / "redis", port=free_port())  # a fixed port: it can be started again
    svc = Service(backing=backing, port=free_port(), extra_env={"REDIS_URL": redis.start()})
    svc.log_path = root / "service.log"
    try:
        svc.start()
        yield PrivateRedis(svc, redis)
    finally:
        svc.stop()
        redis.stop()


def test_a_redis_outage_degrades_the_stream_to_snapshots_and_it_recovers(
    private_redis: PrivateRedis, backing: Backing
) -> None:
    service, redis = private_redis.service, private_redis.redis
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        show = create_show(client)
        ((_, alice),) = bulk_users(backing.database_url, 1)
        hold(client, show, alice, ["A1"])
        with SseClient(service.base_url, stream_path(show)) as sse:
            in_step_snapshot(sse)
            hold(client, show, alice, ["A2"])
            assert sse.until(shows_seat("A2", "held")).event == "seats"

            redis.stop()
            started = time.monotonic()
            hold(client, show, alice, ["A3"])  # bookings never depend on Redis
            seen = sse.until(shows_seat("A3", "held"), timeout=4)
            assert seen.event == "snapshot"
            assert seen.data["reason"] == "poll"
            assert seen.data["source"] == "database"
            assert seen.data["seq"] is None
            assert seen.id == ""  # nothing to resume from
            assert seen.at - started < 2.5

            redis.start()
            back = sse.until(lambda e: e.event == "snapshot" and e.data["reason"] == "live", timeout=8)
            assert back.id == str(back.data["seq"])
            hold(client, show, alice, ["A4"])
            assert sse.until(shows_seat("A4", "held")).event == "seats"
