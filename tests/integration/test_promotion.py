"""A busy hosted show gets a Ray actor of its own, and goes back to a host when quiet (issue 15, item 3).

Driven as an API process drives them: through ``ShowActors`` routers of the tests' own, in Ray namespaces of
their own, so the service under test (which only creates the shows) never reaches these hosts. Each rule is
pinned beside the case where it must not fire:

- a show driven above the promotion rate moves to its own actor (``show:<id>``), one new epoch, with every
  hold, booking and payment in flight it had, and no caller ever sees a 503; a show below the rate stays
  hosted;
- a router that still sends the promoted show to its host is re-routed by a ``Moved`` answer: no 503, no
  epoch taken (control: a router that does not follow ``Moved`` answers 503);
- the promoted show, once quiet, is recorded hosted again and its actor exits; a router that still sends it
  to that actor is re-routed to the host.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import ray

from actors.commands import BeginPayment, ConfirmHolds, HoldSeats
from actors.errors import BookingError, Unavailable, UnknownSeats
from actors.seat_map_core import Booking, Hold, Payment
from actors.show_actor import RemoteShowActor, actor_name
from actors.show_host import HostConfig
from routing import show_router
from routing.show_router import ShowActors
from settings import libpq_url
from tests.api_client import ShowFixture, bulk_users, create_show
from tests.conftest import Backing, Service, actor_config

RATE = 40.0  # commands/s that promote a show in these tests
IDLE_SECONDS = 3.0  # a promoted show quiet this long goes back to a host


def refused(reply: Any) -> bool:
    """A domain refusal (the seat is someone else's), not a 503."""
    return isinstance(reply, BookingError) and not isinstance(reply, Unavailable)


def router(backing: Backing, namespace: str, promote_rate: float = RATE) -> ShowActors:
    host = HostConfig(
        max_shows=10,
        idle_seconds=IDLE_SECONDS,
        db_connections=2,
        promote_rate=promote_rate,
        promote_window_seconds=1.0,
    )
    return ShowActors(actor_config(backing), namespace, 30.0, 16, hosts=1, host_config=host)


def row(backing: Backing, show_id: str) -> tuple[int, bool]:
    """The show's epoch and whether PostgreSQL says it has an actor of its own."""
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        found = conn.execute("SELECT epoch, own_actor FROM shows WHERE id = %s", (show_id,)).fetchone()
    assert found is not None
    return int(found[0]), bool(found[1])


def named(namespace: str) -> set[str]:
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == namespace}


def incarnations(name: str) -> int:
    """Ray actors ever created under ``name``, dead ones included (Ray's own table; a show's actor name
    holds its id, so no other namespace shares it)."""
    return sum(1 for actor in ray._private.state.actors().values() if actor["Name"] == name)


def host_stats(namespace: str) -> dict[str, Any]:
    host: Any = ray.get_actor("shows:0", namespace=namespace)
    figures: dict[str, Any] = ray.get(host.stats.remote(), timeout=30)
    return figures


def run(actors: ShowActors, show_id: str, *commands: Any) -> list[Any]:
    async def submit() -> list[Any]:
        return [await actors.submit(show_id, command) for command in commands]

    return asyncio.run(submit())


def drive(actors: ShowActors, busy: str, quiet: str, user: str, until: Any, seconds: float = 30.0) -> list[Any]:
    """A crowd on ``busy`` (refused holds of a seat that does not exist: commands all the same, and cheap)
    and a command every 0.5 s on ``quiet``, until ``until()`` or ``seconds``; returns every reply."""
    replies: list[Any] = []

    async def crowd(stop: asyncio.Event) -> None:
        while not stop.is_set():
            replies.append(await actors.submit(busy, HoldSeats(user, ("Z99",))))

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(crowd(stop)) for _ in range(12)]
        deadline = time.monotonic() + seconds
        while not await asyncio.to_thread(until) and time.monotonic() < deadline:
            replies.append(await actors.submit(quiet, HoldSeats(user, ("Z99",))))
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return replies


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"promotion-{uuid.uuid4().hex[:8]}"
    yield name
    for actor in named(name):
        ray.kill(ray.get_actor(actor, namespace=name))


