"""Catalog reads (no token) and writes (admin token): movies, theaters, screens, shows, seat maps."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import AdminCaller
from api.deps import AppSettings, Bookings, Db, Rooms, seatmaps_of
from api.problems import AUTHENTICATED, ApiProblem, problem_responses
from api.schemas import (
    PRINTABLE,
    SHOW_LINK,
    EntityId,
    MovieIn,
    MovieOut,
    ScreenIn,
    ScreenOut,
    SeatId,
    SeatMapOut,
    SectionOut,
    ShowId,
    ShowIn,
    ShowOut,
    Strict,
    TheaterIn,
    TheaterOut,
    links,
    text,
)
from booking.scheduling import check_prices, sales_close
from persistence import catalog
from persistence.catalog import RowSpec, SectionSpec, ShowInfo
from persistence.database import Database
from seat_views.reader import Claims, SeatMapView, VenueIndex

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=problem_responses(404))
admin = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=problem_responses(*AUTHENTICATED, 404, 409))

T = TypeVar("T")


def show_out(s: ShowInfo) -> ShowOut:
    """A show as the API tells it: its record, whether it is on sale now, and when its sales end."""
    return ShowOut.model_validate({**asdict(s), "on_sale": s.on_sale(datetime.now(UTC)), "sales_close_at": s.sales_end})


def found(record: T | None, what: str, ident: str) -> T:
    """``record``, or a 404 naming the ``what`` with id ``ident`` that was not there."""
    if record is None:
        raise ApiProblem(404, f"{what} {ident} does not exist", f"unknown-{what}")
    return record


async def fetch(db: Database, get: Callable[[AsyncSession, str], Awaitable[T | None]], what: str, ident: str) -> T:
    """The ``what`` with id ``ident`` as ``get`` reads it in a session of its own, or a 404."""
    async with db.session() as session:
        record = await get(session, ident)
    return found(record, what, ident)


# -- reads ----------------------------------------------------------------------------------------------


@router.get("/movies", response_model=list[MovieOut])
async def list_movies(
    db: Db, limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0, le=1_000_000)
) -> list[MovieOut]:
    async with db.session() as session:
        return [
            MovieOut.model_validate(m, from_attributes=True) for m in await catalog.list_movies(session, limit, offset)
        ]


@router.get("/movies/{movie_id}", response_model=MovieOut)
async def get_movie(movie_id: EntityId, db: Db) -> MovieOut:
    return MovieOut.model_validate(await fetch(db, catalog.get_movie, "movie", movie_id), from_attributes=True)


@router.get("/theaters", response_model=list[TheaterOut])
async def list_theaters(
    db: Db,
    city: Annotated[str | None, Query(max_length=100, pattern=PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[TheaterOut]:
    """Theaters, by city and name; `city` filters case-insensitively."""
    async with db.session() as session:
        theaters = await catalog.list_theaters(session, city, limit, offset)
    return [TheaterOut.model_validate(t, from_attributes=True) for t in theaters]


@router.get("/theaters/{theater_id}", response_model=TheaterOut)
async def get_theater(theater_id: EntityId, db: Db) -> TheaterOut:
    theater = await fetch(db, catalog.get_theater, "theater", theater_id)
    return TheaterOut.model_validate(theater, from_attributes=True)


@router.get("/shows", response_model=list[ShowOut])
async def list_shows(
    db: Db,
    movie_id: EntityId | None = None,
    theater_id: EntityId | None = None,
    on_sale: bool = Query(False, description="only shows still on sale"),
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[ShowOut]:
    async with db.session() as session:
        shows = await catalog.list_shows(
            session,
            movie_id=movie_id,
            theater_id=theater_id,
            on_sale_after=datetime.now(UTC) if on_sale else None,
            limit=limit,
            offset=offset,
        )
    return [show_out(s) for s in shows]


@router.get("/shows/{show_id}", response_model=ShowOut)
async def get_show(show_id: EntityId, db: Db) -> ShowOut:
    return show_out(await fetch(db, catalog.get_show, "show", show_id))


# Rendered seat maps, reused for a moment: a crowd refreshing one show's map costs one Redis read and
# one JSON encoding per RENDER_TTL, not per request. main.py takes RENDER_TTL off the staleness budget
# the reader may use, so a map still lags the actor by at most BOOKING_SEATMAP_MAX_STALENESS_SECONDS.
RENDER_TTL = 0.2
RENDER_LIMIT = 10_000  # renders kept per cache; beyond that the cache starts over
_rendered: dict[str, tuple[float, bytes]] = {}
# Other seat-map reads rendered the same way (api/routes/venue.py: a venue's overview, a section's map),
# by request path, each dated by the monotonic time its read began.
_rendered_paths: dict[str, tuple[float, bytes]] = {}


def _fresh_render(show_id: str, now: float) -> bytes | None:
    cached = _rendered.get(show_id)
    return cached[1] if cached is not None and now - cached[0] < RENDER_TTL else None


def fresh_path_render(path: str, now: float) -> bytes | None:
    """The body rendered for ``path`` less than ``RENDER_TTL`` ago, if any."""
    cached = _rendered_paths.get(path)
    return cached[1] if cached is not None and now - cached[0] < RENDER_TTL else None


def remember_path_render(path: str, read_at: float, body: bytes) -> None:
    """Keep ``body`` as the answer to ``GET path`` until ``RENDER_TTL`` after ``read_at``, the monotonic
    time the read it renders began (so a render of a shared read is not kept longer than the read)."""
    if len(_rendered_paths) > RENDER_LIMIT:
        _rendered_paths.clear()
    _rendered_paths[path] = (read_at, body)


class RenderedSeatMaps:
    """Pure ASGI, innermost: a ``GET`` of a seat map rendered less than ``RENDER_TTL`` ago is answered
    with its bytes before routing. A crowd refreshing one show's map is the most frequent request there
    is; walking the router, building a ``Request`` and validating the path for bytes already at hand cost
    more than the answer (docs/measurements.md). The same goes for the other renders kept by path (a
    venue's overview, a section's map: ``remember_path_render``). Anything else, a miss included, goes on
    to the route, which renders and validates. Installed inside the block list and the rate limiter,
    which still apply."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(_SEATS_PREFIX):
                body = None
                if path.endswith(_SEATS_SUFFIX):
                    show_id = path[len(_SEATS_PREFIX) : -len(_SEATS_SUFFIX)]
                    if "/" not in show_id:
                        body = _fresh_render(show_id, time.monotonic())
                if body is None and _rendered_paths:
                    body = fresh_path_render(path, time.monotonic())
                if body is not None:
                    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)


