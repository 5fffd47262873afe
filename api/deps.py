"""FastAPI dependency aliases for the objects ``main.py`` wires into ``app.state``.

Each object is read by one ``state_reader``. The hot routes call the readers themselves (``booking_of``,
``seatmaps_of``, ``rooms_of``) with the ``Request`` they take, instead of declaring a dependency: each
dependency level costs FastAPI a full parameter-solving pass per request (about a fifth of a hold's CPU in
the API process, measured with ``bench.front_cost``). The others go through the aliases at the bottom.

The dependencies are ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool, a
thread hop per request that the hot path cannot afford.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from api.auth import TokenService
from booking.door import DoorService
from booking.service import BookingService
from persistence.database import Database
from seat_views.reader import SeatMapReader
from settings import Settings
from tickets.issuer import TicketIssuer
from waiting_room.service import WaitingRooms

T = TypeVar("T")


def state_reader(name: str, kind: type[T]) -> Callable[[Request], T]:
    """Reads ``app.state.<name>``, which ``main.py`` set to a ``kind``."""

    def read(request: Request) -> T:
        value: T = getattr(request.app.state, name)
        return value

    return read


def _dependency(read: Callable[[Request], T]) -> Callable[[Request], Coroutine[Any, Any, T]]:
    async def dependency(request: Request) -> T:
        return read(request)

    return dependency


booking_of = state_reader("booking", BookingService)
seatmaps_of = state_reader("seatmaps", SeatMapReader)
rooms_of = state_reader("waiting_rooms", WaitingRooms)  # the queue's routes

Db = Annotated[Database, Depends(_dependency(state_reader("db", Database)))]
Rooms = Annotated[WaitingRooms, Depends(_dependency(rooms_of))]
Bookings = Annotated[BookingService, Depends(_dependency(booking_of))]
Tokens = Annotated[TokenService, Depends(_dependency(state_reader("tokens", TokenService)))]
AppSettings = Annotated[Settings, Depends(_dependency(state_reader("settings", Settings)))]
Tickets = Annotated[TicketIssuer, Depends(_dependency(state_reader("tickets", TicketIssuer)))]
Door = Annotated[DoorService, Depends(_dependency(state_reader("door", DoorService)))]
