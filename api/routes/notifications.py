"""Admin routes for notifications: register and remove webhooks, list and replay dead letters.

Every route needs an admin token. The pipeline itself (``notifications/``) runs in the background of each
API process; these routes only reach its webhook registry (PostgreSQL) and its dead-letter stream (Redis).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, HttpUrl, UrlConstraints
from redis.exceptions import RedisError

from api.auth import AdminCaller
from api.problems import AUTHENTICATED, ApiProblem, problem_responses
from api.schemas import EntityId, Strict, text
from notifications import NotificationService

admin = APIRouter(prefix="/api/v1/admin", tags=["notifications"], responses=problem_responses(*AUTHENTICATED))

EventFilter = Literal[
    "booking.confirmed", "booking.cancelled", "booking.refunded", "hold.expiring", "waitlist.offered", "*"
]


def _all_events() -> list[EventFilter]:
    return ["*"]


# A Redis stream entry id: milliseconds and a sequence number, each below 2**64.
StreamId = Annotated[str, Path(pattern=r"^[0-9]{1,19}-[0-9]{1,19}$", examples=["1767225600000-0"])]
WebhookUrl = Annotated[HttpUrl, UrlConstraints(max_length=2000)]


class WebhookIn(Strict):
    url: WebhookUrl = Field(description="an http(s) URL that accepts JSON POSTs")
    events: list[EventFilter] = Field(
        default_factory=_all_events, min_length=1, max_length=5, description="event kinds to send; `*`: all"
    )
    description: Annotated[str, text(500, min_length=0)] = ""


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    created_by: str | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="signs every delivery per the Standard Webhooks specification (`webhook-id`, "
        "`webhook-timestamp`, `webhook-signature` headers; verify with a standardwebhooks library); "
        "a `whsec_` base64 secret, shown only now and kept encrypted",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class FailureOut(BaseModel):
    target: str
    attempts: int
    error: str


class DeadLetterOut(BaseModel):
    id: str = Field(description="the dead letter's id (a Redis stream id), for replay")
    outbox_id: int | None
    kind: str
    payload: dict[str, Any]
    reason: str
    failures: list[FailureOut]
    failed_at: datetime | None
    source_id: str = Field(description="the stream entry that failed")


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")
    total: int


def _service(request: Request) -> NotificationService:
    service: NotificationService | None = getattr(request.app.state, "notifications", None)
    if service is None:
        raise ApiProblem(503, "notifications are not running in this process", "notifications-unavailable")
    return service


@contextmanager
def _redis_answers() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        detail = "the notification stream (Redis) is not reachable; retry shortly"
        raise ApiProblem(503, detail, "redis-unavailable", {"Retry-After": "2"}) from exc


@admin.post("/webhooks", status_code=201, response_model=WebhookCreated)
async def register_webhook(body: WebhookIn, caller: AdminCaller, request: Request) -> WebhookCreated:
    """Register a URL for notification events. The answer carries the signing secret, this once."""
    hook = await _service(request).webhooks.register(str(body.url), body.events, body.description, caller.user_id)
    assert hook.secret is not None  # a registration always carries its new secret
    return WebhookCreated.model_validate(hook, from_attributes=True)


@admin.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(
    _: AdminCaller,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[WebhookOut]:
    """Registered webhooks, oldest first (without their secrets)."""
    return [
        WebhookOut.model_validate(h, from_attributes=True) for h in await _service(request).webhooks.page(limit, offset)
    ]


@admin.delete("/webhooks/{webhook_id}", status_code=204, responses=problem_responses(*AUTHENTICATED, 404))
async def delete_webhook(webhook_id: EntityId, _: AdminCaller, request: Request) -> None:
    """Stop sending to a webhook (deliveries already in flight may still arrive)."""
    if not await _service(request).webhooks.delete(webhook_id):
        raise ApiProblem(404, f"webhook {webhook_id} does not exist", "unknown-webhook")


@admin.get("/dead-letters", response_model=DeadLetterPage)
async def list_dead_letters(
    _: AdminCaller,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,19}-[0-9]{1,19}$", description="`next_after` of the previous page")
    ] = None,
) -> DeadLetterPage:
    """Notifications whose delivery ran out of attempts, oldest first, with the reason."""
    service = _service(request)
    with _redis_answers():
        letters, next_after = await service.dead_letters.page(limit, after)
        total = await service.dead_letters.count()
    return DeadLetterPage.model_validate(
        {"items": letters, "next_after": next_after, "total": total}, from_attributes=True
    )


@admin.post(
    "/dead-letters/{dead_letter_id}/replay",
    status_code=202,
    response_model=DeadLetterOut,
    responses=problem_responses(*AUTHENTICATED, 404),
)
async def replay_dead_letter(dead_letter_id: StreamId, _: AdminCaller, request: Request) -> DeadLetterOut:
    """Deliver a dead letter again: targets that never got it get fresh attempts; targets that did get it
    are not sent it again. The entry leaves the dead letters (it comes back if it fails again)."""
    with _redis_answers():
        letter = await _service(request).dead_letters.replay(dead_letter_id)
    if letter is None:
        raise ApiProblem(404, f"dead letter {dead_letter_id} does not exist", "unknown-dead-letter")
    return DeadLetterOut.model_validate(letter, from_attributes=True)
