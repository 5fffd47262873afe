"""Seat maps that scale to stadiums: a venue's overview and one section's seat map.

``GET /api/v1/shows/{id}/venue`` answers the counts per section (small enough to poll whatever the venue's
size) and ``GET /api/v1/shows/{id}/sections/{code}/seats`` one section's seats. Both are rendered from a
read of the show's claims that they share (``SeatMapReader.claims`` with ``RENDER_TTL``), kept as bytes
by path and answered before routing while fresh (``RenderedSeatMaps`` in api/routes/catalog.py), so
they are at most as stale as ``GET /seats``: the reader's budget plus ``RENDER_TTL``. What a render costs
is O(claimed seats) for the overview and O(the section's seats) for a section, never O(the venue).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from actors.seat_map_core import SeatStatus
from api.deps import seatmaps_of
from api.problems import ApiProblem, problem_responses
from api.routes.catalog import RENDER_TTL, iso, remember_path_render
from api.schemas import EntityId, SeatOut, SectionCode
from seat_views.reader import Claims, SectionLayout, empty_counts

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=problem_responses(404))


class SeatCountsOut(BaseModel):
    available: int
    held: int
    booked: int
    blocked: int


class SectionStatusOut(BaseModel):
    code: str = Field(description="used in seat ids: section `112` has seats `112-K-14`")
    name: str
    kind: str = Field(description="`seated`, or `standing` (general admission: held by quantity, no seat map)")
    category: str
    capacity: int
    available: int
    held: int
    booked: int
    blocked: int
    price_min: float = Field(description="the lowest price of the section's categories for this show")
    price_max: float = Field(description="the highest price of the section's categories for this show")


class VenueOut(BaseModel):
    show_id: str
    as_of: datetime = Field(description="when the claims shown were published")
    source: str = Field(description="`cache` (published by the show's actor) or `database` (fallback)")
    capacity: int
    counts: SeatCountsOut
    sections: list[SectionStatusOut] = Field(
        description="in display order; none for a cinema screen (read `GET /api/v1/shows/{id}/seats` then)"
    )


class SectionSeatsOut(BaseModel):
    show_id: str
    section: SectionStatusOut
    seats: list[SeatOut] = Field(description="in display order; none for a standing zone (see `counts`)")
    counts: SeatCountsOut
    as_of: datetime
    source: str = Field(description="`cache` (published by the show's actor) or `database` (fallback)")


def section_status(claims: Claims, section: SectionLayout, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """A section's entry (``SectionStatusOut``): its record, its counts (``Claims.section_counts`` unless
    given) and its price range for the show."""
    prices = claims.show.prices
    range_ = [float(prices.get(category, Decimal(0))) for category in section.categories]
    info = section.info
    return {
        "code": info.code,
        "name": info.name,
        "kind": info.kind,
        "category": info.category,
        "capacity": info.capacity,
        **(claims.section_counts(info.code) if counts is None else counts),
        "price_min": min(range_),
        "price_max": max(range_),
    }


def venue_fields(show_id: str, claims: Claims) -> dict[str, Any]:
    """The overview (``VenueOut``): O(claimed seats + sections)."""
    total, _ = claims.counts()  # first: the sections' entries then take their counts from it
    return {
        "show_id": show_id,
        "as_of": iso(claims.as_of),
        "source": claims.source,
        "capacity": claims.venue.capacity,
        "counts": total,
        "sections": [section_status(claims, section) for section in claims.venue.sections.values()],
    }


def section_fields(show_id: str, claims: Claims, code: str) -> dict[str, Any]:
    """One section's map (``SectionSeatsOut``): O(the section's seats), each seat's entry built straight
    from the layout and the claims (the hottest loop of a stadium's reads)."""
    section = claims.venue.sections[code]
    seats: list[dict[str, Any]] = []
    counts: dict[str, int] | None = None
    if not section.info.standing:
        status_of, available = claims.statuses.get, SeatStatus.AVAILABLE
        price = {category: float(claims.show.prices.get(category, Decimal(0))) for category in section.categories}
        seats = [
            {
                "id": s.seat_id,
                "row": s.row,
                "number": s.number,
                "status": status_of(s.seat_id, available),
                "category": s.category,
                "price": price[s.category],
            }
            for s in section.seats
        ]
        counts = empty_counts()
        for seat in seats:
            counts[seat["status"]] += 1
    entry = section_status(claims, section, counts)
    return {
        "show_id": show_id,
        "section": entry,
        "seats": seats,
        "counts": {key: entry[key] for key in ("available", "held", "booked", "blocked")},
        "as_of": iso(claims.as_of),
        "source": claims.source,
    }


def rendered(path: str, claims: Claims, fields: dict[str, Any]) -> Response:
    body = orjson.dumps(fields)
    remember_path_render(path, claims.read_at, body)
    return Response(body, media_type="application/json")


@router.get("/shows/{show_id}/venue", response_model=VenueOut)
async def venue_overview(show_id: EntityId, request: Request) -> Response:
    """The venue at a glance: how many places are available, held, booked and blocked, in the show and in
    each section, with each section's price range. Small whatever the venue's size (poll it); at most 2
    seconds behind the show's actor, never waiting on it."""
    claims = await seatmaps_of(request).claims(show_id, RENDER_TTL)
    return rendered(request.scope["path"], claims, venue_fields(show_id, claims))


@router.get("/shows/{show_id}/sections/{code}/seats", response_model=SectionSeatsOut)
async def section_seats(show_id: EntityId, code: SectionCode, request: Request) -> Response:
    """One section's seat map (a standing zone's has no seats: its counts say how many places are free),
    as fresh as the overview. Live updates: `GET /api/v1/shows/{id}/seats/stream?section={code}`."""
    seatmaps = seatmaps_of(request)
    _, venue = await seatmaps.venue(show_id)
    if code not in venue.sections:
        raise ApiProblem(404, f"show {show_id} has no section {code}", "unknown-section")
    claims = await seatmaps.claims(show_id, RENDER_TTL)
    return rendered(request.scope["path"], claims, section_fields(show_id, claims, code))
