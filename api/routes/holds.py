"""Holds on a show (``/api/v1/shows/{show_id}/holds``): create by seat list or best-available, list mine,
extend, release, pay. Every route acts only on the caller's own holds; another account's hold id answers
404, exactly like an unknown one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from actors.seat_map_core import Hold
from api.auth import CurrentCaller
from api.deps import Bookings, booking_of
from api.problems import BOOKING, problem_responses, replayed_problem
from api.schemas import (
    BOOKING_LINKS,
    HOLD_LINK,
    MAX_SEATS_PER_REQUEST,
    NOT_NULL,
    PER_REQUEST_CAP,
    WHOLE,
    Category,
    EntityId,
    IdempotencyKey,
    PaymentInfo,
    SeatList,
    SectionCode,
    ShowId,
    Strict,
    answered,
    links,
    model_response,
)
from booking.service import BookingService, HoldSpec, PaymentRequest

router = APIRouter(prefix="/api/v1/shows/{show_id}/holds", tags=["holds"], responses=problem_responses(*BOOKING))


class HoldIn(Strict):
    """Either `seats`, or `count` for the best available adjacent seats: of `category`, or in `section`
    (of any of its categories unless `category` is given). In a standing zone's `section`, `count` places
    of the zone, all or none."""

    # Exactly one of the two (oneOf); neither may be null (leave it out instead).
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["seats"], "not": {"anyOf": [{"required": ["section"]}, {"required": ["count"]}]}},
                {"required": ["count"], "not": {"required": ["seats"]}},
            ]
        }
    )

    seats: Annotated[SeatList | SkipJsonSchema[None], NOT_NULL] = None
    count: Annotated[
        Annotated[int, Field(ge=1, le=MAX_SEATS_PER_REQUEST, json_schema_extra={PER_REQUEST_CAP: "maximum"}), WHOLE]
        | SkipJsonSchema[None],
        NOT_NULL,
    ] = None
    category: Category = "standard"
    section: Annotated[SectionCode | SkipJsonSchema[None], NOT_NULL] = None

    @model_validator(mode="after")
    def _one_way(self) -> HoldIn:
        if (self.seats is None) == (self.count is None):
            raise ValueError("give either `seats` or `count`")
        if self.section is not None and self.seats is not None:
            raise ValueError("`section` goes with `count`, not with `seats`")
        return self


class HoldOut(BaseModel):
    id: str
    show_id: str
    seats: list[str]
    amount: float = Field(description="the seats' price")
    fee: float = Field(0.0, description="the convenience fee (per ticket, summed)")
    total: float = Field(description="what paying for this hold charges: amount + fee")
    created_at: datetime
    expires_at: datetime
    extensions: int


class PayIn(Strict):
    payment_info: PaymentInfo


def hold_out(show_id: str, hold: Hold) -> HoldOut:
    return HoldOut(
        id=hold.hold_id,
        show_id=show_id,
        seats=list(hold.seat_ids),
        amount=float(hold.amount),
        fee=float(hold.fee),
        total=float(hold.total),
        created_at=hold.created_at,
        expires_at=hold.expires_at,
        extensions=hold.extensions,
    )


@router.post(
    "",
    status_code=201,
    response_model=HoldOut,
    responses=links(
        201,
        PayHolds=("pay_holds_api_v1_shows__show_id__holds_pay_post", {"show_id": "$request.path.show_id"}),
        ExtendHold=("extend_hold_api_v1_shows__show_id__holds__hold_id__extend_post", HOLD_LINK),
        ReleaseHold=("release_hold_api_v1_shows__show_id__holds__hold_id__delete", HOLD_LINK),
    ),
)
async def create_hold(
    show_id: ShowId, body: HoldIn, caller: CurrentCaller, request: Request, idempotency_key: IdempotencyKey = None
) -> Any:
    """All or nothing: 409 if any seat is not available to you, and then nothing is held. With an
    `Idempotency-Key`, a repeated request returns the first answer and holds nothing more."""
    # Not a dependency: the hot path (api/deps.py).
    return await hold_answer(booking_of(request), show_id, caller.user_id, body, idempotency_key)


async def hold_answer(
    booking: BookingService, show_id: str, user_id: str, body: HoldIn, idempotency_key: str | None
) -> Response:
    """The answer to a validated hold request: the route's, and the fast path's (api/fast_holds.py)."""
    spec = (
        HoldSpec(seat_ids=tuple(body.seats))
        if body.seats is not None
        else HoldSpec(
            count=body.count or 0,
            # In a section, `category` narrows the choice only when the caller gave one.
            category=body.category if body.section is None or "category" in body.model_fields_set else None,
            section=body.section,
        )
    )
    answer = await booking.hold_request(show_id, user_id, spec, idempotency_key)
    if answer.problem_status is not None:
        return replayed_problem(answer.problem_status, answer.body)
    hold = answer.body
    return model_response(
        HoldOut(
            id=hold["hold_id"],
            show_id=show_id,
            seats=hold["seat_ids"],
            amount=hold["amount"],
            fee=hold.get("fee", 0.0),
            total=hold.get("total", hold["amount"]),
            created_at=hold["created_at"],
            expires_at=hold["expires_at"],
            extensions=hold["extensions"],
        ),
        201,
    )


@router.get("", response_model=list[HoldOut])
async def my_holds(show_id: ShowId, caller: CurrentCaller, booking: Bookings) -> list[HoldOut]:
    """Your live holds on this show."""
    return [hold_out(show_id, h) for h in await booking.live_holds(show_id, caller.user_id)]


# Before the `/{hold_id}` routes: Starlette answers a wrong method with the first route whose path
# matches, and `/pay` must say `Allow: POST`, not the hold routes' methods.
@router.post(
    "/pay",
    responses={
        402: {"description": "declined; your holds stay yours until they expire"},
        **links(200, **BOOKING_LINKS),
    },
)
async def pay_holds(
    show_id: ShowId,
    body: PayIn,
    caller: CurrentCaller,
    booking: Bookings,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Pay for all your live holds on this show as one booking (same rules as the seed SubmitPayment).

    The holds go into payment-pending first: they cannot expire mid-payment (a bounded window) and end
    either booked, or back in your hands with nothing charged (402), or released with any charge refunded.
    If the payment service cannot be reached the answer is 503 with `Retry-After` and the holds stay
    yours: retry (the same `Idempotency-Key` is safe), and the gateway is never charged twice for them."""
    answer = await booking.pay(caller.user_id, PaymentRequest.of(show_id, body.payment_info.digits, idempotency_key))
    return answered(answer)


@router.post("/{hold_id}/extend", response_model=HoldOut)
async def extend_hold(show_id: ShowId, hold_id: EntityId, caller: CurrentCaller, booking: Bookings) -> HoldOut:
    """Extend by the show's hold length: at most twice, never past the end of sales; 409 while the hold
    is being paid for."""
    return hold_out(show_id, await booking.extend(show_id, caller.user_id, hold_id))


@router.delete("/{hold_id}", status_code=204)
async def release_hold(show_id: ShowId, hold_id: EntityId, caller: CurrentCaller, booking: Bookings) -> None:
    """Give the seats back at once; 409 while the hold is being paid for."""
    await booking.release(show_id, caller.user_id, hold_id)
