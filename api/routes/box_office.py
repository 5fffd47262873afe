"""The box-office desk (``/api/v1/box-office``): sell seats to a walk-in customer in one request.

Needs a box-office (or admin) account. The sale is held without the per-account seat cap (one desk sells
to many people), paid, and booked in the desk's account with the customer's name and the selling
account recorded on the booking.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import BoxOfficeCaller
from api.deps import Bookings
from api.problems import BOOKING, problem_responses
from api.schemas import (
    BOOKING_LINKS,
    IdempotencyKey,
    PaymentInfo,
    SeatList,
    ShowId,
    Strict,
    answered,
    links,
    text,
)

router = APIRouter(prefix="/api/v1/box-office", tags=["box office"], responses=problem_responses(*BOOKING))


class SaleIn(Strict):
    seats: SeatList
    customer_name: Annotated[str, text(200)]
    payment_info: PaymentInfo


class SaleOut(BaseModel):
    status: str
    booking_id: str
    selected_seat: list[str]
    amount: float
    customer_name: str | None = None
    sold_by: str | None = None


@router.post(
    "/shows/{show_id}/sales",
    status_code=201,
    response_model=SaleOut,
    responses=links(201, **BOOKING_LINKS),
)
async def sell(
    show_id: ShowId, body: SaleIn, seller: BoxOfficeCaller, booking: Bookings, idempotency_key: IdempotencyKey = None
) -> Any:
    """Hold, charge and book in one step. 409 if a seat is not available (nothing is sold), 402 if the
    card is declined (the seats are released at once)."""
    answer = await booking.box_office_sale(
        seller.user_id, show_id, tuple(body.seats), body.customer_name, body.payment_info.digits, idempotency_key
    )
    return answered(answer)
