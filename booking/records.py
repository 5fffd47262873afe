"""``Records`` on PostgreSQL: each call one unit of work on the API's ``Database``, through the
``persistence`` functions the service used to call inline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from persistence import catalog, idempotency, payments
from persistence.catalog import BookingInfo, ShowInfo
from persistence.database import Database
from persistence.idempotency import ClaimResult


class SqlRecords:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def claim_key(self, user_id: str, key: str, fingerprint: str, ttl: timedelta) -> ClaimResult:
        async with self.db.session() as session:
            return await idempotency.claim(session, user_id, key, fingerprint, ttl)

    async def finish_key(self, user_id: str, key: str, status: int, response: dict[str, Any]) -> None:
        async with self.db.session() as session:
            await idempotency.finish(session, user_id, key, status, response)

    async def forget_key(self, user_id: str, key: str) -> None:
        async with self.db.session() as session:
            await idempotency.forget(session, user_id, key)

    async def earliest_on_sale(self, movie_id: str, theater_id: str, after: datetime) -> ShowInfo | None:
        async with self.db.session() as session:
            shows = await catalog.list_shows(
                session, movie_id=movie_id, theater_id=theater_id, on_sale_after=after, limit=1
            )
        return shows[0] if shows else None

    async def latest_hold_status(self, show_id: str, user_id: str) -> str | None:
        async with self.db.session() as session:
            return await catalog.latest_hold_status(session, show_id, user_id)

    async def booking_paid_by(self, payment_key: str) -> BookingInfo | None:
        async with self.db.session() as session:
            row = await payments.get(session, payment_key)
            return await catalog.get_booking(session, row.booking_id) if row and row.booking_id else None

    async def owe_refund(self, payment_key: str, charge_id: str, amount: Decimal, detail: str) -> None:
        async with self.db.session() as session:
            await payments.owe_refund(session, payment_key, charge_id, amount, detail)

    async def get_booking(self, booking_id: str) -> BookingInfo | None:
        async with self.db.session() as session:
            return await catalog.get_booking(session, booking_id)

    async def get_show(self, show_id: str) -> ShowInfo | None:
        async with self.db.session() as session:
            return await catalog.get_show(session, show_id)

    async def refunds_owed(self, booking_ids: Sequence[str]) -> list[str]:
        async with self.db.session() as session:
            return await payments.of_bookings(session, booking_ids)
