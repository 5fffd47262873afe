"""The waiting room's fast path: ``POST`` (join) and ``GET`` (poll) ``/api/v1/shows/{show_id}/queue``
answered before routing.

A waiting room's crowd is nothing but joins and polls, and a poll's answer comes from the process's memory
and a join's from one batched write (``waiting_room.service``): walking the router and solving FastAPI's
dependencies would cost more than the answer. ``FastQueuePolls`` is pure ASGI, installed
beside ``api.fast_holds.FastHolds`` (inside the block list and the rate limiter, which still apply), and
owns no rule: it takes the caller with the route's own token functions and answers with the service's
entry encoded by the route's own response type, so a poll's bytes are the route's. Whatever it does not
answer whole (no or a bad token, an id of the wrong shape, a refusal such as 404 ``not-in-queue``, any
error) goes to the FastAPI route, which answers it in its own words. ``BOOKING_FAST_HOLDS=false`` turns it
off with the hold fast path.
"""

from __future__ import annotations

import re

from fastapi import Request, Response
from pydantic import TypeAdapter
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import bearer_caller, bearer_credentials
from api.schemas import UUID_PATTERN
from waiting_room.service import EntryView, WaitingRooms

_PREFIX, _SUFFIX = "/api/v1/shows/", "/queue"
_ID = re.compile(UUID_PATTERN)
ENTRY = TypeAdapter(EntryView)  # the route's response type: the same encoding


class FastQueue:
    def __init__(self, app: ASGIApp, rooms: WaitingRooms) -> None:
        self.app = app
        self.rooms = rooms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "POST"):
            path: str = scope["path"]
            if (
                path.startswith(_PREFIX)
                and path.endswith(_SUFFIX)
                and _ID.fullmatch(path[len(_PREFIX) : -len(_SUFFIX)])
            ):
                request = Request(scope, receive)
                response = await self._answer(request, path[len(_PREFIX) : -len(_SUFFIX)], scope["method"] == "POST")
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, request: Request, show_id: str, join: bool) -> Response | None:
        try:
            caller = await bearer_caller(request, await bearer_credentials(request))
            if join:
                view = await self.rooms.join(show_id, caller.user_id)
            else:
                view = await self.rooms.entry(show_id, caller.user_id)
        except Exception:  # a bad token (ApiProblem), a refusal, an error: the route answers it, in its own words
            return None
        return Response(ENTRY.dump_json(view), media_type="application/json")
