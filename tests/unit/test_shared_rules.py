"""Rules with one home that more than one layer applies (issue 17, item 3): the seat-status precedence
(``actors.seat_map_core.seat_statuses``, applied by the seat map and by the seat-map reader in ``api/``) and the
sales window (``actors.seat_map_core.in_sales_window``, applied by the seat map and by the catalog's
``ShowInfo``). Each test would fail if one side kept a rule of its own that disagreed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from actors.errors import SalesClosed
from actors.seat_map_core import SeatMap, SeatSpec, SeatStatus, ShowRules, in_sales_window, sales_end, seat_statuses
from persistence.catalog import ScreenInfo, SeatLayout, ShowInfo
from seat_views.reader import SeatMapReader

T0 = datetime(2030, 1, 1, 18, 0, tzinfo=UTC)
STARTS_AT = T0 + timedelta(hours=2)
SEATS = ("A1", "A2", "A3", "A4", "A5")


def _at(moment: datetime) -> datetime:
    return moment


def test_a_seat_claimed_more_than_one_way_shows_booked_then_blocked_then_held() -> None:
    statuses = seat_statuses(booked=["A1"], blocked=["A1", "A2"], held=["A1", "A2", "A3"])
    assert statuses == {"A1": SeatStatus.BOOKED, "A2": SeatStatus.BLOCKED, "A3": SeatStatus.HELD}
    assert seat_statuses([], [], []) == {}


def test_the_reader_ranks_claims_by_the_same_rule_and_shows_a_lapsed_hold_available() -> None:
    show = ShowInfo("s", "m", "t", "sc", STARTS_AT, {"std": Decimal(10)}, 600, "on_sale")
    screen = ScreenInfo("sc", "t", "Screen", tuple(SeatLayout(s, "A", 0, i + 1, "std") for i, s in enumerate(SEATS)))
    now = time.time()
    snapshot = {
        "held": {"A1": now + 60, "A2": now + 60, "A3": now + 60, "A4": now - 1},
        "booked": ["A1"],
        "blocked": ["A1", "A2"],
        "at": now,
    }
    view = SeatMapReader._view(show, screen, snapshot, "cache")
    statuses = [seat.status for seat in view.seats]
    assert statuses == ["booked", "blocked", "held", "available", "available"]
    assert json.dumps(statuses) == '["booked", "blocked", "held", "available", "available"]'


@pytest.mark.parametrize(
    ("sales_open_at", "sales_close_at"),
    [
        (None, None),
        (T0, None),
        (T0, STARTS_AT - timedelta(minutes=30)),
        (None, STARTS_AT + timedelta(hours=1)),  # a close after the start: sales still end at the start
    ],
)
def test_the_catalog_and_the_seat_map_agree_on_the_sales_window(
    sales_open_at: datetime | None, sales_close_at: datetime | None
) -> None:
    show = ShowInfo("s", "m", "t", "sc", STARTS_AT, {}, 600, "on_sale", sales_open_at, sales_close_at)
    rules = ShowRules(
        "s", STARTS_AT, timedelta(minutes=10), 6, sales_open_at=sales_open_at, sales_close_at=sales_close_at
    )
    end = sales_end(STARTS_AT, sales_close_at)
    assert show.sales_end == rules.sales_end == end
    assert end == min(STARTS_AT, sales_close_at or STARTS_AT)
    tick = timedelta(microseconds=1)
    moments = [T0 - tick, T0, end - tick, end, STARTS_AT + tick]
    for now in moments:
        expected = (sales_open_at is None or now >= sales_open_at) and now < end
        assert in_sales_window(now, STARTS_AT, sales_open_at, sales_close_at) is expected
        assert show.on_sale(now) is expected
        seat_map = SeatMap(rules, [SeatSpec("A1", "A", 0, 1, "std", Decimal(10))], partial(_at, now))
        if expected:
            seat_map.hold("u", ["A1"])
        else:
            with pytest.raises(SalesClosed):
                seat_map.hold("u", ["A1"])


def test_a_show_not_listed_on_sale_is_not_on_sale_inside_its_window() -> None:
    show = ShowInfo("s", "m", "t", "sc", STARTS_AT, {}, 600, "cancelled")
    assert in_sales_window(T0, STARTS_AT, None, None)
    assert not show.on_sale(T0)
