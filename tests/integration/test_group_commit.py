"""The show actor's pipelined group commit against real Ray and PostgreSQL.

Batches run against the seat map while an earlier batch's transaction is still open, so the map runs
ahead of PostgreSQL. These tests pin what that lead may and may not do: batches staged together commit
together and all answer after their commit; when a transaction fails, every batch staged on top of it
fails too (it ran on state that was never durable), nothing of theirs is in PostgreSQL, and the reloaded
map agrees with PostgreSQL. A PostgreSQL trigger makes one chosen account's holds fail slowly, so the
failure happens while other batches are queued behind it.

Each test runs on both shapes a show can have (``BOOKING_SHOW_PLACEMENT``): a dedicated actor, committing
on its own connection, and a host (the default placement), whose shows commit through the host's shared
group commit (``persistence.show_store.GroupCommit``). The copies are made here, without a name, so the
service under test (which only creates the shows) never reaches them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx
import psycopg
import pytest
import ray

from actors.commands import Command, HoldSeats
from actors.errors import Unavailable
from actors.seat_map_core import Hold
from actors.show_actor import RemoteShowActor
from actors.show_host import HostConfig, RemoteShowHost
from settings import libpq_url
from tests.api_client import bulk_users, create_show
from tests.conftest import Backing, Service, actor_config

DOOMED_DELAY_SECONDS = 1.0


@pytest.fixture
def doomed_user(backing: Backing) -> Iterator[str]:
    """An account whose holds PostgreSQL refuses, after a delay, inside the commit."""
    ((user, _),) = bulk_users(backing.database_url, 1)
    with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE OR REPLACE FUNCTION test_doom_hold() RETURNS trigger AS $$
            BEGIN
                IF NEW.user_id = '{user}' THEN
                    PERFORM pg_sleep({DOOMED_DELAY_SECONDS});
                    RAISE EXCEPTION 'this account''s holds are doomed (test trigger)';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql
            """
        )
        conn.execute(
            "CREATE TRIGGER test_doom_hold BEFORE INSERT ON holds FOR EACH ROW EXECUTE FUNCTION test_doom_hold()"
        )
    try:
        yield user
    finally:
        with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
            conn.execute("DROP TRIGGER IF EXISTS test_doom_hold ON holds")


@dataclass(frozen=True)
class ShowCopy:
    """One show's copy in a dedicated actor or on a host, called alike (a host takes the show's id)."""

    handle: Any
    show_id: str
    hosted: bool

    def apply(self, commands: Sequence[Command]) -> Any:
        """The ``ObjectRef`` of the replies to one batch."""
        if self.hosted:
            return self.handle.apply.remote(self.show_id, list(commands))
        return self.handle.apply.remote(list(commands))

    def ping(self) -> dict[str, Any]:
        call = self.handle.ping.remote(self.show_id) if self.hosted else self.handle.ping.remote()
        return cast("dict[str, Any]", ray.get(call, timeout=30))


@pytest.fixture(params=["hosted", "dedicated"])
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def actor_for(show_id: str, backing: Backing, shape: str) -> ShowCopy:
    config = actor_config(backing)
    # Not by name: the service under test must not reach this copy.
    if shape == "hosted":
        host = HostConfig(max_shows=10, idle_seconds=3600.0, db_connections=2)
        handle = RemoteShowHost.options(num_cpus=0, max_restarts=0).remote("test-host", config, host)
    else:
        handle = RemoteShowActor.options(num_cpus=0, max_restarts=0).remote(show_id, config)
    return ShowCopy(handle, show_id, shape == "hosted")


def held_in_postgres(backing: Backing, show_id: str) -> dict[str, str]:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        rows = conn.execute("SELECT seat_id, user_id FROM seat_claims WHERE show_id = %s", (show_id,)).fetchall()
    return {seat: user for seat, user in rows}


def test_batches_staged_behind_a_failed_commit_fail_with_it(
    live_service: Service, backing: Backing, doomed_user: str, shape: str
) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
    (first, _), (third, _), (fourth, _) = bulk_users(backing.database_url, 3)
    actor = actor_for(show.show_id, backing, shape)
    actor.ping()

    # a commits on its own first: sent together with b, both could run before a's commit started and
    # share b's doomed transaction (a group commit does exactly that), which is not what this pins.
    [reply_a] = ray.get(actor.apply([HoldSeats(first, ("A1",))]), timeout=30)
    b = actor.apply([HoldSeats(doomed_user, ("A2",))])
    time.sleep(DOOMED_DELAY_SECONDS / 3)  # b's transaction is now open, sleeping in the trigger
    c = actor.apply([HoldSeats(third, ("A3",))])  # runs on a map that holds b's seat
    [reply_b], [reply_c] = ray.get([b, c], timeout=30)

    assert isinstance(reply_a, Hold)
    assert isinstance(reply_b, Unavailable)
    # c ran on state that never became durable: it fails with b, and nothing of it was written.
    assert isinstance(reply_c, Unavailable)
    assert held_in_postgres(backing, show.show_id) == {"A1": first}
    # The reloaded map is PostgreSQL's: b's and c's seats are free again, a's is not.
    [again] = ray.get(actor.apply([HoldSeats(fourth, ("A2", "A3"))]), timeout=30)
    assert isinstance(again, Hold)
    [taken] = ray.get(actor.apply([HoldSeats(fourth, ("A1",))]), timeout=30)
    assert not isinstance(taken, Hold | Unavailable)
    assert held_in_postgres(backing, show.show_id) == {"A1": first, "A2": fourth, "A3": fourth}
    ray.kill(actor.handle)


def test_batches_queued_behind_an_open_transaction_commit_together(
    live_service: Service, backing: Backing, shape: str
) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
    users = [u for u, _ in bulk_users(backing.database_url, 20)]
    actor = actor_for(show.show_id, backing, shape)
    actor.ping()
    before = actor.ping()

    async def crowd() -> list[Any]:
        # 20 single-hold batches at once (every seat of the show), as many API processes' lanes might send them.
        return await asyncio.gather(
            *(actor.apply([HoldSeats(u, (f"{'AB'[i // 10]}{i % 10 + 1}",))]) for i, u in enumerate(users))
        )

    replies = asyncio.run(crowd())
    after = actor.ping()
    assert all(isinstance(r, Hold) for [r] in replies), replies
    assert len(held_in_postgres(backing, show.show_id)) == 20
    batches, commits = after["batches"] - before["batches"], after["commits"] - before["commits"]
    assert batches == 20
    # Batches that ran while a transaction was open went out together in the next one.
    assert commits < batches, (commits, batches)
    ray.kill(actor.handle)