_SEATS_PREFIX, _SEATS_SUFFIX = "/api/v1/shows/", "/seats"


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def seat_map_fields(show_id: str, view: SeatMapView, versions: bool = False) -> dict[str, Any]:
    """A seat map as ``GET /shows/{show_id}/seats`` answers it (``SeatMapOut``), ready for ``json.dumps``
    (the hot path encodes it without pydantic); with ``versions``, each seat also carries its version
    (the live stream's snapshot)."""
    counts = {"available": 0, "held": 0, "booked": 0, "blocked": 0}
    seats = []
    for s in view.seats:
        counts[s.status] += 1
        seat: dict[str, Any] = {
            "id": s.id,
            "row": s.row,
            "number": s.number,
            "status": s.status,
            "category": s.category,
            "price": float(s.price),
        }
        if versions:
            seat["version"] = s.version
        seats.append(seat)
    return {"show_id": show_id, "seats": seats, "counts": counts, "as_of": iso(view.as_of), "source": view.source}


# A venue's whole map (up to 150,000 places) is rendered from each place's entry as it reads when the
# place is available, kept per show, with only the claimed places' entries rewritten per render: O(claimed
# seats) plus one join, instead of building and encoding a dict per place (0.5 s and more a render on a
# 100,000-place venue). A few shows' entries are kept (about 13 MB per 100,000 places).
FLAT_ENTRIES_LIMIT = 8
_AVAILABLE = '"status":"available"'
_flat_entries: dict[str, tuple[VenueIndex, dict[str, Decimal], list[str], dict[str, int]]] = {}


