"""The venue's door for one show: who is in, decided once, by the show's single writer.

A ticket (one booking: all its seats, one holder) is admitted once. Two gates scanning it at the same moment
both reach the show's actor, which runs their check-ins one after the other against this state: the first
is ``admitted``, the second ``already_admitted`` (with when and where the first went in). The admission is
committed to PostgreSQL (``admissions``, keyed by booking and entry) before either gate gets its answer,
like every other change of the show. A booking the show no longer has (cancelled or refunded) is
``refused``: only a confirmed booking's ticket was ever signed, so a valid code without its booking is
one that was taken back.

Re-entry (a per-show setting, off by default): after an exit scan the next scan admits again, as entry
2, 3…; without it an exit changes nothing and the ticket stays spent. Offline gates admit on their own and
sync later (``offline``): if the ticket was already in by then, the sync is answered ``already_admitted``
and an ``EntryConflict`` is recorded for the admins.

Pure like the seat map (``actors/seat_map_core.py``): time from an injected clock, events appended to
``pending_events`` for the actor to commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from actors.seat_map_core import Admission, Admitted, Booking, Clock, EntryConflict, Event, Exited

Outcome = Literal["admitted", "already_admitted", "refused", "exited"]


@dataclass(frozen=True, slots=True)
class CheckInResult:
    """The door's answer: ``admission`` is the new entry (admitted), the one already in (already_admitted),
    the one that just left (exited), or the latest one if any (refused: ``reason`` says why)."""

    outcome: Outcome
    booking: Booking | None
    admission: Admission | None = None
    reason: str = ""


class Door:
    def __init__(
        self,
        booking_of: Callable[[str], Booking | None],
        clock: Clock,
        reentry: bool = False,
        admissions: Iterable[Admission] = (),
    ) -> None:
        self._booking_of = booking_of
        self._clock = clock
        self.reentry = reentry
        self._last: dict[str, Admission] = {}  # booking -> its latest entry
        for admission in sorted(admissions, key=lambda a: a.entry):
            self._last[admission.booking_id] = admission
        self.pending_events: list[Event] = []

    def check_in(
        self, booking_id: str, gate: str, *, at: datetime | None = None, offline: bool = False
    ) -> CheckInResult:
        """Admit the booking's holder, unless the ticket is in already (or taken back). ``at``: when an
        offline gate scanned it (default: now)."""
        booking = self._booking_of(booking_id)
        if booking is None:
            return CheckInResult("refused", None, reason="the booking was cancelled or refunded")
        when = at or self._clock()
        last = self._last.get(booking_id)
        if last is not None and (not self.reentry or last.exited_at is None):
            if offline:
                self.pending_events.append(EntryConflict(booking_id, gate, when, last))
            return CheckInResult("already_admitted", booking, last)
        admission = Admission(booking_id, 1 if last is None else last.entry + 1, gate, when, offline)
        self._last[booking_id] = admission
        self.pending_events.append(Admitted(admission))
        return CheckInResult("admitted", booking, admission)

    def check_out(self, booking_id: str, gate: str) -> CheckInResult:
        """An exit scan: with re-entry, the holder may come back in; without it, the ticket stays spent and
        nothing changes (``refused``)."""
        booking = self._booking_of(booking_id)
        last = self._last.get(booking_id)
        if booking is None or last is None or last.exited_at is not None:
            return CheckInResult("refused", booking, last, reason="the ticket is not in")
        if not self.reentry:
            return CheckInResult("refused", booking, last, reason="re-entry is not allowed for this show")
        exited = replace(last, exited_at=self._clock(), exit_gate=gate)
        self._last[booking_id] = exited
        self.pending_events.append(Exited(exited))
        return CheckInResult("exited", booking, exited)

    def inside(self) -> int:
        """Tickets in right now."""
        return sum(1 for a in self._last.values() if a.exited_at is None)

    def places_inside(self) -> int:
        """Places (seats, standing places) of the tickets in right now, of bookings still confirmed."""
        bookings = (self._booking_of(a.booking_id) for a in self._last.values() if a.exited_at is None)
        return sum(len(b.seat_ids) for b in bookings if b is not None)

    def drain_events(self) -> list[Event]:
        events, self.pending_events = self.pending_events, []
        return events
