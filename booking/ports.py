"""What the booking service needs from the world, as protocols: the production adapters are
``routing.show_router.ShowActors``, ``seat_views.reader.SeatMapReader``, ``booking.records.SqlRecords`` and
``payments.reconciler.Reconciler`` and ``waiting_room.service.WaitingRooms``; unit tests pass fakes
(``tests/unit/booking_fakes.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from actors.commands import Command, Reply
from persistence.catalog import BookingInfo, ScreenInfo, ShowInfo
from persistence.idempotency import ClaimResult


class ShowActors(Protocol):
    async def submit(self, show_id: str, command: Command) -> Reply:
        """Run ``command`` on the show's actor; refusals come back as ``BookingError`` values."""
        ...


class SeatMaps(Protocol):
    async def layout(self, show_id: str) -> tuple[ShowInfo, ScreenInfo]:
        """The show and its screen (``UnknownShow`` if there is no such show)."""
        ...

    def forget(self, show_id: str) -> None:
        """Drop what is cached about the show (its status changed)."""
        ...


class Admission(Protocol):
    async def check_admitted(self, show_id: str, user_id: str) -> None:
        """Nothing if the account may hold seats of the show now (it has no waiting room, or its room has
        admitted the account); ``NotAdmitted`` otherwise."""
        ...


class NoWaitingRooms:
    """Every account may hold: the admission of a service without waiting rooms (and of unit tests)."""

    async def check_admitted(self, show_id: str, user_id: str) -> None:
        return None


class RefundReport(Protocol):
    @property
    def errors(self) -> Sequence[str]: ...


class Refunds(Protocol):
    async def settle_refunds(self, payment_ids: Sequence[str] | None = None) -> RefundReport:
        """Refund the named payments now where the gateway allows; the rest are retried later."""
        ...


class Records(Protocol):
    """The stored rows the service reads and writes itself (the actors write everything else)."""

    async def claim_key(self, user_id: str, key: str, fingerprint: str, ttl: timedelta) -> ClaimResult: ...

    async def finish_key(self, user_id: str, key: str, status: int, response: dict[str, Any]) -> None: ...

    async def forget_key(self, user_id: str, key: str) -> None: ...

    async def earliest_on_sale(self, movie_id: str, theater_id: str, after: datetime) -> ShowInfo | None: ...

    async def latest_hold_status(self, show_id: str, user_id: str) -> str | None: ...

    async def booking_paid_by(self, payment_key: str) -> BookingInfo | None:
        """The booking the payment ended in, if it did."""
        ...

    async def owe_refund(self, payment_key: str, charge_id: str, amount: Decimal, detail: str) -> None: ...

    async def get_booking(self, booking_id: str) -> BookingInfo | None: ...

    async def get_show(self, show_id: str) -> ShowInfo | None: ...

    async def refunds_owed(self, booking_ids: Sequence[str]) -> list[str]:
        """Payments of these bookings that still have money to give back."""
        ...