def _available_entries(show: ShowInfo, venue: VenueIndex) -> tuple[list[str], dict[str, int]]:
    """Each place's entry in ``GET /seats`` as it reads when available, and each place's position."""
    cached = _flat_entries.get(show.id)
    if cached is not None and cached[0] is venue and cached[1] == show.prices:
        return cached[2], cached[3]
    seats = venue.screen.seats
    price = {c: json.dumps(float(show.prices.get(c, Decimal(0)))) for c in {s.category for s in seats}}
    entries = [
        f'{{"id":{json.dumps(s.seat_id)},"row":{json.dumps(s.row)},"number":{json.dumps(s.number)},{_AVAILABLE},'
        f'"category":{json.dumps(s.category)},"price":{price[s.category]}}}'
        for s in seats
    ]
    position = {s.seat_id: i for i, s in enumerate(seats)}
    if len(_flat_entries) >= FLAT_ENTRIES_LIMIT:
        _flat_entries.clear()
    _flat_entries[show.id] = (venue, dict(show.prices), entries, position)
    return entries, position


def flat_seat_map_body(show_id: str, claims: Claims) -> bytes:
    """``GET /seats`` of ``claims``, byte for byte what encoding ``seat_map_fields`` of ``claims.full()``
    gives, in O(claimed seats) plus one join of the kept entries."""
    entries, position = _available_entries(claims.show, claims.venue)
    parts = entries.copy()
    for seat_id, status in claims.statuses.items():
        i = position.get(seat_id)
        if i is not None:
            parts[i] = entries[i].replace(_AVAILABLE, f'"status":"{status.value}"', 1)
    total, _ = claims.counts()
    tail = (
        f'],"counts":{json.dumps(total, separators=(",", ":"))},"as_of":{json.dumps(iso(claims.as_of))},'
        f'"source":{json.dumps(claims.source)}}}'
    )
    return f'{{"show_id":{json.dumps(show_id)},"seats":[{",".join(parts)}{tail}'.encode()


@router.get("/shows/{show_id}/seats", response_model=SeatMapOut)
async def seat_map(show_id: EntityId, request: Request) -> Response:
    """The seat map; at most 2 seconds behind the show's actor, never waiting on it. Every place of the
    show: for a venue of sections, `GET /shows/{id}/venue` and the sections' maps are far smaller."""
    seatmaps = seatmaps_of(request)  # not a dependency: the hot path (api/deps.py)
    now = time.monotonic()
    rendered = _fresh_render(show_id, now)
    if rendered is not None:
        return Response(rendered, media_type="application/json")
    claims = await seatmaps.claims(show_id, RENDER_TTL)  # a read the venue's other maps may share
    if claims.venue.sections:
        body = flat_seat_map_body(show_id, claims)
    else:  # a cinema screen: a few hundred seats
        body = json.dumps(seat_map_fields(show_id, claims.full()), separators=(",", ":")).encode()
    if len(_rendered) > RENDER_LIMIT:
        _rendered.clear()
    _rendered[show_id] = (claims.read_at, body)  # kept no longer than RENDER_TTL after the read began
    return Response(body, media_type="application/json")


class LedgerEntryOut(BaseModel):
    id: int
    seat_id: str
    event: str
    user_id: str | None
    hold_id: str | None
    booking_id: str | None
    epoch: int
    at: datetime


@admin.get("/shows/{show_id}/ledger", response_model=list[LedgerEntryOut])
async def show_ledger(
    show_id: EntityId,
    _: AdminCaller,
    db: Db,
    seat: Annotated[SeatId | None, Query(description="only this seat")] = None,
) -> list[LedgerEntryOut]:
    """The append-only history of a show's seats: what happened, to which seat, for whom, when, and under
    which epoch of the show's actor (oldest first, at most 10,000 entries)."""
    async with db.session() as session:
        found(await catalog.get_show(session, show_id), "show", show_id)
        entries = await catalog.seat_history(session, show_id, seat)
    return [LedgerEntryOut.model_validate(e, from_attributes=True) for e in entries]


