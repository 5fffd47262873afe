"""After sell-out, a waiting list: seats that come back go to those who asked, in the order they asked.

Anyone can join a show's list (one place per account, for 1–N seats). When seats come back (a cancelled
booking, an expired or released hold, unblocked seats), the round (``WaitingLists.run_once``, every
``interval_seconds`` in each API process, one writer per show by advisory lock) offers them to the first
on the list, then to the next while enough are free: an offer is a hold of that account's own, made by the
show's actor like any other (so a seat is held for one person at a time and nothing is offered that is not
free), kept for ``offer_seconds`` and announced by e-mail (``waitlist.offered``) and on the list entry. An
offer that ends unpaid (the window passes: the round releases the hold; or the hold expired) lapses and the
seats pass to the next. The order is strict: if the first wants more seats than are free, nobody behind is
served before them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from actors.commands import Command, HoldSeats, ReleaseHold, Reply
from actors.errors import PaymentInProgress, Unavailable, UnknownShow
from actors.seat_map_core import Hold
from persistence import catalog
from persistence import waiting_lists as store
from persistence.database import Database
from persistence.periodic import Periodic
from persistence.waiting_lists import ListEntry
from waiting_room.errors import NotOnWaitingList

log = logging.getLogger("booking.waiting_list")

__all__ = ["ListView", "WaitingLists"]

Submit = Callable[[str, Command], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class ListView:
    """A place on a show's waiting list, as its account sees it."""

    id: str
    show_id: str
    state: str  # waiting | offered | booked | lapsed | left
    seats: int
    ahead: int  # places before this one still waiting or holding an offer
    joined_at: datetime
    offer_hold_id: str | None
    offer_expires_at: datetime | None


def _view(entry: ListEntry) -> ListView:
    offered = entry.state == "offered"
    return ListView(
        id=entry.id,
        show_id=entry.show_id,
        state=entry.state,
        seats=entry.seats,
        ahead=entry.ahead,
        joined_at=entry.joined_at,
        offer_hold_id=entry.offer_hold_id if offered else None,
        offer_expires_at=entry.offer_expires_at if offered else None,
    )


class WaitingLists:
    def __init__(self, database: Database, submit: Submit, offer_seconds: float, interval_seconds: float) -> None:
        self._database = database
        self._submit = submit
        self._offer = timedelta(seconds=offer_seconds)
        self._periodic = Periodic(self.run_once, interval_seconds, log=log, what="waiting-list round")

    async def join(self, show_id: str, user_id: str, seats: int) -> ListView:
        async with self._database.session() as session:
            if await catalog.get_show(session, show_id) is None:
                raise UnknownShow(show_id)
            return _view(await store.join(session, show_id, user_id, seats))

    async def entry(self, show_id: str, user_id: str) -> ListView:
        async with self._database.session() as session:
            entry = await store.entry_of(session, show_id, user_id)
        if entry is None:
            raise NotOnWaitingList()
        return _view(entry)

    async def leave(self, show_id: str, user_id: str) -> None:
        async with self._database.session() as session:
            if not await store.leave(session, show_id, user_id):
                raise NotOnWaitingList()

    # -- the offers --------------------------------------------------------------------------------------

    def start(self) -> None:
        self._periodic.start()

    async def aclose(self) -> None:
        await self._periodic.aclose()

    async def run_once(self) -> None:
        async with self._database.session() as session:
            shows = await store.shows_with_open_entries(session)
        for show_id in shows:
            try:
                await self.round(show_id)
            except Exception as exc:  # one show's failure must not stop the others' offers
                log.warning("waiting-list round for %s failed: %r", show_id, exc)

    async def round(self, show_id: str) -> None:
        """Settle the offers made, then offer what is free to the next in line."""
        async with self._database.session() as session:
            locked = await session.execute(
                text("SELECT pg_try_advisory_xact_lock(hashtext('seatwise-waiting-list'), hashtext(:show))"),
                {"show": show_id},
            )
            if not locked.scalar_one():
                return  # another process has this show's round
            now = datetime.now(UTC)
            for entry in await store.open_entries(session, show_id):
                if entry.state == "offered":
                    await self._settle(session, entry, now)
                    continue
                free = await store.free_seats(session, show_id)
                if len(free) < entry.seats:
                    return  # the first in line waits for enough seats; nobody is served before them
                if not await self._offer_to(session, entry, free[: entry.seats], now):
                    return

    async def _settle(self, session: AsyncSession, entry: ListEntry, now: datetime) -> None:
        assert entry.offer_hold_id is not None
        state = await store.hold_state(session, entry.offer_hold_id)
        if state is None:
            return
        status, paying = state
        if status == "confirmed":
            await store.mark(session, entry.id, "booked")
        elif status != "active":
            await store.mark(session, entry.id, "lapsed")
        elif not paying and entry.offer_expires_at is not None and now >= entry.offer_expires_at:
            reply = await self._submit(entry.show_id, ReleaseHold(entry.user_id, entry.offer_hold_id))
            if not isinstance(reply, PaymentInProgress | Unavailable):  # released, or gone already
                await store.mark(session, entry.id, "lapsed")

    async def _offer_to(self, session: AsyncSession, entry: ListEntry, seats: list[str], now: datetime) -> bool:
        """Hold ``seats`` for the entry's account through the show's actor; False if the actor said no
        (its seat map is the truth: PostgreSQL's view of the free seats may be a moment behind)."""
        reply = await self._submit(entry.show_id, HoldSeats(entry.user_id, tuple(seats)))
        if not isinstance(reply, Hold):
            log.info("waiting list of %s: no offer to %s now: %r", entry.show_id, entry.user_id, reply)
            return False
        expires = min(reply.expires_at, now + self._offer)
        await store.offer(session, entry, reply.hold_id, list(reply.seat_ids), expires)
        log.info("waiting list of %s: offered %s to %s until %s", entry.show_id, reply.seat_ids, entry.user_id, expires)
        return True
