"""Check-in at the door, free of HTTP: a scanned code is verified here (signature, show, time-based part),
and a genuine ticket goes to the show's actor, which alone decides whether it is admitted
(``actors/door.py``) and commits that before anyone is answered. An offline gate's scans come in as a
batch when it syncs; each is decided the same way, at the moment it was scanned, and a ticket that was in
already by then is a conflict the actor records for the admins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from actors.commands import CheckIn
from actors.door import CheckInResult
from actors.errors import BookingError
from booking.ports import SeatMaps, ShowActors
from persistence.catalog import ShowInfo
from tickets.codes import Invalid, TicketClaims

Result = Literal["admitted", "already_admitted", "invalid", "refused", "exited"]
# How far back an offline gate's scan may be dated, and how far ahead of the server's clock.
OFFLINE_HORIZON = timedelta(days=2)
CLOCK_SKEW = timedelta(minutes=2)


class TicketVerifier(Protocol):
    async def verify(self, code: str, show_id: str, now: datetime) -> TicketClaims | Invalid:
        """The ticket ``code`` names if it is genuine for ``show_id`` at ``now``; else ``Invalid``."""
        ...


@dataclass(frozen=True, slots=True)
class Scan:
    """The door's answer to one scan. ``gate`` and ``at`` are the admission's: the new one (admitted), or
    the one already in (already_admitted: where and when it went in). ``reason`` explains invalid and
    refused."""

    result: Result
    reason: str = ""
    booking_id: str | None = None
    seats: tuple[str, ...] = ()
    holder: str | None = None
    gate: str | None = None
    at: datetime | None = None
    entry: int | None = None
    offline: bool = False


@dataclass(frozen=True, slots=True)
class OfflineScan:
    code: str
    scanned_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DoorService:
    def __init__(
        self,
        actors: ShowActors,
        seatmaps: SeatMaps,
        verifier: TicketVerifier,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.actors = actors
        self.seatmaps = seatmaps
        self.verifier = verifier
        self.clock = clock

    async def scan(self, show_id: str, code: str, gate: str, direction: Literal["in", "out"] = "in") -> Scan:
        """A gate with network scanned ``code`` just now. ``UnknownShow`` if there is no such show."""
        show, _ = await self.seatmaps.layout(show_id)
        return await self._decide(show, code, gate, direction, self.clock(), offline=False)

    async def sync(self, show_id: str, gate: str, scans: Sequence[OfflineScan]) -> list[Scan]:
        """An offline gate's admits, in the order it made them; each decided at its scan time."""
        show, _ = await self.seatmaps.layout(show_id)
        now = self.clock()
        results = []
        for scan in scans:
            if not now - OFFLINE_HORIZON <= scan.scanned_at <= now + CLOCK_SKEW:
                results.append(Scan("invalid", "scanned_at is not a plausible time for an offline scan"))
                continue
            results.append(await self._decide(show, scan.code, gate, "in", scan.scanned_at, offline=True))
        return results

    async def _decide(
        self, show: ShowInfo, code: str, gate: str, direction: Literal["in", "out"], at: datetime, *, offline: bool
    ) -> Scan:
        show_id = show.id
        claims = await self.verifier.verify(code, show_id, at)
        if isinstance(claims, Invalid):
            return Scan("invalid", claims.reason)
        ticket = Scan("refused", booking_id=claims.booking_id, seats=claims.seats, holder=claims.holder)
        if show.status == "cancelled":
            return replace(ticket, reason="the show was cancelled")
        reply = await self.actors.submit(
            show_id, CheckIn(claims.booking_id, gate, direction, at if offline else None, offline)
        )
        if isinstance(reply, BookingError):
            raise reply
        assert isinstance(reply, CheckInResult)
        admission = reply.admission
        if admission is None or reply.outcome == "refused":
            return replace(ticket, reason=reply.reason)
        exited = reply.outcome == "exited"
        return replace(
            ticket,
            result=reply.outcome,
            gate=admission.exit_gate if exited else admission.gate,
            at=admission.exited_at if exited else admission.at,
            entry=admission.entry,
            offline=admission.offline,
        )
