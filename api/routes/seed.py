"""The seed design's v0 routes, with the paths exactly as that document wrote them.

They are thin aliases over the same use cases as ``/api/v1``. ``event_id`` is a show's id. Routes that
need a token take it from the ``AuthorizationToken`` header (a Bearer token works too).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.auth import SeedCaller, seed_caller
from api.deps import Bookings, Db, booking_of, seatmaps_of
from api.problems import BOOKING, ApiProblem, problem_responses, replayed_problem
from api.routes.catalog import fetch
from api.schemas import (
    BOOKING_LINKS,
    EntityId,
    IdempotencyKey,
    SeedAvailableOut,
    SeedHoldIn,
    SeedHoldOut,
    SeedMovieOut,
    SeedPaymentIn,
    SeedPaymentOut,
    SeedTheaterOut,
    ShowId,
    answered,
    links,
    model_response,
)
from booking.service import BookingService, HoldSpec, PaymentRequest
from persistence import catalog
from persistence.catalog import MovieInfo

router = APIRouter(tags=["seed API (v0)"], responses=problem_responses(*BOOKING))


def seed_movie(m: MovieInfo) -> SeedMovieOut:
    return SeedMovieOut(movie_id=m.id, title=m.title, details=m.description, length_minutes=m.duration_minutes)


@router.get("/GetListOfMovie/api/v0/", response_model=list[SeedMovieOut])
async def get_list_of_movie(db: Db) -> list[SeedMovieOut]:
    async with db.session() as session:
        return [seed_movie(m) for m in await catalog.list_movies(session, limit=500)]


@router.get("/GetMovieDetail/api/v0/{movie_id}", response_model=SeedMovieOut)
async def get_movie_detail(movie_id: EntityId, db: Db) -> SeedMovieOut:
    return seed_movie(await fetch(db, catalog.get_movie, "movie", movie_id))


@router.get("/GetTheaterDetail/api/v0/{theater_id}", response_model=SeedTheaterOut)
async def get_theater_detail(theater_id: EntityId, _: SeedCaller, db: Db) -> SeedTheaterOut:
    theater = await fetch(db, catalog.get_theater, "theater", theater_id)
    return SeedTheaterOut.model_validate(theater, from_attributes=True)


@router.get("/GetAvailableSeat/api/v0/{movie_id}/{theater_id}", response_model=SeedAvailableOut)
async def get_available_seat(
    movie_id: EntityId,
    theater_id: EntityId,
    _: SeedCaller,
    booking: Bookings,
    request: Request,
    event_id: Annotated[ShowId | None, Query()] = None,
) -> SeedAvailableOut:
    """Available seats of the named show, or of the earliest show of that movie there still on sale."""
    show = await booking.resolve_show(event_id, movie_id, theater_id)
    view = await seatmaps_of(request).read(show.id)
    return SeedAvailableOut(event_id=show.id, available_seat=view.available())


@router.post("/HoldSeat/api/v0/{movie_id}", response_model=SeedHoldOut)
async def hold_seat(
    movie_id: EntityId, body: SeedHoldIn, request: Request, idempotency_key: IdempotencyKey = None
) -> Any:
    """Hold all the seats or none (409). A 200 means they are the caller's until `hold_end_time`."""
    # The hot path: the caller and the service are looked up here rather than as dependencies (api/deps.py).
    caller = await seed_caller(request)
    return await seed_hold_answer(booking_of(request), movie_id, caller.user_id, body, idempotency_key)


async def seed_hold_answer(
    booking: BookingService, movie_id: str, user_id: str, body: SeedHoldIn, idempotency_key: str | None
) -> Response:
    """The answer to a validated, authenticated HoldSeat: the route's, and the fast path's (api/fast_holds.py)."""
    if body.movie_id != movie_id:
        raise ApiProblem(400, "movie_id in the path and the body differ", "movie-mismatch")
    show = await booking.resolve_show(body.event_id, movie_id, body.theater_id)
    answer = await booking.hold_request(show.id, user_id, HoldSpec(tuple(body.selected_seat)), idempotency_key)
    if answer.problem_status is not None:
        return replayed_problem(answer.problem_status, answer.body)
    hold = answer.body
    return model_response(
        SeedHoldOut(
            hold_end_time=hold["expires_at"],
            event_id=show.id,
            selected_seat=hold["seat_ids"],
            price=hold.get("total", hold["amount"]),
            hold_id=hold["hold_id"],
        )
    )


@router.post(
    "/SubmitPayment/api/v0/{event_id}",
    response_model=SeedPaymentOut,
    responses={
        402: {"description": "declined; the hold stays yours until it expires"},
        **links(200, **BOOKING_LINKS),
    },
)
async def submit_payment(
    event_id: ShowId,
    body: SeedPaymentIn,
    caller: SeedCaller,
    booking: Bookings,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Pay for every seat the caller holds on this show, as one booking."""
    if body.event_id != event_id:
        raise ApiProblem(400, "event_id in the path and the body differ", "event-mismatch")
    answer = await booking.pay(caller.user_id, PaymentRequest.of(event_id, body.paymentInfo.digits, idempotency_key))
    return answered(answer)
