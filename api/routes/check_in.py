"""The door over HTTP: scans at a gate (``POST /api/v1/shows/{id}/check-ins``, pinned), an offline gate's
sync, the manifest a gate downloads before doors open, and the admins' view of the door.

Who is admitted is decided by the show's actor (``booking/door.py``, ``actors/door.py``); this module
only checks who may ask (gate or admin accounts; a customer's token is 403) and shapes the answers. A
scanned code that is not genuine is a ``200`` with ``result: invalid``: a gate shows it to the steward, it
is not an error of the request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import AdminCaller, GateCaller
from api.deps import Db, Door, Tickets
from api.problems import AUTHENTICATED, ApiProblem, problem_responses
from api.schemas import ShowId, Strict, UtcDatetime, text
from booking.door import OfflineScan, Scan
from persistence import catalog, door
from tickets.codes import MAX_CODE_LENGTH, TOTP_DIGITS, TOTP_PERIOD_SECONDS, rotating_secret

router = APIRouter(prefix="/api/v1", tags=["check-in"], responses=problem_responses(*AUTHENTICATED, 404))

Code = Annotated[str, Field(min_length=1, max_length=MAX_CODE_LENGTH, description="the scanned code, as read")]
Gate = Annotated[str, text(50)]
MAX_SYNC_SCANS = 5000


class CheckInIn(Strict):
    code: Code
    gate: Gate = Field(description="the gate that scanned, e.g. `North 3`")
    direction: Literal["in", "out"] = Field(
        default="in", description="`out`: an exit scan, which lets the ticket back in on a show with re-entry"
    )


class CheckInOut(BaseModel):
    result: Literal["admitted", "already_admitted", "invalid", "refused", "exited"]
    reason: str = Field("", description="why a code is invalid or refused")
    booking_id: str | None = None
    seats: list[str] = Field(default_factory=list)
    holder: str | None = Field(None, description="the name the ticket was issued to")
    gate: str | None = Field(None, description="where it went in (already_admitted: the first gate)")
    at: datetime | None = Field(None, description="when it went in (already_admitted: the first time)")
    entry: int | None = Field(None, description="1 for the first entry; more after exits on a show with re-entry")
    offline: bool = Field(False, description="the admission was made by a gate without network")


def scan_out(scan: Scan) -> CheckInOut:
    return CheckInOut(
        result=scan.result,
        reason=scan.reason,
        booking_id=scan.booking_id,
        seats=list(scan.seats),
        holder=scan.holder,
        gate=scan.gate,
        at=scan.at,
        entry=scan.entry,
        offline=scan.offline,
    )


@router.post("/shows/{show_id}/check-ins", response_model=CheckInOut, responses=problem_responses(403))
async def check_in(show_id: ShowId, body: CheckInIn, _: GateCaller, door_service: Door) -> CheckInOut:
    """A ticket scanned at a gate: `admitted` exactly once, however many gates scan it at the same moment;
    `already_admitted` (when, at which gate), `invalid` (not a code this service signed for this show,
    altered, or a time-based code past its window) or `refused` (cancelled, refunded, show cancelled)."""
    return scan_out(await door_service.scan(show_id, body.code, body.gate, body.direction))


class OfflineScanIn(Strict):
    code: Code
    scanned_at: UtcDatetime


class SyncIn(Strict):
    gate: Gate
    scans: list[OfflineScanIn] = Field(max_length=MAX_SYNC_SCANS)


class SyncOut(BaseModel):
    results: list[CheckInOut] = Field(description="one per scan, in order")
    conflicts: int = Field(description="scans of tickets that were already in: reported to the admins")


@router.post("/shows/{show_id}/check-ins/sync", response_model=SyncOut, responses=problem_responses(403))
async def sync(show_id: ShowId, body: SyncIn, _: GateCaller, door_service: Door) -> SyncOut:
    """What an offline gate admitted while the network was gone, in the order it did. Each scan is decided
    as of its `scanned_at`; one whose ticket was in by then is answered `already_admitted` and recorded as
    a conflict for the admins (GET /api/v1/admin/shows/{id}/door), never dropped."""
    scans = [OfflineScan(s.code, s.scanned_at) for s in body.scans]
    results = await door_service.sync(show_id, body.gate, scans)
    return SyncOut(
        results=[scan_out(r) for r in results],
        conflicts=sum(1 for r in results if r.result == "already_admitted"),
    )


class ManifestTicket(BaseModel):
    booking_id: str
    seats: list[str]
    holder: str
    secret: str = Field(description="the booking's TOTP secret: checks a phone's rotating code offline")
    in_at: datetime | None = Field(None, description="in already, since")
    in_gate: str | None = None


class ManifestOut(BaseModel):
    show_id: str
    generated_at: datetime
    reentry: bool
    period: int = Field(description="seconds per TOTP step of rotating codes")
    digits: int
    keys: dict[str, list[dict[str, str]]] = Field(description="the public keys (JWKS) that verify ticket codes")
    tickets: list[ManifestTicket] = Field(description="every confirmed booking of the show")


@router.get("/shows/{show_id}/gate-manifest", response_model=ManifestOut, responses=problem_responses(403))
async def gate_manifest(show_id: ShowId, _: GateCaller, db: Db, issuer: Tickets) -> ManifestOut:
    """What a gate downloads before doors open to keep admitting when the network goes: the show's valid
    tickets with their TOTP secrets, who is in already, and the public keys. For gate and admin accounts."""
    async with db.session() as session:
        show = await catalog.get_show(session, show_id)
        if show is None:
            raise ApiProblem(404, f"no show {show_id}", "unknown-show")
        valid = await door.valid_tickets(session, show_id)
    master = await issuer.master()
    return ManifestOut(
        show_id=show_id,
        generated_at=datetime.now(UTC),
        reentry=show.reentry,
        period=TOTP_PERIOD_SECONDS,
        digits=TOTP_DIGITS,
        keys=await issuer.jwks(),
        tickets=[
            ManifestTicket(
                booking_id=t.booking_id,
                seats=list(t.seats),
                holder=t.holder,
                secret=rotating_secret(master, t.booking_id),
                in_at=t.admitted_at,
                in_gate=t.admitted_gate,
            )
            for t in valid
        ],
    )


class GateMinuteOut(BaseModel):
    gate: str
    minute: datetime
    entries: int


class ConflictOut(BaseModel):
    booking_id: str
    gate: str = Field(description="the offline gate that admitted it again")
    scanned_at: datetime
    first_gate: str
    first_at: datetime
    detected_at: datetime = Field(description="when the gate synced")


class DoorOut(BaseModel):
    tickets: int = Field(description="confirmed bookings")
    inside: int = Field(description="tickets in now")
    seats_inside: int
    seats_sold: int
    share_in: float = Field(description="share of the audience (places sold) inside")
    per_minute: list[GateMinuteOut] = Field(description="entries per gate and minute, last two hours")
    conflicts: list[ConflictOut] = Field(description="offline admits of tickets already in, newest first")


@router.get("/admin/shows/{show_id}/door", response_model=DoorOut, tags=["admin"], responses=problem_responses(403))
async def door_view(show_id: ShowId, _: AdminCaller, db: Db) -> DoorOut:
    """The door as the admins watch it: entries per gate per minute, the share of the audience in, and
    every conflict an offline gate reported."""
    async with db.session() as session:
        if await catalog.get_show(session, show_id) is None:
            raise ApiProblem(404, f"no show {show_id}", "unknown-show")
        report = await door.door_report(session, show_id)
    return DoorOut(
        tickets=report.tickets,
        inside=report.inside,
        seats_inside=report.seats_inside,
        seats_sold=report.seats_sold,
        share_in=round(report.share_in, 4),
        per_minute=[GateMinuteOut.model_validate(m, from_attributes=True) for m in report.per_minute],
        conflicts=[ConflictOut.model_validate(c, from_attributes=True) for c in report.conflicts],
    )
