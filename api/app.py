"""Builds the FastAPI application from already-constructed dependencies (see ``main.py``)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api import health, problems
from api.auth import TokenService
from api.blocklist import BlockList, BlockListMiddleware
from api.fast_holds import FastHolds
from api.fast_queue import FastQueue
from api.observability import RequestIdMiddleware
from api.rate_limit import RateLimiter, RateLimitMiddleware
from api.routes import (
    accounts,
    bookings,
    box_office,
    catalog,
    check_in,
    holds,
    notifications,
    queue,
    reports,
    search,
    seat_blocks,
    seed,
    stream,
    tickets,
    venue,
    waiting_list,
    web,
)
from api.schemas import per_request_cap
from booking.service import BookingService
from payments.reconciler import Reconciler
from persistence.database import Database
from seat_views.reader import SeatMapReader
from settings import Settings
from waiting_room.service import WaitingRooms

DESCRIPTION = """
Ticket booking with per-show actors: browse movies and shows, read live seat maps, hold seats for a
limited time, pay, and get a booking that belongs to you alone.

* Errors are `application/problem+json` (RFC 9457).
* Authenticate with `POST /api/v1/auth/token` (OAuth2 password flow) and send
  `Authorization: Bearer <token>`; the seed (v0) routes also take `AuthorizationToken: <token>`.
"""


def create_app(
    settings: Settings,
    database: Database,
    booking: BookingService,
    tokens: TokenService,
    limiter: RateLimiter,
    seatmaps: SeatMapReader,
    reconciler: Reconciler,
    waiting_rooms: WaitingRooms | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    on_startup: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reconciler.start()  # settles unknown payments and owed refunds in the background
        if on_startup is not None:
            await on_startup()
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        app.state.ready = True
        yield
        app.state.ready = False
        if on_shutdown is not None:
            await on_shutdown()

    # The docs pages load Swagger UI and ReDoc from files shipped in the package, never from a CDN.
    app = FastAPIOffline(
        title="Seatwise booking API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # The service exports Prometheus metrics (api/observability.py), not OpenTelemetry; left on, FastAPI
        # asks OpenTelemetry for its providers on every request (4 % of the API process's samples on the hot path).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.db = database
    app.state.booking = booking
    app.state.seatmaps = seatmaps
    app.state.waiting_rooms = waiting_rooms
    app.state.tokens = tokens
    app.state.limiter = limiter
    app.state.ready = False
    problems.install(app)
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # The seat lists' bound is this deployment's per-request cap, not the models' hard ceiling.
        if app.openapi_schema is None:
            app.openapi_schema = per_request_cap(default_openapi(), settings.max_seats_per_request)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # Innermost (added first): cached seat maps and holds are answered before routing, after the checks below.
    app.add_middleware(catalog.RenderedSeatMaps)
    if settings.fast_holds:  # holds answered before routing, by the routes' own code (api/fast_holds.py)
        app.add_middleware(FastHolds, booking=booking)
        if waiting_rooms is not None:  # and the waiting room's joins and polls (api/fast_queue.py)
            app.add_middleware(FastQueue, rooms=waiting_rooms)
    if limiter.enabled:
        app.add_middleware(RateLimitMiddleware, limiter=limiter)
    # Added last, so it runs first: a blocked network is refused before it counts against any limit.
    blocklist = BlockList(database)
    app.state.blocklist = blocklist
    app.add_middleware(BlockListMiddleware, blocklist=blocklist)
    if settings.log_format == "json":  # outermost: every answer, refusals included, carries its request id
        app.add_middleware(RequestIdMiddleware)

    # Routes are matched in order: the hot paths (holds, the seed API, seat-map reads) come first so a
    # crowd's requests do not walk every admin route before they match (measured in docs/measurements.md).
    app.include_router(holds.router)
    app.include_router(seed.router)
    app.include_router(catalog.router)
    app.include_router(venue.router)
    app.include_router(accounts.router)
    app.include_router(accounts.admin)
    app.include_router(catalog.admin)
    app.include_router(bookings.router)
    app.include_router(tickets.router)
    app.include_router(check_in.router)
    app.include_router(box_office.router)
    app.include_router(stream.router)
    app.include_router(queue.router)
    app.include_router(waiting_list.router)
    app.include_router(search.router)
    app.include_router(notifications.admin)
    app.include_router(reports.router)
    app.include_router(seat_blocks.router)
    app.include_router(web.router)

    health.add_probes(app, database)  # /healthz, /livez, /readyz

    return app
