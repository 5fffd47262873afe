"""The hold fast path: ``POST /api/v1/shows/{show_id}/holds`` and the seed ``POST /HoldSeat/api/v0/{movie_id}``
answered before routing, for the price of a bare endpoint.

An on-sale crowd is nothing but these two requests, and walking the router, solving FastAPI's
dependencies and validating through its request machinery cost the API process more CPU than the hold
itself (``bench.front_cost``, docs/measurements.md). ``FastHolds`` is pure ASGI, installed inside the block
list and the rate limiter (which still apply to it), like ``RenderedSeatMaps``. It owns no rule of its own:
it reads the body once, validates it with the route's own model on the raw bytes, takes the caller with
the routes' own token functions (``api.auth``, verified tokens cached), and answers with the routes' own
code (``hold_answer``, ``seed_hold_answer``); refusals raised there go through the app's own exception
handlers (``api.problems``), so every answer is the route's, byte for byte.

Whatever it does not take on whole goes to the FastAPI route unchanged, the body replayed: another content
type, a malformed or invalid body, a missing or bad token, an ``Idempotency-Key`` of the wrong length, a
path id of the wrong shape. Those answers (400, 401, 404, 422) are the route's by construction, and they
are not the hot path. The routes stay the documented ones (OpenAPI). ``BOOKING_FAST_HOLDS=false`` turns
the layer off.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import bearer_caller, bearer_credentials, seed_caller  # the routes' own scheme and callers
from api.problems import ApiProblem
from api.routes.holds import HoldIn, hold_answer
from api.routes.seed import seed_hold_answer
from api.schemas import UUID_PATTERN, SeedHoldIn
from booking.service import BookingService

M = TypeVar("M", bound=BaseModel)
_V1_PREFIX, _V1_SUFFIX = "/api/v1/shows/", "/holds"
_V0_PREFIX = "/HoldSeat/api/v0/"
_ID = re.compile(UUID_PATTERN)
# What FastAPI parses as JSON and the fast path takes on; anything else is left to the route.
_JSON = "application/json"
_KEY_LENGTH = range(1, 256)  # the Idempotency-Key header's bounds (api.schemas.IdempotencyKey)


class FastHolds:
    def __init__(self, app: ASGIApp, booking: BookingService) -> None:
        self.app = app
        self.booking = booking

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(_V1_PREFIX) and path.endswith(_V1_SUFFIX):
                show_id = path[len(_V1_PREFIX) : -len(_V1_SUFFIX)]
                if _ID.fullmatch(show_id):
                    await self._serve(scope, receive, send, HoldIn, self._v1, show_id)
                    return
            elif path.startswith(_V0_PREFIX):
                movie_id = path[len(_V0_PREFIX) :]
                if _ID.fullmatch(movie_id):
                    await self._serve(scope, receive, send, SeedHoldIn, self._v0, movie_id)
                    return
        await self.app(scope, receive, send)

    async def _v1(self, request: Request, show_id: str, body: Any, key: str | None) -> Response | None:
        try:
            caller = await bearer_caller(request, await bearer_credentials(request))
        except ApiProblem:
            return None  # the route says 401
        return await hold_answer(self.booking, show_id, caller.user_id, body, key)

    async def _v0(self, request: Request, movie_id: str, body: Any, key: str | None) -> Response | None:
        try:
            caller = await seed_caller(request)
        except ApiProblem:
            return None  # the route says 401
        return await seed_hold_answer(self.booking, movie_id, caller.user_id, body, key)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, model: type[BaseModel], answer: _Answer, path_id: str
    ) -> None:
        """Answer with ``answer`` if the request is one the route would pass to its endpoint as it stands;
        otherwise hand it to the route, its body replayed."""
        messages, body = await _read_body(receive)
        request = Request(scope, receive)
        headers = request.headers
        key = headers.get("idempotency-key")
        content_type = headers.get("content-type")
        response: Response | None = None
        if body is not None and content_type is not None and content_type.lower() == _JSON and _key_ok(key):
            validated = decoded(model, body)
            if validated is not None:  # else the route says 422 (or 400), in its own words
                try:
                    response = await answer(request, path_id, validated, key)
                except Exception as exc:
                    handler = _handler_for(scope, exc)
                    if handler is None:
                        raise  # to the server-error handler, as from the route
                    response = await handler(request, exc)
        if response is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        await response(scope, receive, send)


# (request, the id in the path, the validated body, the Idempotency-Key) -> the answer, or None: the route's
_Answer = Callable[[Request, str, Any, str | None], Awaitable[Response | None]]


def decoded(model: type[M], body: bytes) -> M | None:
    """``body`` as the route's ``model``, validated on the raw bytes; ``None`` if it is not one. Whatever
    this takes, FastAPI's route takes too, as the same value (tests/unit/test_fast_hold_bodies.py)."""
    try:
        return model.model_validate_json(body)
    except ValidationError:
        return None


def _key_ok(key: str | None) -> bool:
    return key is None or len(key) in _KEY_LENGTH


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """Every message up to the end of the body, and the body (``None`` if the client left first)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` as if nothing had been read from it: the messages already read come first."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _handler_for(scope: Scope, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The app's handler of ``exc`` as Starlette's exception middleware finds it for a route (the nearest
    class in its MRO); ``None`` for what only the server-error handler takes (``Exception`` itself)."""
    handlers = scope["app"].exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        handler = handlers.get(cls)
        if handler is not None:
            return handler  # type: ignore[no-any-return]
    return None
