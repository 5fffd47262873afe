"""Commands a show actor accepts, and the replies it gives.

Commands are imperative, immutable and picklable: the API process batches many of them into one actor
call, and the actor answers each with either a reply or a ``BookingError`` value (a batch never fails as a
whole because one request in it was refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from actors.door import CheckInResult
from actors.errors import BookingError
from actors.seat_map_core import Booking, BookingCancelled, Hold, Payment


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
    category: str | None
    idempotency_key: str | None = None
    request_hash: str | None = None
    section: str | None = None  # within this section; a standing zone's: ``count`` of its places


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
class BeginPayment:
    """Put the caller's live holds (or exactly ``hold_ids``) into payment-pending; replies ``Payment``.
    The payment row is committed before the reply, so the gateway is never asked for a charge that
    PostgreSQL does not know of."""

    user_id: str
    hold_ids: tuple[str, ...] | None = None
    customer_name: str | None = None  # box-office sales: kept with the payment for whoever settles it
    # The Idempotency-Key and fingerprint of the request paying: kept with the payment so that whoever
    # books it stores the booking as that request's answer.
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AbortPayment:
    """The payment took no money (declined, or the gateway never charged): its holds go back to active."""

    payment_key: str
    outcome: Literal["declined", "failed"]


@dataclass(frozen=True, slots=True)
class ConfirmHolds:
    """Turn exactly these holds into one booking, recording the payment reference and, when the request
    carried an ``Idempotency-Key``, its answer in the same transaction. ``payment_key``: the payment the
    holds are pending under (the booking then marks that payment captured)."""

    user_id: str
    hold_ids: tuple[str, ...]
    payment_key: str | None = None
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
class CancelShow:
    """Cancel the whole show (an admin): every booking cancelled with a full refund; sales end."""


@dataclass(frozen=True, slots=True)
class BlockSeats:
    seat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnblockSeats:
    seat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckIn:
    """A scanned ticket at a gate (``actors/door.py``): ``direction`` "out" is an exit scan; ``at`` is when an
    offline gate scanned it (``offline``), None for now."""

    booking_id: str
    gate: str
    direction: Literal["in", "out"] = "in"
    at: datetime | None = None
    offline: bool = False


Command = (
    HoldSeats
    | HoldBestAvailable
    | ReleaseHold
    | ExtendHold
    | PreparePayment
    | BeginPayment
    | AbortPayment
    | ConfirmHolds
    | CancelBooking
    | CancelShow
    | BlockSeats
    | UnblockSeats
    | CheckIn
)


@dataclass(frozen=True, slots=True)
class HeldHolds:
    """Reply to ``PreparePayment``."""

    holds: tuple[Hold, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """Reply to commands that return nothing (block, unblock, abort a payment)."""


@dataclass(frozen=True, slots=True)
class ShowCancellation:
    """Reply to ``CancelShow``: every booking it cancelled, with its refund."""

    cancelled: tuple[BookingCancelled, ...]


Reply = Hold | Booking | HeldHolds | Payment | BookingCancelled | ShowCancellation | CheckInResult | Done | BookingError


def hold_answer(hold: Hold) -> dict[str, object]:
    """A new hold as stored for idempotent replays; each route renders it in its own shape."""
    return {
        "hold_id": hold.hold_id,
        "seat_ids": list(hold.seat_ids),
        "amount": float(hold.amount),
        "fee": float(hold.fee),
        "total": float(hold.total),
        "created_at": hold.created_at.isoformat(),
        "expires_at": hold.expires_at.isoformat(),
        "extensions": hold.extensions,
    }


def booking_answer(booking: Booking, customer_name: str | None = None) -> dict[str, object]:
    """The pinned JSON answer to a successful payment; stored with the booking for idempotent replays.
    A box-office sale (``customer_name`` set) also names the walk-in customer and the selling account."""
    answer: dict[str, object] = {
        "status": "confirmed",
        "booking_id": booking.booking_id,
        "selected_seat": list(booking.seat_ids),
        "amount": float(booking.total),
        "price_breakdown": price_breakdown(booking.amount, booking.fee),
    }
    if customer_name is not None:
        answer |= {"customer_name": customer_name, "sold_by": booking.user_id}
    return answer


def price_breakdown(seats: Decimal, fee: Decimal) -> dict[str, float]:
    """What a customer pays: the seats' price, the convenience fee, and their total."""
    return {"seats": float(seats), "convenience_fee": float(fee), "total": float(seats + fee)}
