"""The ticket keys' truth in PostgreSQL (``ticket_keys``, migration 0017), the master TOTP secret, and the
name a ticket shows.

Every API process reads the same keys, so a code signed by one verifies in all. Keys are numbered
(``k1``, ``k2``, …, ``tickets.keys``): a process that finds no key that may sign stores the next number
with ``INSERT … ON CONFLICT DO NOTHING`` and reads back whichever row won, so processes starting together
agree on one key; two admins rotating at the same moment make one new key, not two.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.catalog import service_secret
from persistence.database import Database
from tickets.keys import KeyRing, StoredKey, new_key

TOTP_SECRET_NAME = "ticket-totp"  # noqa: S105 (the name of the secret, not the secret)

_NEXT_NUMBER = text("SELECT coalesce(max(substring(kid FROM '^k([0-9]+)$')::integer), 0) + 1 FROM ticket_keys")
_INSERT = text(
    "INSERT INTO ticket_keys (kid, private_key, public_key, created_at) VALUES (:kid, :private, :public, :now) "
    "ON CONFLICT (kid) DO NOTHING"
)


async def _live(session: AsyncSession, now: datetime) -> list[StoredKey]:
    rows = await session.execute(
        text(
            "SELECT kid, private_key, public_key, retires_at FROM ticket_keys "
            "WHERE retires_at IS NULL OR retires_at > :now"
        ),
        {"now": now},
    )
    return [StoredKey(r.kid, r.private_key, r.public_key, r.retires_at) for r in rows]


async def _add_next_key(session: AsyncSession, now: datetime) -> str:
    """Store the next-numbered key, unless another transaction stored that number first; its kid."""
    number = (await session.execute(_NEXT_NUMBER)).scalar_one()
    kid, private_pem, public_pem = new_key(number)
    await session.execute(_INSERT, {"kid": kid, "private": private_pem, "public": public_pem, "now": now})
    return kid


async def load_ring(session: AsyncSession, now: datetime) -> KeyRing:
    """The key ring at ``now``; the first key is made if no key may sign (a new database)."""
    stored = await _live(session, now)
    if not any(k.retires_at is None for k in stored):
        await _add_next_key(session, now)
        stored = await _live(session, now)
    return KeyRing.of(stored, now)


async def rotate(session: AsyncSession, now: datetime, retire_after: timedelta) -> str:
    """A new key signs from ``now`` on; the key that signed until now verifies until ``now + retire_after``
    (0 retires it at once: a key that leaked). The new key's kid."""
    kid = await _add_next_key(session, now)
    await session.execute(
        text("UPDATE ticket_keys SET retires_at = :retires WHERE retires_at IS NULL AND kid <> :kid"),
        {"retires": now + retire_after, "kid": kid},
    )
    return kid


async def retiring(session: AsyncSession, now: datetime) -> list[tuple[str, datetime]]:
    """The keys that still verify but no longer sign, with when each retires, soonest first."""
    rows = await session.execute(
        text("SELECT kid, retires_at FROM ticket_keys WHERE retires_at > :now ORDER BY retires_at, kid"),
        {"now": now},
    )
    return [(r.kid, r.retires_at) for r in rows]


async def master_secret(session: AsyncSession) -> str:
    """The master secret the per-booking TOTP secrets are derived from (made once, shared by all processes)."""
    return await service_secret(session, TOTP_SECRET_NAME)


async def holder_name(session: AsyncSession, booking_id: str) -> str | None:
    """The name a booking's ticket shows: the box-office customer's, else the account's name, else its
    e-mail. None for an unknown booking."""
    row = await session.execute(
        text(
            "SELECT coalesce(nullif(b.customer_name, ''), nullif(u.name, ''), u.email) FROM bookings b "
            "JOIN users u ON u.id = b.user_id WHERE b.id = :id"
        ),
        {"id": booking_id},
    )
    name: str | None = row.scalar_one_or_none()
    return name


class SqlKeyStore:
    """``tickets.issuer.KeyStore`` on the service's database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load_ring(self, now: datetime) -> KeyRing:
        async with self._database.session() as session:
            return await load_ring(session, now)

    async def master_secret(self) -> str:
        async with self._database.session() as session:
            return await master_secret(session)
