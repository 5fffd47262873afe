"""The ticket service the API uses: issues a booking's codes and verifies scanned ones, with the key ring
cached in the process.

The keys and the master TOTP secret live in the database (``persistence.ticket_keys`` implements
``KeyStore``); reading them on every scan would put a query on the door's hot path, so the ring is kept
for ``refresh_seconds`` (30 s: a rotation made by another API process signs here within that) and reloaded
at once, at most once a second, when a code names a key this process does not know yet (a key another
process has just made). The master secret never changes and is read once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tickets.codes import (
    TOTP_DIGITS,
    TOTP_PERIOD_SECONDS,
    Invalid,
    Kind,
    TicketClaims,
    rotating_secret,
    sign,
)
from tickets.codes import verify as verify_code
from tickets.keys import KeyRing

REFRESH_SECONDS = 30.0
UNKNOWN_KEY_RELOAD_SECONDS = 1.0


class KeyStore(Protocol):
    """Where the keys and the master TOTP secret are kept."""

    async def load_ring(self, now: datetime) -> KeyRing: ...

    async def master_secret(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Ticket:
    """A confirmed booking as its ticket names it."""

    booking_id: str
    show_id: str
    seats: tuple[str, ...]
    holder: str

    def claims(self, kind: Kind) -> TicketClaims:
        return TicketClaims(self.booking_id, self.show_id, self.seats, self.holder, kind)


@dataclass(frozen=True, slots=True)
class RotatingTicket:
    """What the ticket page needs to show a code that changes every ``period`` seconds: the signed
    ``token``, and the TOTP ``secret`` (base32, SHA-1, ``digits`` digits) whose code goes after ``~``."""

    token: str
    secret: str
    period: int = TOTP_PERIOD_SECONDS
    digits: int = TOTP_DIGITS


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TicketIssuer:
    def __init__(
        self,
        store: KeyStore,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._master: str | None = None
        self._lock = asyncio.Lock()

    async def ring(self, max_age: float | None = None) -> KeyRing:
        """The key ring, reloaded if it is older than ``max_age`` seconds (default ``refresh_seconds``).
        Concurrent callers share one load."""
        max_age = self._refresh_seconds if max_age is None else max_age
        if self._ring is not None and self._monotonic() - self._loaded_at < max_age:
            return self._ring
        async with self._lock:
            if self._ring is None or self._monotonic() - self._loaded_at >= max_age:
                self._ring = await self._store.load_ring(self._clock())
                self._loaded_at = self._monotonic()
            return self._ring

    def invalidate(self) -> None:
        """Forget the ring (this process just rotated the keys): the next use reloads it."""
        self._ring = None

    async def master(self) -> str:
        if self._master is None:
            self._master = await self._store.master_secret()
        return self._master

    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return (await self.ring()).jwks()

    async def static_code(self, ticket: Ticket) -> str:
        """The printed ticket's code: a static signed token, the whole code by itself."""
        return sign(await self.ring(), ticket.claims("static"), self._clock())

    async def rotating(self, ticket: Ticket) -> RotatingTicket:
        """The ticket page's rotating token and the booking's TOTP secret."""
        token = sign(await self.ring(), ticket.claims("rotating"), self._clock())
        return RotatingTicket(token, rotating_secret(await self.master(), ticket.booking_id))

    async def verify(self, code: str, show_id: str, now: datetime) -> TicketClaims | Invalid:
        """The ticket a scanned ``code`` names if it is genuine for ``show_id`` at ``now``; else ``Invalid``."""
        master = await self.master()
        verdict = verify_code(code, show_id, await self.ring(), master, now)
        if isinstance(verdict, Invalid) and verdict.reason == "unknown_key":
            # Perhaps a key another process made since this one loaded its ring: look once more.
            verdict = verify_code(code, show_id, await self.ring(UNKNOWN_KEY_RELOAD_SECONDS), master, now)
        return verdict
