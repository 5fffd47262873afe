"""The waiting room over HTTP (``/api/v1/shows/{show_id}/queue``), as ``../shared/api-contract.md`` pins it.

Join, poll (JSON, or pushed over SSE every ``PUSH_SECONDS``), the public fairness record and the published
pre-queue, and the admins' view. Every rule lives in ``waiting_room``; this module only speaks HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth import AdminCaller, Caller, CurrentCaller, TokenService, unauthorized
from api.problems import AUTHENTICATED, problem_responses
from api.schemas import ShowId
from waiting_room.service import EntryView, WaitingRooms

router = APIRouter(prefix="/api/v1", tags=["waiting room"])

PUSH_SECONDS = 2.0  # an SSE client gets its entry at least this often (the contract asks for every 5 s)


class EntryOut(BaseModel):
    entry_id: str
    show_id: str
    state: str = Field(description="`waiting`, `admitted`, `sold_out` or `closed`")
    number: int | None = Field(description="place in the queue order, 1 first; null until sales open")
    ahead: int | None = Field(description="entries before this one still waiting; null until sales open")
    joined_at: datetime
    pre_queue: bool = Field(description="joined before sales opened: ordered by the seed at the opening")
    opens_at: datetime
    admitted_at: datetime | None
    admission_expires_at: datetime | None = Field(description="hold seats before this, or the pass lapses")
    closed_reason: str | None = Field(description="`admission-lapsed` or `sales-over` when `closed`")
    admissions_per_minute: float
    estimated_wait_seconds: float | None = Field(description="null while the queue does not move")
    chance_of_ticket: float | None = Field(description="0 to 1, for waiting entries; see docs/waiting-room.md")
    updated_at: datetime


class FairnessOut(BaseModel):
    show_id: str
    commitment: str = Field(description="sha256(seed), lowercase hex, published before sales open")
    opens_at: datetime
    opened_at: datetime | None
    seed: str | None = Field(description="revealed at the opening")
    merkle_root: str | None = Field(description="of the pre-queue's entry ids, fixed at the opening")
    pre_queue_size: int | None
    order: str = (
        "pre-queue by sha256(seed + ':' + entry_id) ascending (lowercase hex), then later joiners in join order"
    )


class PreQueueEntryOut(BaseModel):
    number: int
    entry_id: str


class RoomOut(BaseModel):
    """The admins' view of a waiting room."""

    show_id: str
    opens_at: datetime
    opened_at: datetime | None
    entries: int
    pre_queue_size: int | None
    admitted: int
    waiting: int
    admissions_per_minute: float
    sold_out_at: datetime | None
    closed_at: datetime | None
    stock: dict[str, Any]


def _rooms(request: Request) -> WaitingRooms:
    rooms: WaitingRooms = request.app.state.waiting_rooms
    return rooms


def _out(view: EntryView) -> EntryOut:
    return EntryOut(**asdict(view))


@router.post("/shows/{show_id}/queue", response_model=EntryOut, responses=problem_responses(*AUTHENTICATED, 404, 409))
async def join_queue(show_id: ShowId, caller: CurrentCaller, request: Request) -> EntryOut:
    """Join the show's waiting room; joining again returns the same entry (one place per account). 404 for
    an unknown show, 409 for a show without a waiting room."""
    return _out(await _rooms(request).join(show_id, caller.user_id))


@router.get("/shows/{show_id}/queue", response_model=EntryOut, responses=problem_responses(*AUTHENTICATED, 404, 409))
async def get_queue_entry(show_id: ShowId, caller: CurrentCaller, request: Request) -> EntryOut:
    """Your entry as of now: state, number, people ahead, the admission rate, an estimated wait and the
    chance of a ticket. 404 if you never joined."""
    return _out(await _rooms(request).entry(show_id, caller.user_id))


@router.get(
    "/shows/{show_id}/queue/events",
    response_class=EventSourceResponse,
    responses={200: {"description": "`text/event-stream` of `entry` events", "content": {"text/event-stream": {}}}},
)
async def queue_events(
    show_id: ShowId,
    request: Request,
    access_token: Annotated[
        str | None, Query(max_length=4096, description="the token, for EventSource (it cannot set headers)")
    ] = None,
) -> EventSourceResponse:
    """Your entry pushed as an `entry` event at once and then every two seconds, until it is `admitted`,
    `sold_out` or `closed` (sent once more, then the stream ends). Bearer header or `access_token`."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials if scheme.lower() == "bearer" and credentials else access_token
    tokens: TokenService = request.app.state.tokens
    if not token:
        raise unauthorized("send `Authorization: Bearer <token>` or `?access_token=`")
    caller: Caller = tokens.verify(token.strip())
    rooms = _rooms(request)
    first = await rooms.entry(show_id, caller.user_id)  # 404 / 409 before the stream starts

    async def events() -> AsyncIterator[ServerSentEvent]:
        view = first
        while True:
            yield ServerSentEvent(data=_out(view).model_dump_json(), event="entry")
            if view.state != "waiting":
                return
            await asyncio.sleep(PUSH_SECONDS)
            view = await rooms.entry(show_id, caller.user_id)

    return EventSourceResponse(events(), ping=15)


@router.get("/shows/{show_id}/queue/fairness", response_model=FairnessOut, responses=problem_responses(404, 409))
async def queue_fairness(show_id: ShowId, request: Request) -> FairnessOut:
    """The commitment to the seed before sales open; from the opening on also the seed, the Merkle root and
    the size of the pre-queue, so anyone can check `sha256(seed) == commitment` and recompute the order
    (`python -m waiting_room.verify`). No token needed."""
    return FairnessOut(**asdict(await _rooms(request).fairness(show_id)))


@router.get(
    "/shows/{show_id}/queue/fairness/pre-queue",
    response_model=list[PreQueueEntryOut],
    responses=problem_responses(404, 409),
)
async def published_pre_queue(
    show_id: ShowId,
    request: Request,
    after: Annotated[int, Query(ge=0, description="the last number of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[PreQueueEntryOut]:
    """The pre-queue in queue order, a page at a time (empty before the opening). No token needed."""
    page = await _rooms(request).pre_queue(show_id, after, limit)
    return [PreQueueEntryOut(number=n, entry_id=e) for n, e in page]


@router.get(
    "/admin/shows/{show_id}/queue",
    response_model=RoomOut,
    tags=["admin"],
    responses=problem_responses(*AUTHENTICATED, 404, 409),
)
async def room_status(show_id: ShowId, _: AdminCaller, request: Request) -> RoomOut:
    """Entries, admissions, the admission rate, the stock the last round saw, and when it sold out."""
    return RoomOut(**asdict(await _rooms(request).status(show_id)))