# -- admin writes ---------------------------------------------------------------------------------------


@admin.post(
    "/movies",
    status_code=201,
    response_model=MovieOut,
    responses=links(
        201,
        Movie=("get_movie_api_v1_movies__movie_id__get", {"movie_id": "$response.body#/id"}),
        MovieDetail=("get_movie_detail_GetMovieDetail_api_v0__movie_id__get", {"movie_id": "$response.body#/id"}),
    ),
)
async def create_movie(body: MovieIn, _: AdminCaller, db: Db) -> MovieOut:
    async with db.session() as session:
        movie = await catalog.create_movie(
            session, body.title, body.description, body.duration_minutes, body.language, body.genres
        )
    return MovieOut.model_validate(movie, from_attributes=True)


@admin.post(
    "/theaters",
    status_code=201,
    response_model=TheaterOut,
    responses=links(
        201,
        Theater=("get_theater_api_v1_theaters__theater_id__get", {"theater_id": "$response.body#/id"}),
        TheaterDetail=(
            "get_theater_detail_GetTheaterDetail_api_v0__theater_id__get",
            {"theater_id": "$response.body#/id"},
        ),
        AddScreen=(
            "create_screen_api_v1_admin_theaters__theater_id__screens_post",
            {"theater_id": "$response.body#/id"},
        ),
    ),
)
async def create_theater(body: TheaterIn, _: AdminCaller, db: Db) -> TheaterOut:
    async with db.session() as session:
        theater = await catalog.create_theater(session, body.name, body.city, body.address)
    return TheaterOut.model_validate(theater, from_attributes=True)


@admin.post("/theaters/{theater_id}/screens", status_code=201, response_model=ScreenOut)
async def create_screen(theater_id: EntityId, body: ScreenIn, _: AdminCaller, db: Db) -> ScreenOut:
    """A cinema screen (`rows`: seats `A1`…) or a venue of up to 150,000 places in `sections` (seats
    `112-K-14`, standing places `FLA-1`…)."""
    rows = [RowSpec(r.row, r.seats, r.category) for r in body.rows or ()]
    labels = [r.row for r in rows]
    if len(set(labels)) != len(labels):
        raise ApiProblem(422, "row labels must be unique", "duplicate-rows")
    sections = [
        SectionSpec(
            s.code,
            s.name,
            s.category,
            tuple(RowSpec(r.row, r.seats, r.category or s.category) for r in s.rows or ()),
            s.capacity or 0,
            s.kind == "standing",
        )
        for s in body.sections or ()
    ]
    async with db.session() as session:
        found(await catalog.get_theater(session, theater_id), "theater", theater_id)
        screen = await catalog.create_screen(session, theater_id, body.name, rows, sections)
    return ScreenOut(
        id=screen.id,
        theater_id=theater_id,
        name=screen.name,
        seats=[s.seat_id for s in screen.seats],
        sections=[SectionOut.model_validate(s, from_attributes=True) for s in screen.sections],
        capacity=len(screen.seats),
    )


