"""FastAPI dependency aliases for the objects ``main.py`` wires into ``app.state``.

They are ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool, a thread hop per
request that the hot path cannot afford.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import TokenService
from booking.service import BookingService
from persistence.database import Database
from seat_views.reader import SeatMapReader
from settings import Settings
from waiting_room.service import WaitingRooms


async def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def booking_of(request: Request) -> BookingService:
    """The booking service, for the hot routes that take ``Request`` instead of the ``Bookings``
    dependency: each dependency level costs FastAPI a full parameter-solving pass per request (about a
    fifth of a hold's CPU in the API process, measured with ``bench.front_cost``)."""
    service: BookingService = request.app.state.booking
    return service


def seatmaps_of(request: Request) -> SeatMapReader:
    """The seat-map reader, for routes that take ``Request`` (see ``booking_of``)."""
    seatmaps: SeatMapReader = request.app.state.seatmaps
    return seatmaps


async def _booking(request: Request) -> BookingService:
    return booking_of(request)


async def _tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def rooms_of(request: Request) -> WaitingRooms:
    """The waiting rooms, for the queue's routes that take ``Request`` (see ``booking_of``)."""
    rooms: WaitingRooms = request.app.state.waiting_rooms
    return rooms


async def _rooms(request: Request) -> WaitingRooms:
    return rooms_of(request)


Db = Annotated[Database, Depends(_db)]
Rooms = Annotated[WaitingRooms, Depends(_rooms)]
Bookings = Annotated[BookingService, Depends(_booking)]
Tokens = Annotated[TokenService, Depends(_tokens)]
AppSettings = Annotated[Settings, Depends(_settings)]
