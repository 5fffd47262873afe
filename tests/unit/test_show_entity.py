"""The show actor (``actors.show_entity.ShowEntity``) and a host's use of it, on an in-memory journal.

What the entity promises about durability, pinned without PostgreSQL or Ray (``tests/unit/fakes.py``):
batches that run while a commit is in flight share the next transaction (group commit); a commit whose
outcome is unknown fails its batch and every batch staged on top of it, and the show reloads from the
journal; a copy whose epoch a newer activation took is fenced and never activates again; a show that
is cancelled retires; one that starts closes its sales and serves the door. The real-PostgreSQL versions
of these live in ``tests/integration``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from actors import show_host
from actors.commands import CancelShow, CheckIn, ConfirmHolds, HoldSeats, Reply, ShowCancellation
from actors.door import CheckInResult
from actors.errors import Moved, SalesClosed, SeatsUnavailable, StaleEpoch, Unavailable
from actors.seat_map_core import Booking, Hold
from actors.show_entity import ActorConfig, Gone, ShowEntity
from actors.show_host import HostConfig, ShowHost
from tests.unit.fakes import MemoryJournals, QuietPublisher

WAIT_SECONDS = 3.0  # retirement is reported 1 s after the show closes


def actor_config(db: MemoryJournals) -> ActorConfig:
    return ActorConfig(
        journals=db,
        redis_url="redis://never-used",
        redis_prefix="test:",
        max_seats_per_user=10,
        max_seats_per_request=10,
        max_extensions=2,
        db_timeout_seconds=1.0,
        publish_interval_seconds=0.1,
        niceness=None,
    )


@dataclass
class Departure:
    """What an entity said when it went (its ``on_gone``)."""

    why: list[Gone] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, entity: ShowEntity, why: Gone) -> None:
        self.why.append(why)
        self.event.set()


@dataclass
class Copy:
    """One copy of a show: its entity, its publisher, and how it went."""

    entity: ShowEntity
    publisher: QuietPublisher
    departure: Departure

    @property
    def gone(self) -> list[Gone]:
        return self.departure.why

    async def went(self) -> list[Gone]:
        """What the entity said when it went, once it did (``WAIT_SECONDS`` at most)."""
        await asyncio.wait_for(self.departure.event.wait(), WAIT_SECONDS)
        return self.gone

    async def hold(self, user: str, *seat_ids: str) -> Reply:
        (reply,) = await self.entity.apply([HoldSeats(user, seat_ids)])
        return reply


@pytest.fixture
async def copies() -> AsyncIterator[Callable[..., Copy]]:
    made: list[Copy] = []

    def make(db: MemoryJournals, show_id: str = "s1", own_actor: bool | None = None) -> Copy:
        publisher, departure = QuietPublisher(show_id), Departure()
        entity = ShowEntity(show_id, actor_config(db), db.own(), publisher, departure, own_actor=own_actor)
        made.append(Copy(entity, publisher, departure))
        return made[-1]

    yield make
    for copy in made:
        await copy.entity.close()


async def settle() -> None:
    """Let every task that can run, run (the fake journal's awaits are all immediate)."""
    for _ in range(50):
        await asyncio.sleep(0)


def kinds(replies: Sequence[Reply]) -> list[type]:
    return [type(r) for r in replies]


async def test_batches_that_run_during_a_commit_share_the_next_transaction(copies: Callable[..., Copy]) -> None:
    db = MemoryJournals()
    db.add_show("s1")
    show = copies(db)
    await show.entity.ping()
    gate = db.hold_commits()
    first = asyncio.create_task(show.hold("u1", "A1"))
    await settle()  # its commit waits at the gate
    queued = [asyncio.create_task(show.hold(f"u{n}", f"A{n}")) for n in (2, 3, 4)]
    await settle()
    assert not any(t.done() for t in [first, *queued])  # nobody is answered before their commit
    gate.set()
    replies = await asyncio.gather(first, *queued)
    assert kinds(replies) == [Hold] * 4
    assert [len(c.events) for c in db.commits] == [1, 3]  # one transaction for the three that queued
    assert show.publisher.published == [e for c in db.commits for e in c.events]  # published once committed


async def test_a_failed_commit_fails_what_was_staged_on_it_and_the_show_reloads(
    copies: Callable[..., Copy],
) -> None:
    db = MemoryJournals()
    db.add_show("s1")
    show = copies(db)
    assert isinstance(await show.hold("u1", "A1"), Hold)
    gate = db.hold_commits()
    db.fail_next_commits(1)
    failing = asyncio.create_task(show.hold("u2", "A2"))
    await settle()
    on_top = asyncio.create_task(show.hold("u3", "A3"))  # runs on the seat map that has u2's hold
    await settle()
    gate.set()
    assert isinstance(await failing, Unavailable)
    assert isinstance(await on_top, Unavailable)  # its answer rested on the failed commit
    assert db.discarded == 1
    assert len(db.commits) == 1  # only u1's hold is durable
    # The next batch runs on the seat map reloaded from the journal: A2 and A3 free again, A1 still held.
    replies = await show.entity.apply([HoldSeats("u4", ("A2",)), HoldSeats("u4", ("A3",)), HoldSeats("u5", ("A1",))])
    assert kinds(replies) == [Hold, Hold, SeatsUnavailable]
    assert [epoch for _, epoch in db.activations] == [1, 2]
    assert (await show.entity.ping())["reloads"] == 1
    assert show.gone == []


async def test_a_superseded_copy_is_fenced_and_stays_down(copies: Callable[..., Copy]) -> None:
    db = MemoryJournals()
    db.add_show("s1")
    old = copies(db)
    await old.entity.ping()
    new = copies(db)
    await new.entity.ping()  # a newer activation (Ray restarted the actor elsewhere): epoch 2
    assert isinstance(await old.hold("u1", "A1"), StaleEpoch)
    assert old.gone == ["fenced"]
    assert old.entity.gone
    later = await old.hold("u1", "A1")
    assert type(later) is Unavailable  # answered at once: no new activation to fence the newer copy back
    assert [epoch for _, epoch in db.activations] == [1, 2]
    assert isinstance(await new.hold("u2", "A1"), Hold)  # the old copy wrote nothing
    assert [c.epoch for c in db.commits] == [2]


async def test_a_copy_in_the_wrong_place_moves_without_taking_an_epoch(copies: Callable[..., Copy]) -> None:
    db = MemoryJournals()
    db.add_show("s1")  # hosted
    own = copies(db, own_actor=True)
    assert isinstance(await own.hold("u1", "A1"), Moved)
    assert own.gone == ["moved"]
    assert db.activations == []
    assert db.shows["s1"].epoch == 0


async def test_a_cancelled_show_retires(copies: Callable[..., Copy]) -> None:
    db = MemoryJournals()
    db.add_show("s1")
    show = copies(db)
    assert isinstance(await show.hold("u1", "A1"), Hold)
    (reply,) = await show.entity.apply([CancelShow()])
    assert isinstance(reply, ShowCancellation)
    assert db.shows["s1"].status == "cancelled"
    assert isinstance(await show.hold("u2", "A2"), SalesClosed)
    assert await show.went() == ["retired"]
    assert show.publisher.dropped


async def test_a_show_that_starts_closes_its_sales_and_serves_the_door(copies: Callable[..., Copy]) -> None:
    db = MemoryJournals()
    db.add_show("s1", starts_in=timedelta(seconds=0.3))
    show = copies(db)
    booked = await show.hold("u0", "A2")
    assert isinstance(booked, Hold)
    (booking,) = await show.entity.apply([ConfirmHolds("u0", (booked.hold_id,))])
    assert isinstance(booking, Booking)
    assert isinstance(await show.hold("u1", "A1"), Hold)
    for _ in range(int(WAIT_SECONDS / 0.05)):  # the show starts in 0.3 s; its sales close then
        if show.publisher.dropped:
            break
        await asyncio.sleep(0.05)
    last = db.commits[-1]
    assert last.close_show
    assert db.shows["s1"].status == "closed"
    assert db.shows["s1"].holds == {}
    assert show.publisher.dropped
    # Sales are over, the door is open: the show's single writer still decides who is in.
    assert isinstance(await show.hold("u2", "A3"), SalesClosed)
    first, second = await show.entity.apply([CheckIn(booking.booking_id, "g1"), CheckIn(booking.booking_id, "g2")])
    assert isinstance(first, CheckInResult)
    assert first.outcome == "admitted"
    assert isinstance(second, CheckInResult)
    assert second.outcome == "already_admitted"
    assert second.admission is not None
    assert second.admission.gate == "g1"
    assert list(db.shows["s1"].admissions) == [(booking.booking_id, 1)]
    assert show.gone == []


@pytest.fixture
async def quiet_host(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[[MemoryJournals], ShowHost]]:
    monkeypatch.setattr(show_host, "SeatMapPublisher", lambda redis, prefix, show_id: QuietPublisher(show_id))
    hosts: list[ShowHost] = []

    def make(db: MemoryJournals) -> ShowHost:
        host = ShowHost("shows:test", actor_config(db), HostConfig(max_shows=10, idle_seconds=3600, db_connections=2))
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        await host.passivate_idle(0)
        host._sweeper.cancel()


async def test_a_host_serves_its_shows_on_the_journals_it_is_given(
    quiet_host: Callable[[MemoryJournals], ShowHost],
) -> None:
    db = MemoryJournals()
    db.add_show("s1")
    db.add_show("s2")
    host = quiet_host(db)
    replies = await host.apply_many({"s1": [HoldSeats("u1", ("A1",))], "s2": [HoldSeats("u1", ("A1",))]})
    assert {show: kinds(r) for show, r in replies.items()} == {"s1": [Hold], "s2": [Hold]}
    assert db.opened == 1  # the shared journals (a pool, in PostgreSQL) opened once for both shows
    assert sorted(c.show_id for c in db.commits) == ["s1", "s2"]
    await db.activate("s1")  # a newer copy of s1 elsewhere
    assert kinds(await host.apply("s1", [HoldSeats("u2", ("A2",))])) == [StaleEpoch]
    # The fenced show was dropped; its next batch activates it here anew, and s2 never noticed.
    assert kinds(await host.apply("s1", [HoldSeats("u2", ("A2",))])) == [Hold]
    assert kinds(await host.apply("s2", [HoldSeats("u2", ("A2",))])) == [Hold]
    assert [epoch for show, epoch in db.activations if show == "s1"] == [1, 2, 3]
