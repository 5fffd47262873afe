"""Bookings (``/api/v1/bookings``): list mine, view one, cancel. Another account's booking answers 404,
exactly like an unknown one; admins see and cancel any."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from actors.commands import price_breakdown
from api.auth import CurrentCaller
from api.deps import Bookings, Db
from api.problems import BOOKING, problem_responses
from api.schemas import EntityId
from persistence import catalog
from persistence.catalog import BookingInfo

router = APIRouter(prefix="/api/v1/bookings", tags=["bookings"], responses=problem_responses(*BOOKING))


class BookingOut(BaseModel):
    id: str
    show_id: str
    seats: list[str]
    amount: float = Field(description="what was paid: the seats' price plus the convenience fee")
    price_breakdown: dict[str, float]
    status: str
    created_at: datetime
    cancel_reason: str | None = Field(None, description="`customer`, `operator` or `show_cancelled`")
    refund_amount: float | None = Field(None, description="what goes back to the payer on cancellation")


class BookingPage(BaseModel):
    items: list[BookingOut]
    total: int
    limit: int
    offset: int


def booking_out(b: BookingInfo) -> BookingOut:
    """A booking as the API tells it: its record, with ``seats`` its seat ids and ``amount`` what was paid
    (seats and fee, broken down in ``price_breakdown``)."""
    return BookingOut.model_validate(
        {**asdict(b), "seats": b.seat_ids, "amount": b.total, "price_breakdown": price_breakdown(b.amount, b.fee)}
    )


@router.get("", response_model=BookingPage)
async def my_bookings(
    caller: CurrentCaller,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> BookingPage:
    """Your bookings, newest first."""
    async with db.session() as session:
        items, total = await catalog.list_bookings(session, caller.user_id, limit, offset)
    return BookingPage(items=[booking_out(b) for b in items], total=total, limit=limit, offset=offset)


@router.get("/{booking_id}", response_model=BookingOut)
async def get_booking(booking_id: EntityId, caller: CurrentCaller, booking: Bookings) -> BookingOut:
    return booking_out(await booking.booking_of(caller.user_id, caller.is_admin, booking_id))


@router.post("/{booking_id}/cancel", response_model=BookingOut)
async def cancel_booking(booking_id: EntityId, caller: CurrentCaller, booking: Bookings) -> BookingOut:
    """Cancel up to the cancellation cut-off before the show (`BOOKING_CANCELLATION_CUTOFF_MINUTES`; 409
    after it): the seats go back on sale and the payment is refunded, less the cancellation fee
    (`BOOKING_CANCELLATION_FEE_PERCENT` of the seats' price) and the convenience fee. An admin may cancel
    any booking until the show starts, with a full refund. Cancelling a cancelled booking answers it
    unchanged."""
    return booking_out(await booking.cancel(caller.user_id, caller.is_admin, booking_id))
