"""Live seat maps over Server-Sent Events: ``GET /api/v1/shows/{show_id}/seats/stream``.

Events (``data`` is JSON; seat-map events carry ``id`` = the sequence number ``seq`` they bring the map to):

``snapshot``  (id: seq, or empty when read from PostgreSQL)
    The whole seat map, as ``GET /api/v1/shows/{id}/seats`` returns it, plus ``seq``, ``epoch``, a
    ``version`` per seat and a ``reason``: ``connect``, ``resync`` (after a ``resync`` event), ``reset``
    (the show's actor was activated again: replace everything), ``poll`` (Redis is unavailable or the
    published map is behind: the map is re-read every second or two and sent when it changed) or
    ``live`` (back in step after polling).
``seats``  (id: seq)
    ``{"show_id", "seq", "epoch", "changes": [{"seat", "status", "version"}]}``: the seats one committed
    change touched. ``seq`` and each seat's ``version`` only grow; a client keeps a seat's highest version.
``resync``
    ``{"reason"}``: this stream could not deliver every change (``slow-client``: its queue overflowed;
    ``missed-changes``: a change was lost between the actor and here). A ``snapshot`` follows at once.
``hold`` (only to the hold's owner, only with a token)
    ``{"hold_id", "seats", "expires_at", "seconds_left", "status"}``; ``status`` ``active`` when a hold is
    made or extended and as a countdown (every 10 s, and every second in the last minute), or how it
    ended: ``released``, ``confirmed`` (paid) or ``closed`` (sales closed).
``expired`` (only to the owner)
    ``{"hold_id", "seats", "expires_at"}`` when a hold lapses.
``reauthenticate``
    The token expired; the stream ends. Reconnect with a new token.

``?section=CODE`` narrows the stream to one section of a venue (``GET /api/v1/shows/{id}/venue`` lists
them; an unknown one is a 404 before the stream starts): its ``snapshot`` carries that section's seats
(none for a standing zone), its ``counts`` and its ``section`` entry as the overview gives it, and its
``seats`` events only the changes of that section's places (a change elsewhere sends nothing; ``hold``
and ``expired`` events are the caller's own, in any section). Without it the stream is the whole map.

Nobody but the owner ever sees an owner or a hold id. Resume: EventSource sends ``Last-Event-ID`` when it
reconnects; if that change is still in the show's change log (the last thousand or so, kept 15 minutes)
the missed ``seats`` events are replayed and no snapshot is sent; otherwise a fresh ``snapshot``. The
token is optional: ``Authorization: Bearer <token>``, or ``?access_token=<token>`` for browsers, whose
EventSource cannot set headers (keep such URLs out of logs). Comments (``: ping``) keep the connection
alive every 10 seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import jwt
from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from actors.seat_changes import Delta, HoldChange, Message, countdown_seconds, next_countdown
from api.auth import Caller, StreamToken, TokenService, bearer_token
from api.problems import ApiProblem, problem_responses
from api.routes.catalog import iso, seat_map_fields
from api.routes.venue import section_status
from api.schemas import SectionCode, ShowId
from persistence.catalog import OwnHold
from seat_views.reader import Claims, SeatMapView, VenueIndex
from seat_views.stream import SeatMapStream, Subscription

log = logging.getLogger("booking.stream")

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=problem_responses(401, 404))

PING_SECONDS = 10
SEND_TIMEOUT_SECONDS = 30.0
RETRY_MILLISECONDS = 2000
POLL_SECONDS = 2.0  # while not in step with the published changes but Redis is up
POLL_SECONDS_REDIS_DOWN = 1.0  # while Redis is down: reads fall back to PostgreSQL
SHARED_READ_SECONDS = 0.5  # one seat-map read serves every client of a show in this process this long
MAX_WAIT_SECONDS = 30.0
SHUTDOWN_GRACE_SECONDS = 1.0


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


COUNTS = ("available", "held", "booked", "blocked")


def snapshot_data(show_id: str, view: SeatMapView, reason: str, section: dict[str, Any] | None = None) -> str:
    """The ``snapshot`` event: the seat map as ``GET /seats`` answers it, with ``seq``, ``epoch``, the
    seats' versions and the ``reason``; for one ``section`` (its entry in the overview), that section's
    seats, counts and entry."""
    fields = seat_map_fields(show_id, view, versions=True)
    if section is not None:
        fields["counts"] = {key: section[key] for key in COUNTS}
        fields["section"] = section
    return dumps({**fields, "seq": view.seq, "epoch": view.epoch, "reason": reason})


def parse_event_id(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def token_expiry(token: str) -> float | None:
    """The ``exp`` of a token that ``TokenService.verify`` has accepted."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None


