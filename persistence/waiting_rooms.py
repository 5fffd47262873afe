"""The waiting rooms' truth in PostgreSQL: rooms, entries, the opening and what an admission round reads.

Everything a waiting room promises survives a restart and the loss of Redis because it is here: a place
is a row (one per account and show, by a unique key), a number is written once, the admissions are a
watermark (``admitted_through``) moved forward in the same transaction that stamps the admitted entries.

Joins never wait on each other before the opening: each takes a share lock on the room row and inserts
its unnumbered pre-queue entry. The opening takes the row exclusively, so it sees every pre-queue entry
that will ever exist, numbers them in the order it is handed (``waiting_room.fairness``'s, by the seed)
and stores their Merkle root. After it, joins are numbered in order by taking the room's counter, one
short row lock each. Decisions (whether to admit, whether the show is sold out) are not made here:
``waiting_room.rounds`` makes them from what this module reads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.database import Database

__all__ = [
    "Entry",
    "JoinOutcome",
    "Room",
    "StockRow",
    "admit",
    "buying_figures",
    "count_entries",
    "create_room",
    "entry_of",
    "join",
    "lock_for_round",
    "open_passes",
    "open_room",
    "pre_queue",
    "room",
    "rooms_due",
    "stock",
    "update_room",
]


@dataclass(frozen=True, slots=True)
class Room:
    show_id: str
    seed: str
    commitment: str
    opens_at: datetime
    admission_window_seconds: int
    opened_at: datetime | None
    merkle_root: str | None
    pre_queue_size: int | None
    next_number: int
    admitted_through: int
    sold_out_at: datetime | None
    closed_at: datetime | None
    stats: dict[str, Any]
    now: datetime  # the database's clock when the row was read

    @property
    def numbered(self) -> int:
        """Entries numbered so far (every entry, once the room has opened)."""
        return self.next_number - 1


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    show_id: str
    user_id: str
    joined_at: datetime
    pre_queue: bool
    number: int | None
    admitted_at: datetime | None


@dataclass(frozen=True, slots=True)
class StockRow:
    total: int
    booked: int
    blocked: int
    held: int


# The queries below are put together from these constants (and a lock clause from a fixed set), never from
# input: hence the ``noqa: S608``.
ROOM_NOT_OPEN = "SW002"  # seatwise_join_queue: no such room, or it has not opened

_ROOM_COLUMNS = (
    "show_id, seed, commitment, opens_at, admission_window_seconds, opened_at, merkle_root, pre_queue_size, "
    "next_number, admitted_through, sold_out_at, closed_at, stats, clock_timestamp() AS now"
)
_ENTRY_COLUMNS = "id, show_id, user_id, joined_at, pre_queue, number, admitted_at"


def _room(row: Any) -> Room:
    return Room(**row._mapping)


def _entry(row: Any) -> Entry:
    return Entry(**row._mapping)


async def create_room(
    session: AsyncSession, show_id: str, opens_at: datetime, admission_window_seconds: int, seed: str, commitment: str
) -> Room:
    """A new room; part of the transaction that creates the show."""
    row = (
        await session.execute(
            text(
                "INSERT INTO waiting_rooms (show_id, seed, commitment, opens_at, admission_window_seconds) "  # noqa: S608
                f"VALUES (:show, :seed, :commitment, :opens_at, :window) RETURNING {_ROOM_COLUMNS}"
            ),
            {
                "show": show_id,
                "seed": seed,
                "commitment": commitment,
                "opens_at": opens_at,
                "window": admission_window_seconds,
            },
        )
    ).one()
    return _room(row)


async def room(session: AsyncSession, show_id: str, lock: str = "") -> Room | None:
    """``lock``: ``""``, ``"FOR SHARE"`` or ``"FOR UPDATE"``."""
    assert lock in ("", "FOR SHARE", "FOR UPDATE")
    row = (
        await session.execute(
            text(f"SELECT {_ROOM_COLUMNS} FROM waiting_rooms WHERE show_id = :show {lock}"),  # noqa: S608
            {"show": show_id},
        )
    ).first()
    return None if row is None else _room(row)


async def entry_of(session: AsyncSession, show_id: str, user_id: str) -> Entry | None:
    row = (
        await session.execute(
            text(f"SELECT {_ENTRY_COLUMNS} FROM queue_entries WHERE show_id = :show AND user_id = :user"),  # noqa: S608
            {"show": show_id, "user": user_id},
        )
    ).first()
    return None if row is None else _entry(row)


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    """``entries`` by account; empty with ``no_room``: the show has no waiting room; with ``must_open``:
    sales have opened but the pre-queue has not been ordered yet, so open the room (``open_room``) and
    join again."""

    entries: dict[str, Entry]
    no_room: bool = False
    must_open: bool = False


async def join(database: Database, show_id: str, user_ids: Sequence[str], opened: bool = False) -> JoinOutcome:
    """The entries of ``user_ids`` (distinct), created for those joining for the first time (idempotent):
    one transaction for the whole batch, whatever its size. ``opened``: the room is known to have opened
    (an opening is never undone), so the batch goes straight to the counter."""
    if not opened:
        outcome = await _join_before_opening(database, show_id, user_ids)
        if outcome is not None:
            return outcome
    # After the opening: the room's counter numbers the newcomers in the order they came (those who had
    # joined already keep their entries and take no number), all in one autocommitted statement, so the
    # counter's row lock is held for the statement alone (migration 0015).
    async with database.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            rows = await auto.execute(
                text(f"SELECT {_ENTRY_COLUMNS} FROM seatwise_join_queue(:show, :users, :ids)"),  # noqa: S608
                {"show": show_id, "users": list(user_ids), "ids": [str(uuid.uuid4()) for _ in user_ids]},
            )
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == ROOM_NOT_OPEN:
                return JoinOutcome({}, no_room=True)
            raise
        return JoinOutcome({e.user_id: e for e in map(_entry, rows)})


async def _join_before_opening(database: Database, show_id: str, user_ids: Sequence[str]) -> JoinOutcome | None:
    """The batch as pre-queue entries, or None: the room has opened."""
    async with database.session() as session:
        # Before the opening: a share lock, so the opening (exclusive) sees these entries or comes first.
        current = await room(session, show_id, "FOR SHARE")
        if current is None:
            return JoinOutcome({}, no_room=True)
        if current.opened_at is None:
            if current.now >= current.opens_at:
                return JoinOutcome({}, must_open=True)
            made = await _insert(session, show_id, [(u, None) for u in user_ids], pre_queue=True)
            if len(made) < len(user_ids):  # some had joined already
                made.update(await _entries_of(session, show_id, [u for u in user_ids if u not in made]))
            return JoinOutcome(made)
    return None


async def _entries_of(session: AsyncSession, show_id: str, user_ids: Sequence[str]) -> dict[str, Entry]:
    rows = await session.execute(
        text(f"SELECT {_ENTRY_COLUMNS} FROM queue_entries WHERE show_id = :show AND user_id = ANY(:users)"),  # noqa: S608
        {"show": show_id, "users": list(user_ids)},
    )
    return {e.user_id: e for e in map(_entry, rows)}


async def _insert(
    session: AsyncSession, show_id: str, accounts: Sequence[tuple[str, int | None]], *, pre_queue: bool
) -> dict[str, Entry]:
    """New entries, ``(user_id, number)`` each, in one statement, by account; an account that has one keeps
    it (and is not in the answer)."""
    rows = await session.execute(
        text(
            "INSERT INTO queue_entries (id, show_id, user_id, joined_at, pre_queue, number) "  # noqa: S608
            "SELECT e.id, :show, e.user_id, clock_timestamp(), :pre, e.number "
            "FROM unnest(CAST(:ids AS varchar[]), CAST(:users AS varchar[]), CAST(:numbers AS bigint[])) "
            f"AS e(id, user_id, number) ON CONFLICT (show_id, user_id) DO NOTHING RETURNING {_ENTRY_COLUMNS}"
        ),
        {
            "show": show_id,
            "pre": pre_queue,
            "ids": [str(uuid.uuid4()) for _ in accounts],
            "users": [u for u, _ in accounts],
            "numbers": [n for _, n in accounts],
        },
    )
    return {e.user_id: e for e in map(_entry, rows)}


async def open_room(database: Database, show_id: str, order: Callable[[str, list[str]], tuple[list[str], str]]) -> bool:
    """Close the pre-queue and number it; idempotent. False if it is not time yet (or no such room).

    ``order(seed, entry_ids)`` gives the entry ids in queue order and their Merkle root: the rule is
    ``waiting_room.fairness``'s, not this module's."""
    async with database.session() as session:
        seen = await room(session, show_id)  # opened long ago, nearly always: no lock for that
        if seen is None or seen.opened_at is not None or seen.now < seen.opens_at:
            return seen is not None and seen.opened_at is not None
    async with database.session() as session:
        current = await room(session, show_id, "FOR UPDATE")
        if current is None or current.opened_at is not None:
            return current is not None
        if current.now < current.opens_at:
            return False
        ids = [
            r.id
            for r in await session.execute(
                text("SELECT id FROM queue_entries WHERE show_id = :show AND number IS NULL"), {"show": show_id}
            )
        ]
        ordered, root = order(current.seed, ids)
        if ordered:
            await session.execute(
                text(
                    "UPDATE queue_entries q SET number = o.number FROM "
                    "unnest(CAST(:ids AS varchar[])) WITH ORDINALITY AS o(id, number) "
                    "WHERE q.id = o.id AND q.show_id = :show"
                ),
                {"ids": ordered, "show": show_id},
            )
        await session.execute(
            text(
                "UPDATE waiting_rooms SET opened_at = clock_timestamp(), merkle_root = :root, "
                "pre_queue_size = :size, next_number = :next WHERE show_id = :show"
            ),
            {"root": root, "size": len(ordered), "next": len(ordered) + 1, "show": show_id},
        )
        return True


async def pre_queue(session: AsyncSession, show_id: str, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
    """``(number, entry_id)`` of the pre-queue in queue order, a page at a time (published once opened)."""
    rows = await session.execute(
        text(
            "SELECT number, id FROM queue_entries WHERE show_id = :show AND pre_queue AND number > :after "
            "ORDER BY number LIMIT :limit"
        ),
        {"show": show_id, "after": after, "limit": limit},
    )
    return [(int(r.number), r.id) for r in rows]


async def count_entries(session: AsyncSession, show_id: str) -> int:
    got = await session.execute(text("SELECT count(*) FROM queue_entries WHERE show_id = :show"), {"show": show_id})
    return int(got.scalar_one())


async def rooms_due(session: AsyncSession) -> list[str]:
    """Rooms an admission round has work for: sales open (or due to), not sold out, not closed."""
    rows = await session.execute(
        text(
            "SELECT show_id FROM waiting_rooms WHERE sold_out_at IS NULL AND closed_at IS NULL "
            "AND opens_at <= clock_timestamp() ORDER BY opens_at"
        )
    )
    return [r.show_id for r in rows]


async def lock_for_round(session: AsyncSession, show_id: str) -> bool:
    """One admission round per room at a time over every API process: a transaction-scoped advisory lock."""
    got = await session.execute(
        text("SELECT pg_try_advisory_xact_lock(hashtext('seatwise-waiting-room'), hashtext(:show))"), {"show": show_id}
    )
    return bool(got.scalar_one())


async def stock(session: AsyncSession, show_id: str) -> StockRow:
    """The show's seats as PostgreSQL has them; a hold past its expiry counts as free."""
    row = (
        await session.execute(
            text(
                "SELECT "
                "(SELECT count(*) FROM screen_seats ss JOIN shows s ON s.screen_id = ss.screen_id "
                " WHERE s.id = :show) AS total, "
                "(SELECT count(*) FROM seat_claims WHERE show_id = :show AND booking_id IS NOT NULL) AS booked, "
                "(SELECT count(*) FROM blocked_seats WHERE show_id = :show) AS blocked, "
                "(SELECT count(*) FROM seat_claims WHERE show_id = :show AND hold_id IS NOT NULL "
                " AND expires_at > now()) AS held"
            ),
            {"show": show_id},
        )
    ).one()
    return StockRow(int(row.total), int(row.booked), int(row.blocked), int(row.held))


