"""A show's waiting list over HTTP (``/api/v1/shows/{show_id}/waiting-list``): join, read, leave.

The rules (one place per account, strict order, offers as holds of one's own) are
``waiting_room.waiting_list``'s; this module only speaks HTTP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import Field

from api.auth import CurrentCaller
from api.problems import AUTHENTICATED, problem_responses
from api.schemas import WHOLE, ShowId, Strict
from waiting_room.waiting_list import ListView, WaitingLists

router = APIRouter(prefix="/api/v1/shows/{show_id}/waiting-list", tags=["waiting room"])


class ListIn(Strict):
    seats: Annotated[int, Field(ge=1, le=20), WHOLE] = Field(default=2, description="how many seats you want together")


def _lists(request: Request) -> WaitingLists:
    lists: WaitingLists = request.app.state.waiting_lists
    return lists


@router.post("", response_model=ListView, responses=problem_responses(*AUTHENTICATED, 404))
async def join_waiting_list(show_id: ShowId, body: ListIn, caller: CurrentCaller, request: Request) -> ListView:
    """Take a place on the show's waiting list (joining again keeps your place and updates the seats you
    want). When seats come back, the first in line is offered them as a hold of their own, by e-mail and
    here (`state: offered`, `offer_hold_id`, `offer_expires_at`): pay for it like any hold before it lapses."""
    return await _lists(request).join(show_id, caller.user_id, body.seats)


@router.get("", response_model=ListView, responses=problem_responses(*AUTHENTICATED, 404))
async def get_waiting_list_place(show_id: ShowId, caller: CurrentCaller, request: Request) -> ListView:
    """Your place: its state, how many are ahead, and an offer if you have one. 404 if you never joined."""
    return await _lists(request).entry(show_id, caller.user_id)


@router.delete("", status_code=204, responses=problem_responses(*AUTHENTICATED, 404))
async def leave_waiting_list(show_id: ShowId, caller: CurrentCaller, request: Request) -> None:
    """Leave the list (an offer you hold stays yours until it lapses)."""
    await _lists(request).leave(show_id, caller.user_id)