@dataclass(slots=True)
class _OwnHold:
    seats: tuple[str, ...]
    expires_at: float
    next_tick: float


class SeatStreamSession:
    """One client's stream. In step (``last_seq`` set) it forwards each change that directly follows the
    last one it sent, filling holes from the change log or re-syncing from a snapshot; out of step (Redis
    down, or the published map behind) it polls the seat map and sends it when it changed."""

    def __init__(
        self,
        stream: SeatMapStream,
        show_id: str,
        caller: Caller | None,
        token_expires: float | None,
        section: str | None = None,
        venue: VenueIndex | None = None,
    ) -> None:
        self.stream = stream
        self.show_id = show_id
        self.section = section  # only this section's seats (``venue`` is the show's layout then)
        self.venue = venue
        self.caller = caller
        self.token_expires = token_expires
        self.last_seq: int | None = None
        self.last_poll = 0.0
        self.poll_now = False
        self.last_statuses: tuple[Any, ...] | None = None
        self.holds: dict[str, _OwnHold] = {}
        self.shutdown = anyio.Event()  # set by EventSourceResponse when the server stops

    async def events(self, resume_from: int | None) -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(comment=f"seat map of show {self.show_id}", retry=RETRY_MILLISECONDS)
        async with self.stream.watch(self.show_id) as sub:
            replay = None
            if resume_from is not None and sub.live:
                replay = await self.stream.changes_after(self.show_id, resume_from, seq_in_log=True)
            if replay is None:
                async for event in self._sync(sub, "connect"):
                    yield event
            else:
                self.last_seq = resume_from
                async for event in self._apply_all(replay):
                    yield event
            async for event in self._refresh_holds():
                yield event
            stop = asyncio.get_running_loop().create_task(self._wake_on_shutdown(sub))
            try:
                while not self.shutdown.is_set():
                    now = time.time()
                    if self.token_expires is not None and now >= self.token_expires:
                        detail = "the access token expired; reconnect with a new one"
                        yield ServerSentEvent(dumps({"detail": detail}), event="reauthenticate")
                        return
                    await sub.wait(self._next_wakeup(sub, now))
                    async for event in self._step(sub):
                        yield event
            finally:
                stop.cancel()

    async def _wake_on_shutdown(self, sub: Subscription) -> None:
        """The server is stopping: end the stream cleanly (the client reconnects to another server)."""
        await self.shutdown.wait()
        sub.poke()

    # -- the loop ---------------------------------------------------------------------------------------

    def _next_wakeup(self, sub: Subscription, now: float) -> float:
        deadlines = [now + MAX_WAIT_SECONDS]
        deadlines.extend(hold.next_tick for hold in self.holds.values())
        if self.last_seq is None:
            deadlines.append(self.last_poll + self._poll_interval(sub))
        if self.token_expires is not None:
            deadlines.append(self.token_expires)
        return max(0.0, min(deadlines) - now)

    @staticmethod
    def _poll_interval(sub: Subscription) -> float:
        return POLL_SECONDS if sub.live else POLL_SECONDS_REDIS_DOWN

    async def _step(self, sub: Subscription) -> AsyncIterator[ServerSentEvent]:
        sub.seen()
        if sub.overflowed:
            sub.overflowed = False
            sub.discard_queued()
            async for event in self._resync(sub, "slow-client"):
                yield event
        if sub.resubscribed:
            # The subscription was (re)established: changes published meanwhile may be missing.
            sub.resubscribed = False
            if self.last_seq is not None:
                async for event in self._catch_up(sub):
                    yield event
            else:
                self.poll_now = True
            async for event in self._refresh_holds():
                yield event
        if not sub.live and self.last_seq is not None:
            self.last_seq = None  # changes can no longer reach this stream: poll instead
            self.poll_now = True
        while (item := sub.pop()) is not None:
            async for event in self._on_message(sub, item.message, item.public):
                yield event
        if self.last_seq is None and (self.poll_now or time.time() >= self.last_poll + self._poll_interval(sub)):
            self.poll_now = False
            async for event in self._sync(sub, "poll", only_if_changed=True):
                yield event
            if self.last_seq is not None:  # back in step: hold changes meanwhile were not followed
                async for event in self._refresh_holds():
                    yield event
        for event in self._ticks(time.time()):
            yield event

    async def _on_message(
        self, sub: Subscription, message: Message, public: str | None
    ) -> AsyncIterator[ServerSentEvent]:
        if not isinstance(message, Delta):
            # A new activation of the show's actor: a full map from which everyone restarts.
            if self.last_seq is None or message.seq > self.last_seq:
                async for event in self._apply_all([message]):
                    yield event
            return
        if self.last_seq is None:
            # Out of step: the published map moved on, so try to get back in step now; the caller's
            # holds come from PostgreSQL then.
            self.poll_now = True
            return
        if message.seq <= self.last_seq:
            return  # already sent (from the change log)
        if message.prev != self.last_seq:
            async for event in self._catch_up(sub):
                yield event
            if self.last_seq is None or message.seq <= self.last_seq:
                return
            if message.prev != self.last_seq:
                self.last_seq, self.poll_now = None, True  # could not get in step: poll until it can
                return
        if (seats := self._seats_event(message, public)) is not None:
            yield seats
        for event in self._hold_changes(message.holds):
            yield event

    async def _catch_up(self, sub: Subscription) -> AsyncIterator[ServerSentEvent]:
        """Fill the hole after ``last_seq`` from the change log, or re-sync from a snapshot."""
        assert self.last_seq is not None
        tail = await self.stream.changes_after(self.show_id, self.last_seq)
        if tail is None:
            async for event in self._resync(sub, "missed-changes"):
                yield event
            return
        async for event in self._apply_all(tail):
            yield event

    async def _apply_all(self, messages: Iterable[Message]) -> AsyncIterator[ServerSentEvent]:
        """Changes from the change log that follow on from ``last_seq`` (checked by the stream)."""
        for message in messages:
            if isinstance(message, Delta):
                if (seats := self._seats_event(message, None)) is not None:
                    yield seats
                for event in self._hold_changes(message.holds):
                    yield event
            else:
                snapshot = dict(message.snapshot)
                if self.section is None:
                    view = await self.stream.reader.render(
                        self.show_id, snapshot, message.seq, message.epoch, message.at
                    )
                    yield self._snapshot_event(view, None, "reset")
                else:
                    claims = await self.stream.reader.render_claims(
                        self.show_id, snapshot, message.seq, message.epoch, message.at
                    )
                    yield self._snapshot_event(*self._cut(claims), "reset")
                self.last_seq = message.seq
                async for event in self._refresh_holds():
                    yield event

    async def _resync(self, sub: Subscription, reason: str) -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(dumps({"reason": reason}), event="resync")
        async for event in self._sync(sub, "resync"):
            yield event
        async for event in self._refresh_holds():
            yield event

    async def _sync(
        self, sub: Subscription, reason: str, only_if_changed: bool = False
    ) -> AsyncIterator[ServerSentEvent]:
        """Send the seat map, and get in step with the published changes if Redis allows it."""
        self.last_poll = time.time()
        try:
            entry: dict[str, Any] | None = None
            if self.section is None:
                view = await self.stream.read(self.show_id, SHARED_READ_SECONDS)
            else:
                view, entry = self._cut(await self.stream.claims(self.show_id, SHARED_READ_SECONDS))
        except Exception as exc:  # PostgreSQL and Redis both unreachable: try again at the next poll
            log.debug("seat map unreadable for the stream: %r", exc)
            self.last_seq = None
            return
        tail = None
        if view.seq is not None and sub.live:
            tail = await self.stream.changes_after(self.show_id, view.seq)
        in_step = tail is not None
        statuses = self._state(view, entry)
        if not (only_if_changed and not in_step and statuses == self.last_statuses):
            yield self._snapshot_event(view, entry, "live" if in_step and reason == "poll" else reason)
        self.last_statuses = statuses
        if tail is None:
            self.last_seq = None
            return
        self.last_seq = view.seq
        async for event in self._apply_all(tail):
            yield event

    # -- events -----------------------------------------------------------------------------------------

    def _cut(self, claims: Claims) -> tuple[SeatMapView, dict[str, Any]]:
        """The streamed section's seats and overview entry."""
        assert self.section is not None
        return claims.section(self.section), section_status(claims, claims.venue.sections[self.section])

    @staticmethod
    def _state(view: SeatMapView, section: dict[str, Any] | None) -> tuple[Any, ...]:
        """What a poll compares to tell whether the map changed: the seats' statuses, and the section's
        counts (a standing zone has no seats)."""
        counts = () if section is None else tuple(section[key] for key in COUNTS)
        return (*(seat.status for seat in view.seats), *counts)

    def _snapshot_event(self, view: SeatMapView, section: dict[str, Any] | None, reason: str) -> ServerSentEvent:
        self.last_statuses = self._state(view, section)
        event_id = "" if view.seq is None else str(view.seq)
        return ServerSentEvent(snapshot_data(self.show_id, view, reason, section), event="snapshot", id=event_id)

    def _seats_event(self, delta: Delta, public: str | None) -> ServerSentEvent | None:
        """The ``seats`` event of a change; for one section, of its changes there (None: it had none)."""
        self.last_seq = delta.seq
        if self.section is not None:
            assert self.venue is not None
            section_of, code = self.venue.section_of, self.section
            changes = [change.public() for change in delta.changes if section_of(change.seat_id) == code]
            if not changes:
                return None
            fields = {"show_id": self.show_id, "seq": delta.seq, "epoch": delta.epoch, "changes": changes}
            return ServerSentEvent(dumps({**fields, "section": code}), event="seats", id=str(delta.seq))
        data = public if public is not None else delta.public_json(self.show_id)
        return ServerSentEvent(data, event="seats", id=str(delta.seq))

    # -- the caller's holds -----------------------------------------------------------------------------

    def _hold_event(self, hold_id: str, seats: tuple[str, ...], expires_at: float, status: str) -> ServerSentEvent:
        left = countdown_seconds(expires_at - time.time()) if status == "active" else 0
        data = {
            "hold_id": hold_id,
            "seats": list(seats),
            "expires_at": iso(expires_at),
            "seconds_left": left,
            "status": status,
        }
        return ServerSentEvent(dumps(data), event="hold")

    @staticmethod
    def _expired_event(hold_id: str, hold: _OwnHold) -> ServerSentEvent:
        data = {"hold_id": hold_id, "seats": list(hold.seats), "expires_at": iso(hold.expires_at)}
        return ServerSentEvent(dumps(data), event="expired")

    def _hold_active(self, hold_id: str, seats: tuple[str, ...], expires_at: float) -> list[ServerSentEvent]:
        known = self.holds.get(hold_id)
        if known is not None and known.expires_at == expires_at:
            return []
        now = time.time()
        if expires_at <= now:
            return []
        hold = _OwnHold(seats or (known.seats if known else ()), expires_at, now + next_countdown(expires_at - now))
        self.holds[hold_id] = hold
        return [self._hold_event(hold_id, hold.seats, expires_at, "active")]

    def _hold_ended(self, hold_id: str, status: str) -> list[ServerSentEvent]:
        hold = self.holds.pop(hold_id, None)
        if hold is None:
            return []
        if status == "expired":
            return [self._expired_event(hold_id, hold)]
        return [self._hold_event(hold_id, hold.seats, hold.expires_at, status)]

    def _hold_changes(self, changes: Iterable[HoldChange]) -> list[ServerSentEvent]:
        if self.caller is None:
            return []
        events: list[ServerSentEvent] = []
        for change in changes:
            if change.owner != self.caller.user_id:
                continue
            if change.status == "active" and change.expires_at is not None:
                events.extend(self._hold_active(change.hold_id, change.seat_ids, change.expires_at))
            else:
                events.extend(self._hold_ended(change.hold_id, change.status))
        return events

    async def _refresh_holds(self) -> AsyncIterator[ServerSentEvent]:
        """Bring the caller's holds up to date from PostgreSQL (on connect and after missed changes)."""
        if self.caller is None:
            return
        rows: list[OwnHold] | None = await self.stream.own_holds(self.show_id, self.caller.user_id, list(self.holds))
        for row in rows or []:
            if row.status == "active":
                for event in self._hold_active(row.hold_id, row.seat_ids, row.expires_at):
                    yield event
            else:
                for event in self._hold_ended(row.hold_id, row.status):
                    yield event

    def _ticks(self, now: float) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for hold_id, hold in list(self.holds.items()):
            if hold.next_tick > now:
                continue
            left = hold.expires_at - now
            if countdown_seconds(left) <= 0:
                del self.holds[hold_id]
                events.append(self._expired_event(hold_id, hold))
            else:
                hold.next_tick = now + next_countdown(left)
                events.append(self._hold_event(hold_id, hold.seats, hold.expires_at, "active"))
        return events


