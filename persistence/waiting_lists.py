"""The waiting lists' truth in PostgreSQL: who asked for seats of a sold-out show, in which order, and the
offers made to them. Decisions are ``waiting_room.waiting_list``'s; this module reads and writes rows.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.outbox_kinds import WAITLIST_OFFERED

__all__ = [
    "ListEntry",
    "free_seats",
    "hold_state",
    "join",
    "leave",
    "mark",
    "offer",
    "open_entries",
    "shows_with_open_entries",
]

_COLUMNS = "id, show_id, user_id, seats, position, joined_at, state, offer_hold_id, offered_at, offer_expires_at"


@dataclass(frozen=True, slots=True)
class ListEntry:
    id: str
    show_id: str
    user_id: str
    seats: int
    position: int
    joined_at: datetime
    state: str  # waiting | offered | booked | lapsed | left
    offer_hold_id: str | None
    offered_at: datetime | None
    offer_expires_at: datetime | None
    ahead: int = 0  # entries before this one still waiting or holding an offer


def _entry(row: Any, ahead: int = 0) -> ListEntry:
    return ListEntry(**{k: v for k, v in row._mapping.items() if k != "ahead"}, ahead=ahead)


async def join(session: AsyncSession, show_id: str, user_id: str, seats: int) -> ListEntry:
    """The account's place (one per show): a new one at the end, or the one it has (a place it left or
    whose offer lapsed is taken again, at the end)."""
    await session.execute(
        text(
            "INSERT INTO waiting_list (id, show_id, user_id, seats) VALUES (:id, :show, :user, :seats) "
            "ON CONFLICT (show_id, user_id) DO UPDATE SET state = 'waiting', seats = EXCLUDED.seats, "
            "position = nextval(pg_get_serial_sequence('waiting_list', 'position')), joined_at = clock_timestamp(), "
            "offer_hold_id = NULL, offered_at = NULL, offer_expires_at = NULL "
            "WHERE waiting_list.state IN ('left', 'lapsed')"
        ),
        {"id": str(uuid.uuid4()), "show": show_id, "user": user_id, "seats": seats},
    )
    entry = await entry_of(session, show_id, user_id)
    assert entry is not None
    return entry


async def entry_of(session: AsyncSession, show_id: str, user_id: str) -> ListEntry | None:
    row = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS}, (SELECT count(*) FROM waiting_list o WHERE o.show_id = w.show_id "  # noqa: S608
                "AND o.state IN ('waiting', 'offered') AND o.position < w.position) AS ahead "
                "FROM waiting_list w WHERE show_id = :show AND user_id = :user"
            ),
            {"show": show_id, "user": user_id},
        )
    ).first()
    return None if row is None else _entry(row, int(row.ahead))


async def leave(session: AsyncSession, show_id: str, user_id: str) -> bool:
    result = await session.execute(
        text(
            "UPDATE waiting_list SET state = 'left' WHERE show_id = :show AND user_id = :user "
            "AND state IN ('waiting', 'offered') RETURNING id"
        ),
        {"show": show_id, "user": user_id},
    )
    return result.first() is not None


async def shows_with_open_entries(session: AsyncSession) -> list[str]:
    rows = await session.execute(
        text("SELECT DISTINCT show_id FROM waiting_list WHERE state IN ('waiting', 'offered')")
    )
    return [r.show_id for r in rows]


async def open_entries(session: AsyncSession, show_id: str) -> list[ListEntry]:
    """Entries waiting or holding an offer, in list order."""
    rows = await session.execute(
        text(
            f"SELECT {_COLUMNS} FROM waiting_list WHERE show_id = :show AND state IN ('waiting', 'offered') "  # noqa: S608
            "ORDER BY position"
        ),
        {"show": show_id},
    )
    return [_entry(r) for r in rows]


async def hold_state(session: AsyncSession, hold_id: str) -> tuple[str, bool] | None:
    """The hold's status and whether a payment is under way for it."""
    row = (
        await session.execute(
            text("SELECT status, payment_key IS NOT NULL AS paying FROM holds WHERE id = :id"), {"id": hold_id}
        )
    ).first()
    return None if row is None else (str(row.status), bool(row.paying))


async def free_seats(session: AsyncSession, show_id: str) -> list[str]:
    """The show's seats nobody holds, owns or has blocked right now (an expired hold's seat is free), in the
    order of the seat map (row nearest the screen first, then by number)."""
    rows = await session.execute(
        text(
            "SELECT ss.seat_id FROM screen_seats ss JOIN shows s ON s.screen_id = ss.screen_id "
            "WHERE s.id = :show "
            "AND NOT EXISTS (SELECT 1 FROM seat_claims c WHERE c.show_id = s.id AND c.seat_id = ss.seat_id "
            "                AND (c.booking_id IS NOT NULL OR c.expires_at > now())) "
            "AND NOT EXISTS (SELECT 1 FROM blocked_seats b WHERE b.show_id = s.id AND b.seat_id = ss.seat_id) "
            "ORDER BY ss.row_index, ss.number"
        ),
        {"show": show_id},
    )
    return [r.seat_id for r in rows]


async def offer(
    session: AsyncSession, entry: ListEntry, hold_id: str, seat_ids: list[str], expires_at: datetime
) -> None:
    """Record the offer and, in the same transaction, the notification that tells the account."""
    await session.execute(
        text(
            "UPDATE waiting_list SET state = 'offered', offer_hold_id = :hold, offered_at = now(), "
            "offer_expires_at = :expires WHERE id = :id"
        ),
        {"hold": hold_id, "expires": expires_at, "id": entry.id},
    )
    payload = {
        "show_id": entry.show_id,
        "user_id": entry.user_id,
        "hold_id": hold_id,
        "seat_ids": seat_ids,
        "expires_at": expires_at.isoformat(),
    }
    await session.execute(
        text(
            "INSERT INTO notification_outbox (kind, user_id, show_id, payload) "
            "VALUES (:kind, :user, :show, CAST(:payload AS jsonb))"
        ),
        {"kind": WAITLIST_OFFERED, "user": entry.user_id, "show": entry.show_id, "payload": json.dumps(payload)},
    )


async def mark(session: AsyncSession, entry_id: str, state: str) -> None:
    """``booked`` or ``lapsed``: the end of an offer."""
    assert state in ("booked", "lapsed")
    await session.execute(
        text("UPDATE waiting_list SET state = :state WHERE id = :id AND state = 'offered'"),
        {"state": state, "id": entry_id},
    )