def two_shows(live_service: Service) -> tuple[ShowFixture, ShowFixture]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        return create_show(client), create_show(client)


def test_a_busy_show_moves_to_its_own_actor_with_everything_it_had_and_a_quiet_one_stays(
    live_service: Service, backing: Backing, namespace: str
) -> None:
    busy, quiet = two_shows(live_service)
    (alice, _), (bob, _), (carol, _) = bulk_users(backing.database_url, 3)
    actors = router(backing, namespace)
    [held] = run(actors, busy.show_id, HoldSeats(alice, ("A1", "A2")))
    [paying] = run(actors, busy.show_id, HoldSeats(bob, ("B1",)))
    [payment] = run(actors, busy.show_id, BeginPayment(bob, (paying.hold_id,)))  # in flight across the move
    [to_book] = run(actors, busy.show_id, HoldSeats(carol, ("B2",)))
    [booked] = run(actors, busy.show_id, ConfirmHolds(carol, (to_book.hold_id,)))
    assert isinstance(held, Hold)
    assert isinstance(payment, Payment)
    assert isinstance(booked, Booking)
    run(actors, quiet.show_id, HoldSeats(alice, ("A1",)))
    epoch, own = row(backing, busy.show_id)
    assert not own

    replies = drive(actors, busy.show_id, quiet.show_id, alice, lambda: row(backing, busy.show_id)[1])

    assert row(backing, busy.show_id) == (epoch + 1, True)  # moved: one activation, one new epoch
    assert actor_name(busy.show_id) in named(namespace)
    # One process for it, the one the host started before the hand-over (while it still served the show):
    # a copy that activated before the move was recorded would have found the show hosted and left, and
    # the API would have waited for a second process to start.
    assert incarnations(actor_name(busy.show_id)) == 1
    assert row(backing, quiet.show_id)[1] is False  # control: the show below the rate stays hosted
    figures = host_stats(namespace)
    assert figures["promotions"] == 1, figures
    assert busy.show_id not in figures["live_shows"], figures
    assert quiet.show_id in figures["live_shows"], figures
    # Nobody saw the move: every reply is the refusal the command earns, none a 503.
    assert replies
    assert all(isinstance(r, UnknownSeats) for r in replies), {type(r).__name__ for r in replies}

    # Its own actor has everything: Alice's hold, Carol's booking, and Bob's payment, which completes there.
    [taken] = run(actors, busy.show_id, HoldSeats(bob, ("A1",)))
    assert refused(taken), taken
    [rebook] = run(actors, busy.show_id, HoldSeats(alice, ("B2",)))
    assert refused(rebook), rebook
    [paid] = run(actors, busy.show_id, ConfirmHolds(bob, (paying.hold_id,), payment_key=payment.payment_key))
    assert isinstance(paid, Booking), paid
    info = asyncio.run(actors.ping(busy.show_id))
    assert info["actor"] == actor_name(busy.show_id)
    assert info["epoch"] == epoch + 1
    assert row(backing, busy.show_id)[0] == epoch + 1


