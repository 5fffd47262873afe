"""Commands a show actor accepts, and the replies it gives.

Commands are imperative, immutable and picklable: the API process batches many of them into one actor
call, and the actor answers each with either a reply or a ``BookingError`` value (a batch never fails as a
whole because one request in it was refused).
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.errors import BookingError
from actors.seatmap import Booking, Hold


@dataclass(frozen=True, slots=True)
class HoldSeats:
    user_id: str
    seat_ids: tuple[str, ...]
    idempotency_key: str | None = None
    request_hash: str | None = None
    cap_exempt: bool = False


@dataclass(frozen=True, slots=True)
class HoldBestAvailable:
    user_id: str
    count: int
    category: str
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class ReleaseHold:
    user_id: str
    hold_id: str


@dataclass(frozen=True, slots=True)
class ExtendHold:
    user_id: str
    hold_id: str


@dataclass(frozen=True, slots=True)
class PreparePayment:
    """Read-only: the caller's live holds on this show, which a payment would cover."""

    user_id: str


@dataclass(frozen=True, slots=True)
class ConfirmHolds:
    """Turn exactly these holds into one booking, recording the payment reference and, when the request
    carried an ``Idempotency-Key``, its answer in the same transaction."""

    user_id: str
    hold_ids: tuple[str, ...]
    payment_ref: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    customer_name: str | None = None  # set for box-office sales: the walk-in customer


@dataclass(frozen=True, slots=True)
class CancelBooking:
    """``user_id`` None: cancelled by the show's operator (an admin), not the booking's owner."""

    user_id: str | None
    booking_id: str


@dataclass(frozen=True, slots=True)
class BlockSeats:
    seat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnblockSeats:
    seat_ids: tuple[str, ...]


Command = (
    HoldSeats
    | HoldBestAvailable
    | ReleaseHold
    | ExtendHold
    | PreparePayment
    | ConfirmHolds
    | CancelBooking
    | BlockSeats
    | UnblockSeats
)


@dataclass(frozen=True, slots=True)
class HeldHolds:
    """Reply to ``PreparePayment``."""

    holds: tuple[Hold, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """Reply to commands that return nothing (block, unblock)."""


Reply = Hold | Booking | HeldHolds | Done | BookingError


def hold_answer(hold: Hold) -> dict[str, object]:
    """A new hold as stored for idempotent replays; each route renders it in its own shape."""
    return {
        "hold_id": hold.hold_id,
        "seat_ids": list(hold.seat_ids),
        "amount": float(hold.amount),
        "created_at": hold.created_at.isoformat(),
        "expires_at": hold.expires_at.isoformat(),
        "extensions": hold.extensions,
    }


def booking_answer(booking: Booking) -> dict[str, object]:
    """The pinned JSON answer to a successful payment; stored with the booking for idempotent replays."""
    return {
        "status": "confirmed",
        "booking_id": booking.booking_id,
        "selected_seat": list(booking.seat_ids),
        "amount": float(booking.amount),
    }
