"""Bookings (``/api/v1/bookings``): list mine, view one, cancel. Another account's booking answers 404,
exactly like an unknown one; admins see and cancel any."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import CurrentCaller
from api.deps import Booking, Db
from api.problems import BOOKING, problem_responses
from api.schemas import EntityId
from persistence import catalog
from persistence.catalog import BookingInfo

router = APIRouter(prefix="/api/v1/bookings", tags=["bookings"], responses=problem_responses(*BOOKING))


class BookingOut(BaseModel):
    id: str
    show_id: str
    seats: list[str]
    amount: float
    status: str
    created_at: datetime


class BookingPage(BaseModel):
    items: list[BookingOut]
    total: int
    limit: int
    offset: int


def booking_out(b: BookingInfo) -> BookingOut:
    return BookingOut(
        id=b.id,
        show_id=b.show_id,
        seats=list(b.seat_ids),
        amount=float(b.amount),
        status=b.status,
        created_at=b.created_at,
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
async def get_booking(booking_id: EntityId, caller: CurrentCaller, booking: Booking) -> BookingOut:
    return booking_out(await booking.booking_of(caller.user_id, caller.is_admin, booking_id))


@router.post("/{booking_id}/cancel", response_model=BookingOut)
async def cancel_booking(booking_id: EntityId, caller: CurrentCaller, booking: Booking) -> BookingOut:
    """Cancel before the show starts: the seats go back on sale and the payment is refunded. Cancelling
    a cancelled booking answers it unchanged."""
    return booking_out(await booking.cancel(caller.user_id, caller.is_admin, booking_id))
