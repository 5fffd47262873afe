"""The admin dashboard's figures (``GET /api/v1/admin/reports/sales``): sales, occupancy and revenue per
show and per day, and the screens they are measured against. Admin only; read-only; the SQL and the figures
(revenue, occupancy) live in ``persistence/reports.py``, whose records the response models read as they are."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import AdminCaller
from api.deps import Db
from api.problems import AUTHENTICATED, ApiProblem, problem_responses
from api.schemas import EntityId, IsoDate
from persistence import reports

router = APIRouter(prefix="/api/v1/admin/reports", tags=["admin"], responses=problem_responses(*AUTHENTICATED))

MAX_DAYS = 400
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
DEFAULT_DAYS_BACK = 7
DEFAULT_DAYS_AHEAD = 30


class ShowFiguresOut(BaseModel):
    show_id: str
    starts_at: datetime
    status: str
    movie_id: str
    movie_title: str
    theater_id: str
    theater_name: str
    city: str
    screen_id: str
    screen_name: str
    capacity: int = Field(description="seats in the screen")
    sold: int = Field(description="seats booked now")
    held: int = Field(description="seats in live holds now")
    blocked: int = Field(description="seats taken off sale")
    occupancy: float = Field(description="sold / capacity, 0 to 1")
    bookings: int = Field(description="confirmed bookings")
    gross: float = Field(description="everything paid for this show's bookings, cancelled ones included")
    refunded: float = Field(description="what went back on cancellations")
    revenue: float = Field(description="gross less refunded")


class ShowDayOut(BaseModel):
    day: date = Field(description="UTC day the shows start")
    shows: int
    capacity: int
    sold: int
    occupancy: float
    bookings: int
    gross: float
    refunded: float
    revenue: float


class SalesDayOut(BaseModel):
    day: date = Field(description="UTC day of the purchases (refunds: of the cancellations)")
    bookings: int = Field(description="bookings made that day")
    tickets: int = Field(description="seats in those bookings")
    gross: float
    refunded: float
    revenue: float


class ScreenRowOut(BaseModel):
    row: str
    seats: int
    category: str


class ScreenOut(BaseModel):
    id: str
    theater_id: str
    name: str
    capacity: int
    rows: list[ScreenRowOut] = Field(description="front row (nearest the screen) first")


class SalesReportOut(BaseModel):
    start: date
    end: date
    shows: list[ShowFiguresOut] = Field(description=f"earliest first, at most {reports.MAX_SHOWS}")
    show_days: list[ShowDayOut]
    sales_days: list[SalesDayOut]
    screens: list[ScreenOut] = Field(description="the screens (of the theater, or all), with their layout")
    truncated: bool = Field(description="more shows matched than `shows` lists (the day sums cover all)")


@router.get("/sales", response_model=SalesReportOut)
async def sales_report(
    _: AdminCaller,
    db: Db,
    start: Annotated[
        IsoDate | None, Query(description=f"first UTC day of show starts (default: {DEFAULT_DAYS_BACK} days ago)")
    ] = None,
    end: Annotated[
        IsoDate | None, Query(description=f"last UTC day, included (default: {DEFAULT_DAYS_AHEAD} days ahead)")
    ] = None,
    theater_id: Annotated[EntityId | None, Query(description="only this theater's shows and screens")] = None,
) -> SalesReportOut:
    """Sales, occupancy and revenue of the shows starting from `start` to `end` (at most 400 days), per
    show and per day, with the screens' capacity and layout. Seats sold and held are as of now."""
    if any(d is not None and not EARLIEST <= d <= LATEST for d in (start, end)):
        raise ApiProblem(422, f"dates must be between {EARLIEST} and {LATEST}", "date-out-of-range")
    today = datetime.now(UTC).date()
    first = start or min(today, end or today) - timedelta(days=DEFAULT_DAYS_BACK)
    last = end or min(max(first, today) + timedelta(days=DEFAULT_DAYS_AHEAD), first + timedelta(days=MAX_DAYS - 1))
    if last < first:
        raise ApiProblem(422, "end must not be before start", "empty-date-range")
    if (last - first).days >= MAX_DAYS:
        raise ApiProblem(422, f"a report covers at most {MAX_DAYS} days", "date-range-too-long")
    async with db.session() as session:
        report = await reports.sales_report(session, first, last, theater_id)
    return SalesReportOut.model_validate(report, from_attributes=True)