def test_a_stale_route_is_sent_on_without_a_503_or_another_epoch(
    live_service: Service, backing: Backing, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy, quiet = two_shows(live_service)
    (alice, _), (bob, _) = bulk_users(backing.database_url, 2)
    first = router(backing, namespace)
    run(first, busy.show_id, HoldSeats(alice, ("A1",)))
    drive(first, busy.show_id, quiet.show_id, alice, lambda: row(backing, busy.show_id)[1])
    assert actor_name(busy.show_id) in named(namespace)
    epoch, _ = row(backing, busy.show_id)
    moved_before = host_stats(namespace)["moved"]

    # Another API process, started now, knows nothing of the move: it sends the show to its host.
    stale = router(backing, namespace)
    assert stale.host_of(busy.show_id) == "shows:0"
    [held] = run(stale, busy.show_id, HoldSeats(bob, ("A2",)))
    assert isinstance(held, Hold), held
    assert stale.host_of(busy.show_id) == actor_name(busy.show_id)  # learnt: the next one goes straight there
    assert row(backing, busy.show_id)[0] == epoch  # the host took no epoch: the show's own actor was not fenced
    assert host_stats(namespace)["moved"] == moved_before + 1
    [again] = run(stale, busy.show_id, HoldSeats(bob, ("A3",)))
    assert isinstance(again, Hold)
    assert host_stats(namespace)["moved"] == moved_before + 1  # no second hop

    # Control: a router that does not follow Moved answers the same stale route with a 503.
    monkeypatch.setattr(show_router, "MAX_MOVES", 0)
    [refused] = run(router(backing, namespace), busy.show_id, HoldSeats(bob, ("A4",)))
    assert isinstance(refused, Unavailable), refused
    assert row(backing, busy.show_id)[0] == epoch


def test_a_promoted_show_goes_back_to_a_host_when_quiet(
    live_service: Service, backing: Backing, namespace: str
) -> None:
    busy, quiet = two_shows(live_service)
    ((alice, _), (bob, _)) = bulk_users(backing.database_url, 2)
    actors = router(backing, namespace)
    [held] = run(actors, busy.show_id, HoldSeats(alice, ("A1",)))
    assert isinstance(held, Hold)
    drive(actors, busy.show_id, quiet.show_id, alice, lambda: row(backing, busy.show_id)[1])
    own_actor = actor_name(busy.show_id)
    assert own_actor in named(namespace)

    # Control: while it keeps getting commands (below the idle period apart), it keeps its own actor.
    deadline = time.monotonic() + IDLE_SECONDS * 2
    while time.monotonic() < deadline:
        run(actors, busy.show_id, HoldSeats(alice, ("Z99",)))
        time.sleep(0.5)
    assert row(backing, busy.show_id)[1]
    assert own_actor in named(namespace)

    # Quiet for the idle period: recorded hosted again, and the actor is gone.
    deadline = time.monotonic() + IDLE_SECONDS * 5
    while own_actor in named(namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert own_actor not in named(namespace), "the quiet show's own actor did not exit"
    epoch, own = row(backing, busy.show_id)
    assert not own

    # The router still sends it to its own actor; that call goes to the host instead, with the show intact.
    assert actors.host_of(busy.show_id) == own_actor
    [taken] = run(actors, busy.show_id, HoldSeats(bob, ("A1",)))
    assert refused(taken), taken  # A1 is Alice's
    [fresh] = run(actors, busy.show_id, HoldSeats(bob, ("A2",)))
    assert isinstance(fresh, Hold), fresh
    assert actors.host_of(busy.show_id) == "shows:0"
    assert busy.show_id in host_stats(namespace)["live_shows"]
    assert row(backing, busy.show_id) == (epoch + 1, False)
    assert own_actor not in named(namespace)  # no actor of its own was made again


def test_an_actor_started_ahead_of_a_move_activates_on_its_first_call_not_before(
    live_service: Service, backing: Backing
) -> None:
    """A host starts a busy show's own actor before the move is recorded; activated at once, it would find
    the show hosted and leave (the race this pins is the host's; here, the actor's half of it)."""
    ahead, control = two_shows(live_service)
    ((alice, _),) = bulk_users(backing.database_url, 1)
    config = actor_config(backing)
    started = RemoteShowActor.options(num_cpus=0, max_restarts=0).remote(ahead.show_id, config, activate_now=False)
    eager = RemoteShowActor.options(num_cpus=0, max_restarts=0).remote(control.show_id, config)
    epochs = row(backing, ahead.show_id)[0], row(backing, control.show_id)[0]
    assert ray.get([started.ready.remote(), eager.ready.remote()], timeout=30) == [True, True]
    time.sleep(1.0)
    assert row(backing, ahead.show_id)[0] == epochs[0]  # up, and not activated
    assert row(backing, control.show_id)[0] == epochs[1] + 1  # control: activated as it started
    [held] = ray.get(started.apply.remote([HoldSeats(alice, ("A1",))]), timeout=30)
    assert isinstance(held, Hold)
    assert row(backing, ahead.show_id)[0] == epochs[0] + 1  # activated by its first call
    for actor in (started, eager):
        ray.kill(actor)
