"""Every error answer, in one place: RFC 9457 problem details (``application/problem+json``).

Domain refusals (``actors.errors``, ``booking.errors``, ``waiting_room.errors``) are mapped to HTTP here
and nowhere else. Validation failures are 422 (body) or 400 (malformed JSON or parameters); a path whose id is not even
shaped like one names nothing, so it is 404 like an unknown id; 405 always says what is allowed
(``Allow``, RFC 9110); a dependency that is down is 503 with ``Retry-After``; an unexpected failure is
a bare 500 whose body never carries a traceback (Ray puts remote tracebacks into exception messages, so
messages of unknown exceptions are never echoed).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from actors import errors as e
from booking import errors as b
from waiting_room import errors as w

log = logging.getLogger("booking.api")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://seatwise.dev/problems/"

STATUS_OF: dict[type[e.BookingError], int] = {
    e.InvalidRequest: 400,
    e.UnknownShow: 404,
    e.UnknownSeats: 404,
    e.HoldNotFound: 404,
    e.BookingNotFound: 404,
    e.SeatsUnavailable: 409,
    e.NoAdjacentSeats: 409,
    e.NotEnoughPlaces: 409,
    e.SeatLimitExceeded: 409,
    e.ExtensionRefused: 409,
    e.PaymentInProgress: 409,
    e.CancellationClosed: 409,
    e.SalesClosed: 409,
    e.HoldExpired: 410,
    e.PaymentDeclined: 402,
    e.Unavailable: 503,
    b.NoShowOnSale: 404,
    b.RequestInProgress: 409,
    b.IdempotencyKeyReused: 422,
    b.InvalidSchedule: 422,
    w.NoWaitingRoom: 409,
    w.NotInQueue: 404,
    w.NotAdmitted: 403,
    w.NotOnWaitingList: 404,
}

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    402: "Payment declined",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json answers a route can give (400, 422, 429 and 503 always)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in sorted({400, 422, 429, 503, *statuses}):
        entry: dict[str, Any] = {
            "description": TITLES.get(status, "Error"),
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
        }
        if status in (429, 503):
            entry["headers"] = RETRY_AFTER
        documented[status] = entry
    return documented


AUTHENTICATED = (401, 403)
BOOKING = (401, 402, 403, 404, 409, 410)


class ApiProblem(Exception):
    """An HTTP-level refusal raised by the API layer itself (auth, permissions, unknown ids)."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str = "",
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, detail, code, headers, extra)
        self.status = status
        self.detail = detail
        self.code = code or TITLES.get(status, "error").lower().replace(" ", "-")
        self.headers = headers or {}
        self.extra = extra or {}


def problem(
    status: int,
    detail: str,
    code: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **(extra or {}),
    }
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def status_of(error: e.BookingError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def booking_problem(error: e.BookingError, instance: str | None = None) -> JSONResponse:
    status = status_of(error)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(error, e.Unavailable):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, e.SeatsError):
        extra["seats"] = list(error.seat_ids)
    return problem(status, error.detail, error.code, headers, extra, instance)


def replayed_problem(status: int, answer: dict[str, Any]) -> JSONResponse:
    """The stored refusal of an idempotent request, replayed."""
    stored = answer["problem"]
    return problem(status, str(stored["detail"]), str(stored["type"]).rsplit("/", 1)[-1])


def allowed_methods(request: Request, fallback: str = "") -> str:
    """The ``Allow`` value of a 405 (RFC 9110 requires it): every method the matched path template has.

    Starlette names only the methods of the first route whose path matched, and one path often has a
    route per method (``GET`` and ``POST`` on ``/api/v1/shows/{show_id}/holds``); the OpenAPI document
    has them all, keyed by template. Routes outside the document keep Starlette's answer (``fallback``)."""
    template = getattr(request.scope.get("route"), "path_format", None)
    methods = {m.strip().upper() for m in fallback.split(",") if m.strip()}
    documented = request.app.openapi().get("paths", {}).get(template, {})
    methods |= {m.upper() for m in documented if m.upper() in HTTP_METHODS}
    return ", ".join(sorted(methods))


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


def install(app: FastAPI) -> None:
    @app.exception_handler(e.BookingError)
    async def _booking(request: Request, exc: e.BookingError) -> JSONResponse:
        return booking_problem(exc, request.url.path)

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(exc.status, exc.detail, exc.code, exc.headers, exc.extra, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": list(err.get("loc", ())),
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        in_path = [err for err in errors if err["loc"][:1] == ["path"]]
        if in_path:
            # An id of another shape names nothing, exactly like an unknown id; whatever else the request
            # got wrong, there is nothing here to apply it to.
            names = ", ".join(str(err["loc"][1]) for err in in_path if len(err["loc"]) > 1)
            return problem(404, f"nothing is found at this path ({names})", "not-found", instance=request.url.path)
        malformed = any(err["type"] in {"json_invalid", "model_attributes_type"} for err in errors) or any(
            err["loc"][:1] == ["body"] and err["type"] == "model_type" for err in errors
        )
        status, code = (400, "malformed-request") if malformed else (422, "validation-failed")
        detail = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in errors[:5])
        return problem(status, detail, code, extra={"errors": errors}, instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.pop("Allow", ""))
        return problem(
            exc.status_code,
            str(exc.detail),
            TITLES.get(exc.status_code, "error").lower().replace(" ", "-"),
            headers,
            instance=request.url.path,
        )

    @app.exception_handler(SQLAlchemyTimeout)
    @app.exception_handler(OperationalError)
    @app.exception_handler(psycopg.OperationalError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return problem(
            503,
            "the booking database is not reachable; retry shortly",
            "database-unavailable",
            {"Retry-After": "2"},
        )

    @app.exception_handler(DataError)
    @app.exception_handler(psycopg.DataError)
    async def _bad_value(request: Request, exc: Exception) -> JSONResponse:
        return problem(400, "a value in the request cannot be stored", "bad-value", instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it has been logged", "internal-error")
