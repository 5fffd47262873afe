"""Domain errors of the reservation core.

They cross process boundaries (a Ray actor raises or returns them, the API process maps them to HTTP), so
every class keeps the rule that makes an exception picklable: whatever ``__init__`` takes is passed on,
unchanged and in order, to ``Exception.__init__``. The mapping to HTTP status codes lives in ``api/``,
never here; the ``code`` attribute is only a stable, machine-readable name for the failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar


class BookingError(Exception):
    """Base of every refusal the domain can give. ``detail`` is safe to show to the caller. A refusal that
    always reads the same names its words in ``default_detail`` and is raised without a detail."""

    code = "booking-error"
    default_detail: ClassVar[str | None] = None

    def __init__(self, detail: str | None = None) -> None:
        if detail is None:
            if self.default_detail is None:
                raise TypeError(f"{type(self).__name__} needs a detail")
            detail = self.default_detail
        super().__init__(detail)
        self.detail = detail

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.args == getattr(other, "args", None)

    def __hash__(self) -> int:
        return hash((type(self), self.args))


class InvalidRequest(BookingError):
    """The request cannot mean anything (empty seat list, repeated seat, count out of range...)."""

    code = "invalid-request"


class UnknownCategory(InvalidRequest):
    """A best-available hold named a seat category the show does not have (a show's categories are stored
    data, so no request schema can rule this out)."""

    code = "unknown-category"

    def __init__(self, category: str) -> None:
        Exception.__init__(self, category)
        self.category = category
        self.detail = f"no seat of category {category!r} in this show"


class UnknownShow(BookingError):
    code = "unknown-show"

    def __init__(self, show_id: str) -> None:
        super().__init__(show_id)
        self.show_id = show_id
        self.detail = f"show {show_id} does not exist"


class SeatsError(BookingError):
    """A refusal about some seats: it keeps them as ``seat_ids``, and its detail lists them after ``about``."""

    about: ClassVar[str]

    def __init__(self, seat_ids: Sequence[str]) -> None:
        self.seat_ids = tuple(seat_ids)
        Exception.__init__(self, self.seat_ids)
        self.detail = f"{self.about}: {', '.join(self.seat_ids)}"


class UnknownSeats(SeatsError):
    code = "unknown-seats"
    about = "no such seat in this show"


class SeatsUnavailable(SeatsError):
    """At least one seat is held, booked or blocked by someone else; nothing was changed."""

    code = "seats-unavailable"
    about = "not available"


class NoAdjacentSeats(BookingError):
    """Best-available found no block of adjacent free seats of the wanted size and category."""

    code = "no-adjacent-seats"

    def __init__(self, count: int, category: str) -> None:
        Exception.__init__(self, count, category)
        self.count = count
        self.category = category
        self.detail = f"no {count} adjacent available seats in category {category!r}"


class NotEnoughPlaces(BookingError):
    """A standing zone (general admission) has fewer free places than asked for: all or nothing, so nothing
    was held. ``available`` is how many were free when the request was decided."""

    code = "not-enough-places"

    def __init__(self, section: str, requested: int, available: int) -> None:
        Exception.__init__(self, section, requested, available)
        self.section = section
        self.requested = requested
        self.available = available
        self.detail = f"{requested} places asked for in {section!r}, {available} free"


class UnknownSection(InvalidRequest):
    """A hold named a section the show's venue does not have."""

    code = "unknown-section"

    def __init__(self, section: str) -> None:
        Exception.__init__(self, section)
        self.section = section
        self.detail = f"no section {section!r} in this venue"


class SeatLimitExceeded(BookingError):
    code = "seat-limit-exceeded"

    def __init__(self, limit: int, already: int, requested: int) -> None:
        Exception.__init__(self, limit, already, requested)
        self.limit = limit
        self.already = already
        self.requested = requested
        self.detail = (
            f"at most {limit} seats per account for this show; you hold or own {already} and asked for {requested} more"
        )


class HoldNotFound(BookingError):
    """No live hold with that id belongs to the caller (unknown ids and other people's look the same)."""

    code = "hold-not-found"

    def __init__(self, hold_id: str) -> None:
        super().__init__(hold_id)
        self.hold_id = hold_id
        self.detail = "no such hold" if not hold_id else f"no hold {hold_id} of yours on this show"


class BookingNotFound(BookingError):
    """No booking with that id belongs to the caller (unknown ids and other people's look the same)."""

    code = "booking-not-found"

    def __init__(self, booking_id: str) -> None:
        super().__init__(booking_id)
        self.booking_id = booking_id
        self.detail = f"no booking {booking_id} of yours"


class HoldExpired(BookingError):
    code = "hold-expired"

    def __init__(self, hold_id: str) -> None:
        super().__init__(hold_id)
        self.hold_id = hold_id
        self.detail = f"hold {hold_id} has expired; its seats were released"


class ExtensionRefused(BookingError):
    """The hold was extended as often as allowed, or extending would run past the show's start."""

    code = "extension-refused"


class SalesClosed(BookingError):
    code = "sales-closed"

    def __init__(self, show_id: str) -> None:
        super().__init__(show_id)
        self.show_id = show_id
        self.detail = f"show {show_id} is not on sale"


class PaymentDeclined(BookingError):
    code = "payment-declined"


class PaymentInProgress(BookingError):
    """The hold is being paid for: it cannot be released, extended or paid for again by another payment
    until that payment ends (a retry of the same payment resumes it)."""

    code = "payment-in-progress"

    def __init__(self, hold_id: str) -> None:
        super().__init__(hold_id)
        self.hold_id = hold_id
        self.detail = f"a payment for hold {hold_id} is in progress; wait for it to finish"


class CancellationClosed(BookingError):
    """Customers may cancel only until a set time before the show."""

    code = "cancellation-closed"

    def __init__(self, cutoff: timedelta) -> None:
        Exception.__init__(self, cutoff)
        self.cutoff = cutoff
        minutes = int(cutoff.total_seconds() // 60)
        self.detail = f"bookings can be cancelled only until {minutes} minutes before the show"


class Unavailable(BookingError):
    """A dependency (database, actor, gateway) did not answer; the caller may retry later.

    ``retry_after`` is in seconds. Nothing acknowledged before is lost; the failed request itself may or
    may not have taken effect only where its own detail says so.
    """

    code = "unavailable"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        Exception.__init__(self, detail, retry_after)
        self.detail = detail
        self.retry_after = retry_after


class StaleEpoch(Unavailable):
    """This actor copy was superseded by a newer activation; its writes are refused."""

    code = "stale-epoch"

    def __init__(self, show_id: str, mine: int, current: int) -> None:
        Exception.__init__(self, show_id, mine, current)
        self.show_id = show_id
        self.mine = mine
        self.current = current
        self.detail = "the show moved to a newer actor; retry"
        self.retry_after = 1


class Moved(Unavailable):
    """This copy does not serve the show: its placement (``shows.own_actor``) says it runs elsewhere, in an
    actor of its own (``own_actor``) or in a shared host. Nothing of the batch ran and no epoch was taken;
    the API's router (``routing/show_router.py``) learns the placement and sends the batch there at once. As an
    ``Unavailable`` it is a 503 with ``Retry-After`` should it ever reach a client."""

    code = "moved"

    def __init__(self, show_id: str, own_actor: bool) -> None:
        Exception.__init__(self, show_id, own_actor)
        self.show_id = show_id
        self.own_actor = own_actor
        self.detail = "the show moved to another actor; retry"
        self.retry_after = 1