async def open_passes(session: AsyncSession, show_id: str, window_seconds: int) -> int:
    """Admitted accounts whose window is open and who have not held anything of the show yet. A pass is
    spent by the first hold: if that hold is released or expires, its seats go to the next in line (the
    account may still hold again while its window lasts, but is no longer counted on)."""
    row = (
        await session.execute(
            text(
                "SELECT count(*) FROM queue_entries q WHERE q.show_id = :show AND q.admitted_at IS NOT NULL "
                "AND q.admitted_at > now() - make_interval(secs => :window) "
                "AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.user_id = q.user_id AND h.show_id = q.show_id)"
            ),
            {"show": show_id, "window": window_seconds},
        )
    ).one()
    return int(row[0])


async def buying_figures(session: AsyncSession, show_id: str, window_seconds: int) -> dict[str, float | int]:
    """What buyers of this show did: bookings and their mean and variance of seats, and of the admitted
    whose outcome is known (bought, or window over), how many bought."""
    row = (
        await session.execute(
            text(
                "WITH b AS (SELECT user_id, cardinality(seat_ids) AS n FROM bookings "
                "           WHERE show_id = :show AND status = 'confirmed'), "
                "buyers AS (SELECT DISTINCT user_id FROM b) "
                "SELECT (SELECT count(*) FROM b) AS bookings, (SELECT avg(n) FROM b) AS mean, "
                "(SELECT var_samp(n) FROM b) AS variance, "
                "count(*) FILTER (WHERE buyers.user_id IS NOT NULL) AS bought, count(*) AS decided "
                "FROM queue_entries q LEFT JOIN buyers ON buyers.user_id = q.user_id "
                "WHERE q.show_id = :show AND q.admitted_at IS NOT NULL "
                "AND (buyers.user_id IS NOT NULL OR q.admitted_at <= now() - make_interval(secs => :window))"
            ),
            {"show": show_id, "window": window_seconds},
        )
    ).one()
    return {
        "bookings": int(row.bookings),
        "mean": float(row.mean or 0.0),
        "variance": float(row.variance or 0.0),
        "bought": int(row.bought),
        "decided": int(row.decided),
    }


async def admit(session: AsyncSession, show_id: str, after: int, through: int) -> None:
    """Admit the entries numbered ``after + 1`` to ``through`` now."""
    await session.execute(
        text(
            "UPDATE queue_entries SET admitted_at = now() "
            "WHERE show_id = :show AND number > :after AND number <= :through AND admitted_at IS NULL"
        ),
        {"show": show_id, "after": after, "through": through},
    )


async def update_room(
    session: AsyncSession,
    show_id: str,
    *,
    admitted_through: int,
    stats: dict[str, Any],
    sold_out: bool = False,
    closed: bool = False,
) -> None:
    await session.execute(
        text(
            "UPDATE waiting_rooms SET admitted_through = :through, stats = CAST(:stats AS jsonb), "
            "sold_out_at = CASE WHEN :sold_out AND sold_out_at IS NULL THEN now() ELSE sold_out_at END, "
            "closed_at = CASE WHEN :closed AND closed_at IS NULL THEN now() ELSE closed_at END "
            "WHERE show_id = :show"
        ),
        {
            "through": admitted_through,
            "stats": json.dumps(stats),
            "sold_out": sold_out,
            "closed": closed,
            "show": show_id,
        },
    )
