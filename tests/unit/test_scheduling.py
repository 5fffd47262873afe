"""``booking.scheduling``: the rules a new show meets before it is stored, at their boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from booking.errors import MissingPrices, SalesCloseAfterStart, SalesWindowEmpty, ShowInPast
from booking.scheduling import check_prices, sales_close

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
START = NOW + timedelta(days=2)
NO_CUTOFF = timedelta(0)
CUTOFF = timedelta(minutes=30)


@pytest.mark.parametrize("starts_at", [NOW, NOW - timedelta(seconds=1)])
def test_a_show_starts_in_the_future(starts_at: datetime) -> None:
    with pytest.raises(ShowInPast) as refused:
        sales_close(starts_at, None, None, NO_CUTOFF, NOW)
    assert refused.value.detail == "starts_at must be in the future"
    assert sales_close(NOW + timedelta(seconds=1), None, None, NO_CUTOFF, NOW) is None


def test_sales_close_the_cutoff_before_the_start_unless_asked_otherwise() -> None:
    assert sales_close(START, None, None, CUTOFF, NOW) == START - CUTOFF
    assert sales_close(START, None, START - timedelta(hours=2), CUTOFF, NOW) == START - timedelta(hours=2)


def test_sales_may_close_at_the_start_but_not_after() -> None:
    assert sales_close(START, None, START, CUTOFF, NOW) == START
    with pytest.raises(SalesCloseAfterStart):
        sales_close(START, None, START + timedelta(seconds=1), CUTOFF, NOW)


def test_a_sales_window_is_not_empty() -> None:
    close = START - CUTOFF
    assert sales_close(START, close - timedelta(seconds=1), None, CUTOFF, NOW) == close
    with pytest.raises(SalesWindowEmpty):
        sales_close(START, close, None, CUTOFF, NOW)
    assert sales_close(START, START + timedelta(days=1), None, NO_CUTOFF, NOW) is None  # no close: no window


def test_the_start_is_checked_before_the_window() -> None:
    with pytest.raises(ShowInPast):
        sales_close(NOW, NOW, NOW - timedelta(hours=1), CUTOFF, NOW)


def test_every_category_of_the_screen_has_a_price() -> None:
    check_prices({"standard", "vip"}, {"standard": 10, "vip": 20, "box": 30})
    with pytest.raises(MissingPrices) as refused:
        check_prices({"vip", "box", "standard"}, {"standard": 10})
    assert refused.value.detail == "no price for seat categories: box, vip"
