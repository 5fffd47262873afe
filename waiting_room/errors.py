"""The waiting room's refusals: domain errors like the reservation core's, mapped to HTTP in ``api/problems.py``."""

from __future__ import annotations

from actors.errors import BookingError

__all__ = ["NoWaitingRoom", "NotAdmitted", "NotInQueue", "NotOnWaitingList"]


class NoWaitingRoom(BookingError):
    """The show sells without a waiting room: there is no queue to join."""

    code = "no-waiting-room"
    default_detail = "this show has no waiting room"


class NotInQueue(BookingError):
    """The caller never joined this show's waiting room."""

    code = "not-in-queue"
    default_detail = "you have not joined this show's waiting room"


class NotAdmitted(BookingError):
    """A hold on a show with a waiting room by an account the room has not admitted (or whose admission
    window has lapsed): nothing is held."""

    code = "not-admitted"
    default_detail = "this show sells through its waiting room, and it has not admitted you (yet)"


class NotOnWaitingList(BookingError):
    """The caller has no place on this show's waiting list (or has left it)."""

    code = "not-on-waiting-list"
    default_detail = "you are not on this show's waiting list"
