"""Tickets: a booking's signed codes (``/api/v1/bookings/{id}/ticket``), the public keys that verify them
(``/.well-known/seatwise/ticket-keys``) and the admins' key rotation (``/api/v1/admin/ticket-keys/rotate``).

The codes and the keys are ``tickets``'s (see docs/tickets.md); this module only checks who may see
which booking's ticket, exactly as the booking routes do: another account's booking answers 404, like an
unknown one, and an admin sees any.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import AdminCaller, CurrentCaller
from api.deps import Bookings, Db, Tickets
from api.problems import AUTHENTICATED, ApiProblem, problem_responses
from api.schemas import EntityId
from persistence import ticket_keys
from tickets.issuer import Ticket

router = APIRouter(tags=["tickets"])

JWKS_MAX_AGE_SECONDS = 300
DEFAULT_RETIRE_AFTER_HOURS = 30 * 24  # a printed ticket keeps verifying for a month after its key stops signing


class RotatingOut(BaseModel):
    token: str = Field(description="the signed token; the code shown is `<token>~<TOTP>`")
    secret: str = Field(description="base32 TOTP secret (RFC 6238, SHA-1) of this booking")
    period: int = Field(description="seconds per TOTP step")
    digits: int


class TicketOut(BaseModel):
    code: str = Field(description="the static signed code, fit for printing")
    kind: str = "static"
    booking_id: str
    show_id: str
    seats: list[str]
    holder: str
    rotating: RotatingOut = Field(description="what the ticket page needs to show a code that changes")


class RetiringKey(BaseModel):
    kid: str
    retires_at: datetime


class RotationOut(BaseModel):
    kid: str = Field(description="the key that signs from now on")
    retiring: list[RetiringKey] = Field(description="keys that still verify until they retire")


@router.get(
    "/api/v1/bookings/{booking_id}/ticket",
    response_model=TicketOut,
    responses=problem_responses(*AUTHENTICATED, 404, 409),
)
async def booking_ticket(
    booking_id: EntityId, caller: CurrentCaller, booking: Bookings, tickets: Tickets, db: Db, response: Response
) -> TicketOut:
    """A confirmed booking's ticket: the static signed code and the rotating one's token and secret.
    409 for a cancelled booking (its codes are refused at the door)."""
    found = await booking.booking_of(caller.user_id, caller.is_admin, booking_id)
    if found.status != "confirmed":
        raise ApiProblem(409, f"booking {booking_id} is {found.status}: it admits no one", "booking-not-confirmed")
    async with db.session() as session:
        holder = await ticket_keys.holder_name(session, booking_id)
    ticket = Ticket(found.id, found.show_id, found.seat_ids, holder or "")
    rotating = await tickets.rotating(ticket)
    response.headers["Cache-Control"] = "no-store"  # it carries the booking's TOTP secret
    return TicketOut(
        code=await tickets.static_code(ticket),
        booking_id=found.id,
        show_id=found.show_id,
        seats=list(found.seat_ids),
        holder=ticket.holder,
        rotating=RotatingOut(
            token=rotating.token, secret=rotating.secret, period=rotating.period, digits=rotating.digits
        ),
    )


@router.get("/.well-known/seatwise/ticket-keys", responses={200: {"description": "a JSON Web Key Set"}})
async def ticket_keys_jwks(tickets: Tickets) -> Any:
    """The public keys that verify ticket codes (a JWKS of Ed25519 keys, RFC 8037), by ``kid``."""
    return JSONResponse(await tickets.jwks(), headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"})


@router.post(
    "/api/v1/admin/ticket-keys/rotate",
    response_model=RotationOut,
    tags=["admin"],
    responses=problem_responses(*AUTHENTICATED),
)
async def rotate_ticket_keys(
    _admin: AdminCaller,
    db: Db,
    tickets: Tickets,
    retire_after_hours: Annotated[float, Query(ge=0, le=24 * 366)] = DEFAULT_RETIRE_AFTER_HOURS,
) -> RotationOut:
    """A new key signs tickets from now on; the key that signed until now still verifies for
    `retire_after_hours` (0: at once, for a key that leaked; its printed tickets must then be reissued).
    Other API processes sign with the new key within 30 s."""
    now = datetime.now(UTC)
    async with db.session() as session:
        kid = await ticket_keys.rotate(session, now, timedelta(hours=retire_after_hours))
        retiring = await ticket_keys.retiring(session, now)
    tickets.invalidate()
    return RotationOut(kid=kid, retiring=[RetiringKey(kid=k, retires_at=at) for k, at in retiring])
