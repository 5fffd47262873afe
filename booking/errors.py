"""Refusals of the booking service itself (not of a show's actor): a subclass of ``BookingError`` each.

Like ``actors.errors``, they carry a stable ``code`` and a ``detail`` safe to show; the HTTP status of each
is decided in ``api.problems`` alone. Whatever ``__init__`` takes goes on to ``Exception.__init__`` so
they stay picklable.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.errors import BookingError


class NoShowOnSale(BookingError):
    """The seed API named a movie and theater but no event, and none of their shows is on sale."""

    code = "no-show-on-sale"
    default_detail = "no show of that movie in that theater is on sale"


class IdempotencyKeyReused(BookingError):
    """The ``Idempotency-Key`` was first used with a different request."""

    code = "idempotency-key-reused"
    default_detail = "this Idempotency-Key was used with a different request"


class RequestInProgress(BookingError):
    """The first request with this ``Idempotency-Key`` has not finished yet."""

    code = "request-in-progress"
    default_detail = "a request with this Idempotency-Key is still being processed"


class InvalidSchedule(BookingError):
    """A new show's times or prices break a scheduling rule (``booking.scheduling``)."""

    code = "invalid-schedule"


class ShowInPast(InvalidSchedule):
    code = "show-in-past"
    default_detail = "starts_at must be in the future"


class SalesCloseAfterStart(InvalidSchedule):
    code = "sales-close-after-start"
    default_detail = "sales_close_at must not be after starts_at"


class SalesWindowEmpty(InvalidSchedule):
    code = "sales-window-empty"
    default_detail = "sales_open_at must be before sales close"


class MissingPrices(InvalidSchedule):
    """The screen has seat categories the show gives no price for."""

    code = "missing-prices"

    def __init__(self, categories: Sequence[str]) -> None:
        Exception.__init__(self, tuple(categories))
        self.categories = tuple(categories)
        self.detail = f"no price for seat categories: {', '.join(self.categories)}"
