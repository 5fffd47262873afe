"""The seat-change protocol: what a show actor publishes after each commit, and how it is read back.

Pure (no I/O, no clock of its own), shared by the actor's publisher and the API's live stream.

A ``SeatSequencer`` lives next to one copy of a show actor. Every committed batch of events becomes one
``Delta``: the final state of each seat the batch touched, and what happened to each hold, under a new
sequence number ``seq``. A seat's ``version`` is the ``seq`` of the last delta that changed it, so versions
only grow. Numbers stay monotonic across actor restarts because each activation of a show takes a new,
larger epoch from PostgreSQL and the sequence restarts at ``epoch * SEQ_PER_EPOCH`` with a ``Reset`` (a
full snapshot) that every reader re-syncs from. Each message also names the ``prev`` sequence number, so
a reader can tell a continuous run of messages from one with a hole (a lost publish, a trimmed log).

Owner and hold ids travel inside these messages (Redis is internal), and ``public_changes`` strips them:
only the owner of a hold may ever see its id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from actors.seat_map_core import (
    BookingCancelled,
    BookingConfirmed,
    Event,
    Hold,
    HoldExtended,
    HoldReleased,
    PaymentAborted,
    PaymentStarted,
    SeatsBlocked,
    SeatsHeld,
    SeatStatus,
    SeatsUnblocked,
)

SEQ_PER_EPOCH = 10**9
HoldStatus = Literal["active", "released", "expired", "closed", "confirmed"]
RELEASE_STATUS: dict[str, HoldStatus] = {"released": "released", "expired": "expired", "sales_closed": "closed"}


@dataclass(frozen=True, slots=True)
class SeatChange:
    """A seat's state after a committed batch. ``hold_id`` and ``owner`` are set for held seats and
    ``owner`` for booked ones; ``expires_at`` (epoch seconds) for held seats."""

    seat_id: str
    status: SeatStatus
    version: int
    expires_at: float | None = None
    hold_id: str | None = None
    owner: str | None = None

    def public(self) -> dict[str, Any]:
        """What any client may see: never the owner or the hold."""
        return {"seat": self.seat_id, "status": self.status.value, "version": self.version}


@dataclass(frozen=True, slots=True)
class HoldChange:
    """What happened to one hold in a batch: ``active`` (new or extended, with its ``expires_at``) or how it
    ended. ``seat_ids`` is empty when the batch does not tell (a confirmation names the booking's seats)."""

    hold_id: str
    owner: str
    seat_ids: tuple[str, ...]
    status: HoldStatus
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    epoch: int
    seq: int
    prev: int
    changes: tuple[SeatChange, ...]
    holds: tuple[HoldChange, ...] = ()
    at: float = 0.0

    def public_changes(self) -> list[dict[str, Any]]:
        return [change.public() for change in self.changes]

    def public_json(self, show_id: str) -> str:
        """The delta as any client may see it: seats, statuses and versions; no owner, no hold."""
        return _compact_json(
            {"show_id": show_id, "seq": self.seq, "epoch": self.epoch, "changes": self.public_changes()}
        )

    def to_json(self) -> str:
        return _message_json(
            "delta",
            self.epoch,
            self.seq,
            self.prev,
            self.at,
            seats=[[c.seat_id, c.status.value, c.version, c.expires_at, c.hold_id, c.owner] for c in self.changes],
            holds=[[h.hold_id, h.owner, list(h.seat_ids), h.status, h.expires_at] for h in self.holds],
        )


@dataclass(frozen=True, slots=True)
class Reset:
    """A full seat map that starts a new run of sequence numbers (a new activation of the show's actor).
    ``snapshot`` is the actor's snapshot: ``held`` (seat -> expires_at), ``booked``, ``blocked``."""

    epoch: int
    seq: int
    prev: int
    snapshot: Mapping[str, Any] = field(default_factory=dict)
    at: float = 0.0

    def to_json(self) -> str:
        return _message_json("reset", self.epoch, self.seq, self.prev, self.at, snapshot=dict(self.snapshot))


Message = Delta | Reset


def _compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _message_json(kind: str, epoch: int, seq: int, prev: int, at: float, **body: object) -> str:
    """A message as published: its type and place in the sequence (what ``parse_message`` reads first),
    then its body."""
    return _compact_json({"type": kind, "epoch": epoch, "seq": seq, "prev": prev, "at": at, **body})


def parse_message(raw: str | bytes) -> Message:
    """Decode a message published by ``Delta.to_json`` / ``Reset.to_json``; ``ValueError`` if malformed."""
    try:
        data = json.loads(raw)
        kind = data["type"]
        epoch, seq, prev, at = int(data["epoch"]), int(data["seq"]), int(data["prev"]), float(data["at"])
        if kind == "reset":
            return Reset(epoch, seq, prev, dict(data["snapshot"]), at)
        if kind == "delta":
            changes = tuple(
                SeatChange(str(s), SeatStatus(st), int(v), None if e is None else float(e), h, o)
                for s, st, v, e, h, o in data["seats"]
            )
            holds = tuple(
                HoldChange(str(h), str(o), tuple(map(str, seats)), _hold_status(st), None if e is None else float(e))
                for h, o, seats, st, e in data["holds"]
            )
            return Delta(epoch, seq, prev, changes, holds, at)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a seat-change message: {exc!r}") from exc
    raise ValueError(f"unknown seat-change message type {kind!r}")


def _hold_status(value: str) -> HoldStatus:
    for status in ("active", "released", "expired", "closed", "confirmed"):
        if value == status:
            return status
    raise ValueError(f"unknown hold status {value!r}")


@dataclass(frozen=True, slots=True)
class _SeatState:
    status: SeatStatus
    expires_at: float | None = None
    hold_id: str | None = None
    owner: str | None = None


def seat_changes(events: Iterable[Event]) -> tuple[dict[str, _SeatState], list[HoldChange]]:
    """The final state of every seat the events touch (later events win), and each hold's fate in order
    (a hold named twice keeps its last fate, with the seats an earlier event named if the last does not)."""
    seats: dict[str, _SeatState] = {}
    holds: dict[str, HoldChange] = {}

    def hold_change(change: HoldChange) -> None:
        earlier = holds.pop(change.hold_id, None)
        if earlier is not None and not change.seat_ids:
            change = HoldChange(change.hold_id, change.owner, earlier.seat_ids, change.status, change.expires_at)
        holds[change.hold_id] = change

    def held(hold: Hold) -> None:
        """The hold is active (new, extended, or its expiry moved by a payment)."""
        expires = hold.expires_at.timestamp()
        for seat in hold.seat_ids:
            seats[seat] = _SeatState(SeatStatus.HELD, expires, hold.hold_id, hold.user_id)
        hold_change(HoldChange(hold.hold_id, hold.user_id, hold.seat_ids, "active", expires))

    for event in events:
        match event:
            case SeatsHeld(hold=hold) | HoldExtended(hold=hold):
                held(hold)
            case PaymentStarted(payment=payment):
                for hold in payment.holds:
                    held(hold)
            case PaymentAborted(holds=aborted):
                for hold in aborted:
                    held(hold)
            case HoldReleased(hold=hold, reason=reason):
                # A released hold still owned its seats (a seat is re-held only after its expired hold
                # was released, and that later event then wins).
                for seat in hold.seat_ids:
                    seats[seat] = _SeatState(SeatStatus.AVAILABLE)
                hold_change(HoldChange(hold.hold_id, hold.user_id, hold.seat_ids, RELEASE_STATUS[reason]))
            case BookingConfirmed(booking=booking):
                for seat in booking.seat_ids:
                    seats[seat] = _SeatState(SeatStatus.BOOKED, owner=booking.user_id)
                for hold_id in booking.hold_ids:
                    hold_change(HoldChange(hold_id, booking.user_id, (), "confirmed"))
            case BookingCancelled(booking=booking):
                for seat in booking.seat_ids:
                    seats[seat] = _SeatState(SeatStatus.AVAILABLE)
            case SeatsBlocked(seat_ids=seat_ids):
                for seat in seat_ids:
                    seats[seat] = _SeatState(SeatStatus.BLOCKED)
            case SeatsUnblocked(seat_ids=seat_ids):
                for seat in seat_ids:
                    seats[seat] = _SeatState(SeatStatus.AVAILABLE)
    return seats, list(holds.values())


class SeatSequencer:
    """Numbers one actor copy's committed batches. Knows no epoch until the first ``reset``; until then
    ``delta`` returns None and the caller must publish a reset (a snapshot covers those batches)."""

    def __init__(self) -> None:
        self.epoch: int | None = None
        self.seq = 0
        self.base = 0
        self.versions: dict[str, int] = {}

    def reset(self, epoch: int, snapshot: Mapping[str, Any], at: float = 0.0) -> Reset:
        """Start the run of a (new) epoch from a full snapshot. The new ``seq`` is above every earlier one."""
        prev = self.seq
        self.epoch = epoch
        self.seq = self.base = max(epoch * SEQ_PER_EPOCH, self.seq + 1)
        self.versions = {}
        return Reset(epoch, self.seq, prev, snapshot, at)

    def delta(self, events: Sequence[Event], at: float = 0.0) -> Delta | None:
        """The next delta for a committed batch; O(events). None before the first reset or if nothing
        changed."""
        if self.epoch is None:
            return None
        seats, holds = seat_changes(events)
        if not seats and not holds:
            return None
        prev = self.seq
        self.seq += 1
        seq = self.seq
        changes = tuple(
            SeatChange(seat, state.status, seq, state.expires_at, state.hold_id, state.owner)
            for seat, state in seats.items()
        )
        for seat in seats:
            self.versions[seat] = seq
        return Delta(self.epoch, seq, prev, changes, tuple(holds), at)

    def version_of(self, seat_id: str) -> int:
        return self.versions.get(seat_id, self.base)


def is_continuation(message: Message, last_seq: int) -> bool:
    """Whether a reader whose state is as of ``last_seq`` may apply ``message`` next: a reset always, a
    delta only if it directly follows."""
    return isinstance(message, Reset) or message.prev == last_seq


def follows_on(messages: Iterable[Message], last_seq: int) -> bool:
    """Whether a reader whose state is as of ``last_seq`` may apply all of ``messages``, in order: each
    is a continuation of the one before it (``is_continuation``), so the run has no hole."""
    last = last_seq
    for message in messages:
        if not is_continuation(message, last):
            return False
        last = message.seq
    return True


COUNTDOWN_TOLERANCE = 0.05  # timers fire a little late or early; a tick this close to a second counts as it


def countdown_seconds(seconds_left: float) -> int:
    """The whole seconds a countdown shows (rounded up, so "1 s left" lasts until the end)."""
    return max(0, math.ceil(seconds_left - COUNTDOWN_TOLERANCE))


def next_countdown(seconds_left: float) -> float:
    """Delay until the next countdown tick of a hold: every 10 s while more than a minute is left (landing
    exactly on the minute), then on each whole second; 0 once it has expired."""
    if seconds_left <= COUNTDOWN_TOLERANCE:
        return 0.0
    if seconds_left > 60 + COUNTDOWN_TOLERANCE:
        return min(10.0, seconds_left - 60)
    target = countdown_seconds(seconds_left) - 1
    return max(0.0, seconds_left - target)