@router.get(
    "/shows/{show_id}/seats/stream",
    response_class=EventSourceResponse,
    responses={200: {"description": "`text/event-stream` of seat-map events", "content": {"text/event-stream": {}}}},
    # The token is optional: without one the stream carries the seat map only.
    openapi_extra={"security": [{}, {"HTTPBearer": []}]},
)
async def seat_stream(
    show_id: ShowId,
    request: Request,
    access_token: StreamToken = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
    section: Annotated[
        SectionCode | None, Query(description="only this section of a venue (404 if the show has none such)")
    ] = None,
) -> EventSourceResponse:
    """Live seat map: a `snapshot`, then a `seats` event per committed change (resumable with
    `Last-Event-ID`); with a token, also your holds' countdowns (`hold`, `expired`). With `section`, only
    that section's seats and changes. See the module documentation of `api/routes/stream.py` for the
    protocol."""
    stream: SeatMapStream = request.app.state.seat_stream
    _, venue = await stream.reader.venue(show_id)  # 404 for an unknown show, before the stream starts
    if section is not None and section not in venue.sections:
        raise ApiProblem(404, f"show {show_id} has no section {section}", "unknown-section")
    caller: Caller | None = None
    expires: float | None = None
    token = bearer_token(request) or access_token
    if token:
        tokens: TokenService = request.app.state.tokens
        caller = tokens.verify(token.strip())
        expires = token_expiry(token.strip())
    session = SeatStreamSession(stream, show_id, caller, expires, section, venue)
    return EventSourceResponse(
        session.events(parse_event_id(last_event_id)),
        ping=PING_SECONDS,
        send_timeout=SEND_TIMEOUT_SECONDS,
        shutdown_event=session.shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )
