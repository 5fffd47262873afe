"""The rules a new show must meet before it is stored: it starts in the future, its sales window is not
empty and closes no later than the show starts (by default ``cutoff`` before it), and every seat category
of its screen has a price. Pure functions over plain values; the admin route calls them and stores the
show. Refusals are ``booking.errors.InvalidSchedule`` (422 in ``api.problems``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from booking.errors import MissingPrices, SalesCloseAfterStart, SalesWindowEmpty, ShowInPast


def sales_close(
    starts_at: datetime,
    sales_open_at: datetime | None,
    sales_close_at: datetime | None,
    cutoff: timedelta,
    now: datetime,
) -> datetime | None:
    """When sales of a new show close: as asked, else ``cutoff`` before the start (``None``: at the start,
    for a zero cutoff). Checked in this order: the start, the close, the window."""
    if starts_at <= now:
        raise ShowInPast()
    close = sales_close_at
    if close is None and cutoff:
        close = starts_at - cutoff
    if close is not None and close > starts_at:
        raise SalesCloseAfterStart()
    if sales_open_at is not None and close is not None and sales_open_at >= close:
        raise SalesWindowEmpty()
    return close


def check_prices(categories: Iterable[str], prices: Mapping[str, object]) -> None:
    """Every seat category of the screen has a price (extra prices are allowed)."""
    missing = sorted(set(categories) - prices.keys())
    if missing:
        raise MissingPrices(missing)