@admin.post(
    "/shows",
    status_code=201,
    response_model=ShowOut,
    responses=links(
        201,
        HoldSeats=("create_hold_api_v1_shows__show_id__holds_post", SHOW_LINK),
        MyHolds=("my_holds_api_v1_shows__show_id__holds_get", SHOW_LINK),
        PayHolds=("pay_holds_api_v1_shows__show_id__holds_pay_post", SHOW_LINK),
        SeatMap=("seat_map_api_v1_shows__show_id__seats_get", SHOW_LINK),
        Show=("get_show_api_v1_shows__show_id__get", SHOW_LINK),
        BoxOfficeSale=("sell_api_v1_box_office_shows__show_id__sales_post", SHOW_LINK),
        BlockSeats=("block_seats_api_v1_admin_shows__show_id__seats_block_post", SHOW_LINK),
        UnblockSeats=("unblock_seats_api_v1_admin_shows__show_id__seats_unblock_post", SHOW_LINK),
        Ledger=("show_ledger_api_v1_admin_shows__show_id__ledger_get", SHOW_LINK),
        SubmitPayment=("submit_payment_SubmitPayment_api_v0__event_id__post", {"event_id": "$response.body#/id"}),
        AvailableSeats=(
            "get_available_seat_GetAvailableSeat_api_v0__movie_id___theater_id__get",
            {"movie_id": "$response.body#/movie_id", "theater_id": "$response.body#/theater_id"},
        ),
    ),
)
async def create_show(body: ShowIn, _: AdminCaller, db: Db, settings: AppSettings, rooms: Rooms) -> ShowOut:
    cutoff = timedelta(minutes=settings.sales_cutoff_minutes)
    sales_close_at = sales_close(body.starts_at, body.sales_open_at, body.sales_close_at, cutoff, datetime.now(UTC))
    async with db.session() as session:
        found(await catalog.get_movie(session, body.movie_id), "movie", body.movie_id)
        screen = found(await catalog.get_screen(session, body.screen_id), "screen", body.screen_id)
        check_prices(screen.categories, body.prices)
        show = await catalog.create_show(
            session,
            body.movie_id,
            screen,
            body.starts_at,
            {k: Decimal(str(v)) for k, v in body.prices.items()},
            body.hold_ttl_seconds or settings.hold_ttl_seconds,
            body.sales_open_at,
            sales_close_at,
            waiting_room=body.waiting_room,
            reentry=body.reentry,
        )
        if body.waiting_room:
            await rooms.create(
                session, show.id, body.sales_open_at or datetime.now(UTC), settings.queue_admission_window_seconds
            )
    return show_out(show)


class ShowCancelOut(BaseModel):
    show_id: str
    status: str
    bookings_cancelled: int
    refunded: int = Field(description="bookings whose refund the gateway has already confirmed")
    refunds_pending: int = Field(description="refunds the reconciler is still retrying")


@admin.post("/shows/{show_id}/cancel", response_model=ShowCancelOut)
async def cancel_show(show_id: ShowId, _: AdminCaller, booking: Bookings) -> ShowCancelOut:
    """Cancel a show before it starts: sales stop, every hold is released, and every booking is cancelled
    and refunded in full (refunds the gateway cannot take at once are retried by the reconciler)."""
    report = await booking.cancel_show(show_id)
    return ShowCancelOut(status="cancelled", **asdict(report))


# -- blocked networks -----------------------------------------------------------------------------------


class BlockIn(Strict):
    network: Annotated[str, StringConstraints(min_length=2, max_length=50, pattern=r"^[0-9a-fA-F:./]+$")]
    reason: Annotated[str, text(500, min_length=0)] = ""


class BlockOut(BaseModel):
    network: str
    reason: str
    created_by: str | None


def parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ApiProblem(422, f"not an IP address or network: {value}", "bad-network") from exc


@admin.get("/blocked-networks", response_model=list[BlockOut])
async def blocked_networks(_: AdminCaller, request: Request) -> list[BlockOut]:
    """Client addresses the API refuses with 403."""
    return [BlockOut(**asdict(b)) for b in await request.app.state.blocklist.entries()]


@admin.post("/blocked-networks", status_code=201, response_model=BlockOut)
async def block_network(body: BlockIn, caller: AdminCaller, request: Request) -> BlockOut:
    """Block an address or CIDR network (e.g. `203.0.113.7` or `203.0.113.0/24`); blocking again updates
    the reason. Takes effect at once in this process and within seconds in the others."""
    entry = await request.app.state.blocklist.add(parse_network(body.network), body.reason, caller.user_id)
    return BlockOut(**asdict(entry))


@admin.delete("/blocked-networks", status_code=204)
async def unblock_network(
    network: Annotated[str, Query(min_length=2, max_length=50, pattern=r"^[0-9a-fA-F:./]+$")],
    _: AdminCaller,
    request: Request,
) -> None:
    if not await request.app.state.blocklist.remove(parse_network(network)):
        raise ApiProblem(404, f"{network} is not blocked", "not-blocked")
