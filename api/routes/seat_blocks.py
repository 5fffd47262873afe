"""Blocked seats (``/api/v1/admin/shows/{show_id}/seats/block`` and ``…/unblock``): take seats of a show
off sale (a broken seat, a camera position, house seats) and put them back. Admin only.

Both go through the show's actor like every other seat change (``BookingService.block``), so a block is
refused with 409 for a seat that is held or booked, is durable before the answer, and reaches every live
seat map as a ``seats`` event.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import AdminCaller
from api.deps import Bookings, Db
from api.problems import AUTHENTICATED, problem_responses
from api.schemas import SeatId, ShowId, Strict
from persistence import catalog

router = APIRouter(
    prefix="/api/v1/admin/shows/{show_id}/seats", tags=["admin"], responses=problem_responses(*AUTHENTICATED, 404, 409)
)

MAX_SEATS_PER_BLOCK = 500


class SeatsIn(Strict):
    seats: list[SeatId] = Field(min_length=1, max_length=MAX_SEATS_PER_BLOCK, json_schema_extra={"uniqueItems": True})


class BlockedSeatsOut(BaseModel):
    show_id: str
    blocked: list[str] = Field(description="every seat of the show that is off sale now")


async def _blocked(db: Db, show_id: str) -> BlockedSeatsOut:
    async with db.session() as session:
        claims = await catalog.seat_claims(session, show_id)
    return BlockedSeatsOut(show_id=show_id, blocked=sorted(claims.blocked))


@router.post("/block", response_model=BlockedSeatsOut)
async def block_seats(show_id: ShowId, body: SeatsIn, _: AdminCaller, booking: Bookings, db: Db) -> BlockedSeatsOut:
    """Take seats off sale; seats already blocked stay so. All or nothing: 409 if any seat is held or
    booked (the `seats` field names them), 404 for a seat the show does not have, 409 once sales closed."""
    await booking.block(show_id, body.seats)
    return await _blocked(db, show_id)


@router.post("/unblock", response_model=BlockedSeatsOut)
async def unblock_seats(show_id: ShowId, body: SeatsIn, _: AdminCaller, booking: Bookings, db: Db) -> BlockedSeatsOut:
    """Put blocked seats back on sale; seats that were not blocked are left as they are."""
    await booking.block(show_id, body.seats, unblock=True)
    return await _blocked(db, show_id)
