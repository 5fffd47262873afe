"""The waiting room over HTTP (``/api/v1/shows/{show_id}/queue``), as ``../shared/api-contract.md`` pins it.

Join, poll (JSON, or pushed over SSE every ``PUSH_SECONDS``), the public fairness record and the published
pre-queue, and the admins' view. Every rule lives in ``waiting_room``; this module only speaks HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, TypeAdapter
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth import AdminCaller, Caller, CurrentCaller, TokenService, unauthorized
from api.deps import rooms_of
from api.problems import AUTHENTICATED, problem_responses
from api.schemas import ShowId
from waiting_room.service import EntryView, FairnessRecord, RoomStatus

router = APIRouter(prefix="/api/v1", tags=["waiting room"])

_ENTRY = TypeAdapter(EntryView)
PUSH_SECONDS = 2.0  # an SSE client gets its entry at least this often (the contract asks for every 5 s)


class PreQueueEntryOut(BaseModel):
    number: int
    entry_id: str


@router.post("/shows/{show_id}/queue", response_model=EntryView, responses=problem_responses(*AUTHENTICATED, 404, 409))
async def join_queue(show_id: ShowId, caller: CurrentCaller, request: Request) -> EntryView:
    """Join the show's waiting room; joining again returns the same entry (one place per account). 404 for
    an unknown show, 409 for a show without a waiting room."""
    return await rooms_of(request).join(show_id, caller.user_id)


@router.get("/shows/{show_id}/queue", response_model=EntryView, responses=problem_responses(*AUTHENTICATED, 404, 409))
async def get_queue_entry(show_id: ShowId, caller: CurrentCaller, request: Request) -> EntryView:
    """Your entry as of now: state, number, people ahead, the admission rate, an estimated wait and the
    chance of a ticket. 404 if you never joined."""
    return await rooms_of(request).entry(show_id, caller.user_id)


@router.get(
    "/shows/{show_id}/queue/events",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "`text/event-stream` of `entry` events", "content": {"text/event-stream": {}}},
        **problem_responses(*AUTHENTICATED, 404, 409),
    },
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
    rooms = rooms_of(request)
    first = await rooms.entry(show_id, caller.user_id)  # 404 / 409 before the stream starts

    async def events() -> AsyncIterator[ServerSentEvent]:
        view = first
        while True:
            yield ServerSentEvent(data=_ENTRY.dump_json(view).decode(), event="entry")
            if view.state != "waiting":
                return
            await asyncio.sleep(PUSH_SECONDS)
            view = await rooms.entry(show_id, caller.user_id)

    return EventSourceResponse(events(), ping=15)


@router.get("/shows/{show_id}/queue/fairness", response_model=FairnessRecord, responses=problem_responses(404, 409))
async def queue_fairness(show_id: ShowId, request: Request) -> FairnessRecord:
    """The commitment to the seed before sales open; from the opening on also the seed, the Merkle root and
    the size of the pre-queue, so anyone can check `sha256(seed) == commitment` and recompute the order
    (`python -m waiting_room.verify`). No token needed."""
    return await rooms_of(request).fairness(show_id)


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
    page = await rooms_of(request).pre_queue(show_id, after, limit)
    return [PreQueueEntryOut(number=n, entry_id=e) for n, e in page]


@router.get(
    "/admin/shows/{show_id}/queue",
    response_model=RoomStatus,
    tags=["admin"],
    responses=problem_responses(*AUTHENTICATED, 404, 409),
)
async def room_status(show_id: ShowId, _: AdminCaller, request: Request) -> RoomStatus:
    """Entries, admissions, the admission rate, the stock the last round saw, and when it sold out."""
    return await rooms_of(request).status(show_id)
