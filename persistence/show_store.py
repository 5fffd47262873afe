"""The show actor's journal in PostgreSQL (``actors.journal.Journal``): load a show, commit its events.

This is the only code that writes holds, bookings, seat claims and the seat ledger. It speaks psycopg 3
directly (no ORM on the hot path) and commits a whole batch of events in one transaction, sent in
pipeline mode so that a batch costs one round trip. Every commit first checks, under a share lock on
the show row, that the actor's epoch is still the show's current one (``seatwise_check_epoch``, sent
ahead of the writes, not awaited before them): a newer activation bumps the epoch
with an UPDATE, which waits for in-flight commits of the old copy and then makes all of its later commits
fail with ``StaleEpoch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from actors.errors import Moved, StaleEpoch, UnknownShow
from actors.journal import CommitExtras, IdempotentAnswer, PaymentOrigin, StoredShow
from actors.seat_map_core import (
    Admission,
    Admitted,
    Booking,
    BookingCancelled,
    BookingConfirmed,
    EntryConflict,
    Event,
    Exited,
    Hold,
    HoldExtended,
    HoldReleased,
    PaymentAborted,
    PaymentStarted,
    SeatsBlocked,
    SeatsHeld,
    SeatSpec,
    SeatsUnblocked,
    ShowCancelled,
)
from persistence.outbox_kinds import BOOKING_CANCELLED, BOOKING_CONFIRMED
from persistence.urls import libpq_url

R = TypeVar("R")

STALE_EPOCH_SQLSTATE = "SW001"  # raised by seatwise_check_epoch (migration 0012)
HOLD_END_STATUS = {"released": "released", "expired": "expired", "sales_closed": "closed"}


def connection_options(timeout_seconds: float) -> dict[str, Any]:
    """How a show's connections are opened: bounded connect, statements and idle transactions."""
    timeout_ms = int(timeout_seconds * 1000)
    return {
        "connect_timeout": max(1, timeout_ms // 1000),
        "options": f"-c statement_timeout={timeout_ms} -c idle_in_transaction_session_timeout=60000",
    }


def show_pool(database_url: str, timeout_seconds: float, max_size: int) -> AsyncConnectionPool:
    """A pool that the shows of one host share (opened by the caller: ``await pool.open()``)."""
    return AsyncConnectionPool(
        libpq_url(database_url),
        min_size=1,
        max_size=max_size,
        kwargs=connection_options(timeout_seconds),
        timeout=timeout_seconds,
        open=False,
    )


class ShowStore:
    """A show's journal. A show in a process of its own owns one PostgreSQL connection; shows hosted
    together borrow one from their host's pool for each activation or commit (``pool``)."""

    def __init__(
        self,
        database_url: str,
        timeout_seconds: float,
        pool: AsyncConnectionPool | None = None,
        group: GroupCommit | None = None,
    ) -> None:
        self._url = libpq_url(database_url)
        self._timeout_seconds = timeout_seconds
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._pool = pool
        self._group = group

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._pool is not None:
            # The pool rolls back or discards a connection a failure left in a transaction or broken.
            async with self._pool.connection() as pooled:
                yield pooled
            return
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self._url, **connection_options(self._timeout_seconds))
        yield self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def discard_connection(self) -> None:
        """Drop the connection after a failure whose outcome is unknown; the next call reconnects."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def activate(self, show_id: str, own_actor: bool | None = None) -> StoredShow:
        """Take a new epoch for ``show_id`` and load everything the actor needs to serve it. With
        ``own_actor`` set, only if the show's placement is that (an actor of its own, or a shared host):
        otherwise ``Moved``, with no epoch taken, so a copy in the wrong place never fences the right one."""
        async with self._connected() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "UPDATE shows SET epoch = epoch + 1 WHERE id = %s AND own_actor = coalesce(%s, own_actor) "
                "RETURNING epoch, starts_at, hold_ttl_seconds, status, screen_id, prices, "
                "sales_open_at, sales_close_at, reentry",
                (show_id, own_actor),
            )
            show = await cur.fetchone()
            if show is None:
                await cur.execute("SELECT own_actor FROM shows WHERE id = %s", (show_id,))
                placed = await cur.fetchone()
                if placed is None:
                    raise UnknownShow(show_id)
                raise Moved(show_id, bool(placed["own_actor"]))
            prices: dict[str, Any] = show["prices"]
            # Each SELECT names its columns as the record's fields.
            # The layout in display order: sections as the venue lists them, then rows and numbers.
            await cur.execute(
                "SELECT s.seat_id, s.row_label AS row, s.row_index, s.number, s.category, s.section, s.standing "
                "FROM screen_seats s LEFT JOIN screen_sections c ON c.screen_id = s.screen_id AND c.code = s.section "
                "WHERE s.screen_id = %s ORDER BY c.ordinal NULLS FIRST, s.row_index, s.number",
                (show["screen_id"],),
            )
            seats = _layout(await cur.fetchall(), prices)
            await cur.execute(
                "SELECT id AS hold_id, user_id, seat_ids, created_at, expires_at, amount, extensions, fee, "
                "payment_key, resume_expires_at FROM holds "
                "WHERE show_id = %s AND status = 'active' ORDER BY created_at, id",
                (show_id,),
            )
            holds = _records(Hold, await cur.fetchall(), "seat_ids")
            await cur.execute(
                "SELECT id AS booking_id, user_id, seat_ids, hold_ids, amount, created_at, fee FROM bookings "
                "WHERE show_id = %s AND status = 'confirmed' ORDER BY created_at, id",
                (show_id,),
            )
            bookings = _records(Booking, await cur.fetchall(), "seat_ids", "hold_ids")
            await cur.execute("SELECT seat_id FROM blocked_seats WHERE show_id = %s", (show_id,))
            blocked = tuple(r["seat_id"] for r in await cur.fetchall())
            await cur.execute(
                "SELECT booking_id, entry, gate, admitted_at AS at, offline, exited_at, exit_gate FROM admissions "
                "WHERE show_id = %s ORDER BY booking_id, entry",
                (show_id,),
            )
            admissions = _records(Admission, await cur.fetchall())
        return StoredShow(
            show_id=show_id,
            epoch=show["epoch"],
            starts_at=show["starts_at"],
            hold_ttl=timedelta(seconds=show["hold_ttl_seconds"]),
            status=show["status"],
            sales_open_at=show["sales_open_at"],
            sales_close_at=show["sales_close_at"],
            seats=seats,
            holds=holds,
            bookings=bookings,
            blocked=blocked,
            reentry=show["reentry"],
            admissions=admissions,
        )

    async def place(self, show_id: str, epoch: int, own_actor: bool) -> bool:
        """Say where the show runs from now on (``shows.own_actor``), if ``epoch`` is still its current
        one: a superseded copy cannot move the show. True if the row changed."""
        async with self._connected() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                "UPDATE shows SET own_actor = %s WHERE id = %s AND epoch = %s", (own_actor, show_id, epoch)
            )
            return cur.rowcount == 1

    async def commit(
        self,
        show_id: str,
        epoch: int,
        events: Sequence[Event],
        extras: CommitExtras | None = None,
        close_show: bool = False,
    ) -> None:
        """Write ``events`` (in order) in one transaction, or nothing. Raises ``StaleEpoch`` if a newer
        activation owns the show; any other exception means the outcome is unknown to the caller."""
        extras = extras or CommitExtras()
        if self._group is not None:
            await self._group.commit(show_id, epoch, events, extras, close_show)
            return
        async with self._connected() as conn:
            try:
                # One round trip: the check, the writes and COMMIT go out together; a stale epoch fails the
                # check, and PostgreSQL skips everything after it (pipeline mode), so nothing is written.
                async with conn.pipeline(), conn.cursor() as cur:
                    await cur.execute("SELECT seatwise_check_epoch(%s, %s)", (show_id, epoch))
                    await self.write_batch(cur, show_id, epoch, events, extras, close_show)
                    await conn.commit()
            except psycopg.Error as exc:
                if exc.sqlstate != STALE_EPOCH_SQLSTATE:
                    raise
                await conn.rollback()
                raise StaleEpoch(show_id, epoch, int(exc.diag.message_detail or -1)) from None

    @classmethod
    async def write_batch(
        cls,
        cur: psycopg.AsyncCursor[Any],
        show_id: str,
        epoch: int,
        events: Sequence[Event],
        extras: CommitExtras,
        close_show: bool,
    ) -> None:
        """One show's batch of events, inside a transaction that has checked the show's epoch."""
        writer = _EventWriter(cur, show_id, epoch, extras)
        for run in _runs(events):
            if isinstance(run[0], SeatsHeld):
                await cls._insert_ledger(cur, writer.ledger)  # what came before, first: the ledger keeps event order
                writer.ledger = []
                await cls._insert_holds(cur, [(show_id, epoch, e.hold) for e in run if isinstance(e, SeatsHeld)])
            else:
                for event in run:
                    await writer.write(event)
        await cls._insert_ledger(cur, writer.ledger)
        await cls._store_answers(cur, extras.answers)
        if writer.outbox:
            await cur.executemany(
                "INSERT INTO notification_outbox (kind, user_id, show_id, payload) VALUES (%s, %s, %s, %s)",
                [(kind, user, show_id, json.dumps(payload)) for kind, user, payload in writer.outbox],
            )
        if close_show:
            await cur.execute("UPDATE shows SET status = 'closed' WHERE id = %s AND status = 'on_sale'", (show_id,))

    @classmethod
    async def write_group(cls, cur: psycopg.AsyncCursor[Any], batches: Sequence[_Waiting]) -> None:
        """Several shows' batches in one transaction whose epochs were checked. Batches of new holds only
        (the bulk of an on-sale) are written together: all shows' holds, seat claims, ledger rows and
        answers in one statement each (``_insert_holds``); any other batch is written on its own, in its order."""
        new: list[NewHold] = []
        answers: list[IdempotentAnswer] = []
        for b in batches:
            if b.close_show or not all(isinstance(e, SeatsHeld) for e in b.events):
                await cls.write_batch(cur, b.show_id, b.epoch, b.events, b.extras, b.close_show)
                continue
            new.extend((b.show_id, b.epoch, e.hold) for e in b.events if isinstance(e, SeatsHeld))
            answers.extend(b.extras.answers)
        if new:
            await cls._insert_holds(cur, new)
        await cls._store_answers(cur, answers)

    @staticmethod
    async def _insert_holds(cur: psycopg.AsyncCursor[Any], new: Sequence[NewHold]) -> None:
        """Many new holds, of one show or several, in ONE statement: the holds, their seat claims and
        their ledger rows, all unpacked by PostgreSQL from one JSON parameter (``json_rows``)."""
        await cur.execute(
            "WITH h AS (SELECT * FROM ROWS FROM (json_to_recordset(%s::json) AS (id text, show_id text, "
            "epoch bigint, user_id text, seats text, amount numeric, created_at timestamptz, expires_at timestamptz, "
            "extensions int, fee numeric)) WITH ORDINALITY AS h(id, show_id, epoch, user_id, seats, amount, "
            "created_at, expires_at, extensions, fee, n)), "
            "s AS (SELECT h.*, seat_id, m FROM h, "
            "unnest(string_to_array(h.seats, ',')) WITH ORDINALITY AS s(seat_id, m)), "
            "held AS (INSERT INTO holds (id, show_id, user_id, seat_ids, amount, created_at, expires_at, "
            "extensions, status, epoch, fee) SELECT id, show_id, user_id, string_to_array(seats, ','), amount, "
            "created_at, expires_at, extensions, 'active', epoch, fee FROM h), "
            "claimed AS (INSERT INTO seat_claims (show_id, seat_id, user_id, hold_id, expires_at) "
            "SELECT show_id, seat_id, user_id, id, expires_at FROM s) "
            "INSERT INTO seat_ledger (show_id, epoch, seat_id, event, user_id, hold_id) "
            "SELECT show_id, epoch, seat_id, 'held', user_id, id FROM s ORDER BY n, m",
            (
                json_rows(
                    {
                        "id": h.hold_id,
                        "show_id": show_id,
                        "epoch": epoch,
                        "user_id": h.user_id,
                        "seats": ",".join(h.seat_ids),
                        "amount": h.amount,
                        "created_at": h.created_at,
                        "expires_at": h.expires_at,
                        "extensions": h.extensions,
                        "fee": h.fee,
                    }
                    for show_id, epoch, h in new
                ),
            ),
        )

    @staticmethod
    async def _insert_ledger(cur: psycopg.AsyncCursor[Any], ledger: Sequence[ShowLedgerRow]) -> None:
        """Seat ledger rows of one show or several, in one statement."""
        if ledger:
            await cur.execute(
                "INSERT INTO seat_ledger (show_id, epoch, seat_id, event, user_id, hold_id, booking_id) "
                "SELECT * FROM json_to_recordset(%s::json) AS l(show_id text, epoch bigint, seat_id text, event text, "
                "user_id text, hold_id text, booking_id text)",
                (json_rows(dict(zip(_LEDGER_COLUMNS, row, strict=True)) for row in ledger),),
            )

    @staticmethod
    async def _store_answers(cur: psycopg.AsyncCursor[Any], answers: Sequence[IdempotentAnswer]) -> None:
        """The stored answers of keyed requests, committed with the changes they answer."""
        if answers:
            await cur.executemany(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, key) DO UPDATE SET "
                "status_code = EXCLUDED.status_code, response = EXCLUDED.response",
                [(a.user_id, a.key, a.request_hash, a.status_code, json.dumps(a.response)) for a in answers],
            )


# show, epoch, seat, event, user, hold, booking
ShowLedgerRow = tuple[str, int, str, str, str | None, str | None, str | None]
# show, epoch, the hold
NewHold = tuple[str, int, Hold]
# kind, user, payload
OutboxRow = tuple[str, str | None, dict[str, Any]]


_LEDGER_COLUMNS = ("show_id", "epoch", "seat_id", "event", "user_id", "hold_id", "booking_id")


@dataclass(slots=True)
class _EventWriter:
    """Writes one show's events, other than new holds, inside its batch's transaction: one handler per
    event type (``_HANDLERS``). Each handler sends its own statements and collects the seat ledger and
    outbox rows that ``ShowStore.write_batch`` inserts in bulk afterwards."""

    cur: psycopg.AsyncCursor[Any]
    show_id: str
    epoch: int
    extras: CommitExtras
    ledger: list[ShowLedgerRow] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)

    async def write(self, event: Event) -> None:
        await _HANDLERS[type(event)](self, event)

    def _seats(
        self, seat_ids: Iterable[str], event: str, user_id: str | None, hold_id: str | None, booking_id: str | None
    ) -> None:
        """The seat ledger rows of one event: one per seat, in the seats' order."""
        self.ledger.extend((self.show_id, self.epoch, s, event, user_id, hold_id, booking_id) for s in seat_ids)

    async def _seats_held(self, event: SeatsHeld) -> None:
        raise AssertionError("holds are written in runs by _insert_holds")

    async def _hold_released(self, event: HoldReleased) -> None:
        h = event.hold
        await self.cur.execute(
            "UPDATE holds SET status = %s, ended_at = now() WHERE id = %s AND status = 'active'",
            (HOLD_END_STATUS[event.reason], h.hold_id),
        )
        # By key (show, seats), with the owner checked: a stadium's show has 100,000 claims to scan otherwise.
        await self.cur.execute(
            "DELETE FROM seat_claims WHERE show_id = %s AND seat_id = ANY(%s) AND hold_id = %s",
            (self.show_id, list(h.seat_ids), h.hold_id),
        )
        self._seats(h.seat_ids, event.reason, h.user_id, h.hold_id, None)

    async def _hold_extended(self, event: HoldExtended) -> None:
        h = event.hold
        await self.cur.execute(
            "UPDATE holds SET expires_at = %s, extensions = %s WHERE id = %s AND status = 'active'",
            (h.expires_at, h.extensions, h.hold_id),
        )
        await self.cur.execute(
            "UPDATE seat_claims SET expires_at = %s WHERE show_id = %s AND seat_id = ANY(%s) AND hold_id = %s",
            (h.expires_at, self.show_id, list(h.seat_ids), h.hold_id),
        )
        self._seats(h.seat_ids, "extended", h.user_id, h.hold_id, None)

    async def _booking_confirmed(self, event: BookingConfirmed) -> None:
        b, extras, show_id = event.booking, self.extras, self.show_id
        await self.cur.execute(
            "INSERT INTO bookings (id, show_id, user_id, seat_ids, hold_ids, amount, payment_ref, "
            "status, created_at, epoch, sold_by, customer_name, fee) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 'confirmed', %s, %s, %s, %s, %s)",
            (
                b.booking_id,
                show_id,
                b.user_id,
                list(b.seat_ids),
                list(b.hold_ids),
                b.amount,
                extras.payment_refs.get(b.booking_id),
                b.created_at,
                self.epoch,
                b.user_id if b.booking_id in extras.box_office else None,
                extras.box_office.get(b.booking_id),
                b.fee,
            ),
        )
        if b.payment_key is not None:
            await self.cur.execute(
                "UPDATE payments SET status = 'captured', charge_id = %s, booking_id = %s, "
                "updated_at = now() WHERE id = %s",
                (extras.payment_refs.get(b.booking_id), b.booking_id, b.payment_key),
            )
        self.outbox.append(
            (
                BOOKING_CONFIRMED,
                b.user_id,
                {
                    "booking_id": b.booking_id,
                    "show_id": show_id,
                    "user_id": b.user_id,
                    "seat_ids": list(b.seat_ids),
                    "amount": str(b.total),
                },
            )
        )
        await self.cur.execute(
            "UPDATE holds SET status = 'confirmed', ended_at = now() WHERE id = ANY(%s) AND status = 'active'",
            (list(b.hold_ids),),
        )
        await self.cur.execute(
            "UPDATE seat_claims SET booking_id = %s, hold_id = NULL, expires_at = NULL "
            "WHERE show_id = %s AND seat_id = ANY(%s) AND hold_id = ANY(%s)",
            (b.booking_id, show_id, list(b.seat_ids), list(b.hold_ids)),
        )
        self._seats(b.seat_ids, "booked", b.user_id, None, b.booking_id)

    async def _booking_cancelled(self, event: BookingCancelled) -> None:
        b, reason, refund = event.booking, event.reason, event.refund
        await self.cur.execute(
            "UPDATE bookings SET status = 'cancelled', cancelled_at = now(), cancel_reason = %s, "
            "refund_amount = %s WHERE id = %s AND status = 'confirmed'",
            (reason, refund, b.booking_id),
        )
        await self.cur.execute(
            "DELETE FROM seat_claims WHERE show_id = %s AND seat_id = ANY(%s) AND booking_id = %s",
            (self.show_id, list(b.seat_ids), b.booking_id),
        )
        if refund > 0:
            # The money goes back through the refund queue (the reconciler retries it).
            await self.cur.execute(
                "UPDATE payments SET status = 'refund_pending', refund_amount = %s, updated_at = now() "
                "WHERE booking_id = %s AND status = 'captured'",
                (refund, b.booking_id),
            )
        self._seats(b.seat_ids, "cancelled", b.user_id, None, b.booking_id)
        self.outbox.append(
            (
                BOOKING_CANCELLED,
                b.user_id,
                {
                    "booking_id": b.booking_id,
                    "show_id": self.show_id,
                    "user_id": b.user_id,
                    "seat_ids": list(b.seat_ids),
                    "reason": reason,
                    "refund": str(refund),
                },
            )
        )

    async def _payment_started(self, event: PaymentStarted) -> None:
        p = event.payment
        await self._move_holds(p.holds)
        origin = self.extras.payment_origins.get(p.payment_key, PaymentOrigin())
        await self.cur.execute(
            "INSERT INTO payments (id, show_id, user_id, hold_ids, amount, status, attempts, customer_name, "
            "request_key, request_hash) VALUES (%s, %s, %s, %s, %s, 'pending', 1, %s, %s, %s)",
            (
                p.payment_key,
                self.show_id,
                p.user_id,
                list(p.hold_ids),
                p.total,
                origin.customer_name,
                origin.request_key,
                origin.request_hash,
            ),
        )
        for h in p.holds:
            self._seats(h.seat_ids, "payment_pending", h.user_id, h.hold_id, None)

    async def _payment_aborted(self, event: PaymentAborted) -> None:
        await self._move_holds(event.holds)
        await self.cur.execute(
            "UPDATE payments SET status = %s, updated_at = now() WHERE id = %s AND status = 'pending'",
            (event.outcome, event.payment_key),
        )
        for h in event.holds:
            self._seats(h.seat_ids, "payment_aborted", h.user_id, h.hold_id, None)

    async def _show_cancelled(self, event: ShowCancelled) -> None:
        await self.cur.execute("UPDATE shows SET status = 'cancelled' WHERE id = %s", (self.show_id,))

    async def _seats_blocked(self, event: SeatsBlocked) -> None:
        await self.cur.executemany(
            "INSERT INTO blocked_seats (show_id, seat_id) VALUES (%s, %s)",
            [(self.show_id, s) for s in event.seat_ids],
        )
        self._seats(event.seat_ids, "blocked", None, None, None)

    async def _seats_unblocked(self, event: SeatsUnblocked) -> None:
        await self.cur.execute(
            "DELETE FROM blocked_seats WHERE show_id = %s AND seat_id = ANY(%s)", (self.show_id, list(event.seat_ids))
        )
        self._seats(event.seat_ids, "unblocked", None, None, None)

    async def _admitted(self, event: Admitted) -> None:
        a = event.admission
        # The key (booking_id, entry) refuses a second admission of the same entry, whoever writes it.
        await self.cur.execute(
            "INSERT INTO admissions (booking_id, entry, show_id, gate, admitted_at, offline, epoch) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (a.booking_id, a.entry, self.show_id, a.gate, a.at, a.offline, self.epoch),
        )

    async def _exited(self, event: Exited) -> None:
        a = event.admission
        await self.cur.execute(
            "UPDATE admissions SET exited_at = %s, exit_gate = %s WHERE booking_id = %s AND entry = %s",
            (a.exited_at, a.exit_gate, a.booking_id, a.entry),
        )

    async def _entry_conflict(self, event: EntryConflict) -> None:
        await self.cur.execute(
            "INSERT INTO check_in_conflicts (show_id, booking_id, gate, scanned_at, first_gate, first_at, offline) "
            "VALUES (%s, %s, %s, %s, %s, %s, true)",
            (self.show_id, event.booking_id, event.gate, event.scanned_at, event.first.gate, event.first.at),
        )

    async def _move_holds(self, holds: Sequence[Hold]) -> None:
        """Store holds whose payment state and expiry changed (a payment began or was aborted)."""
        await self.cur.executemany(
            "UPDATE holds SET payment_key = %s, resume_expires_at = %s, expires_at = %s "
            "WHERE id = %s AND status = 'active'",
            [(h.payment_key, h.resume_expires_at, h.expires_at, h.hold_id) for h in holds],
        )
        await self.cur.executemany(
            "UPDATE seat_claims SET expires_at = %s WHERE show_id = %s AND seat_id = ANY(%s) AND hold_id = %s",
            [(h.expires_at, self.show_id, list(h.seat_ids), h.hold_id) for h in holds],
        )


# Every event type has its handler; a handler receives events of its own type only.
_HANDLERS: dict[type[Event], Callable[[_EventWriter, Any], Awaitable[None]]] = {
    SeatsHeld: _EventWriter._seats_held,
    HoldReleased: _EventWriter._hold_released,
    HoldExtended: _EventWriter._hold_extended,
    BookingConfirmed: _EventWriter._booking_confirmed,
    BookingCancelled: _EventWriter._booking_cancelled,
    PaymentStarted: _EventWriter._payment_started,
    PaymentAborted: _EventWriter._payment_aborted,
    ShowCancelled: _EventWriter._show_cancelled,
    SeatsBlocked: _EventWriter._seats_blocked,
    SeatsUnblocked: _EventWriter._seats_unblocked,
    Admitted: _EventWriter._admitted,
    Exited: _EventWriter._exited,
    EntryConflict: _EventWriter._entry_conflict,
}


def _layout(rows: list[dict[str, Any]], prices: dict[str, Any]) -> tuple[SeatSpec, ...]:
    """The seats of a layout; the strings every seat of a row or section repeats are shared, not copied
    per seat (a stadium has 100,000 of them)."""
    price = {category: Decimal(str(value)) for category, value in prices.items()}
    shared: dict[str, str] = {}
    one = shared.setdefault
    return tuple(
        SeatSpec(
            r["seat_id"],
            one(r["row"], r["row"]),
            r["row_index"],
            r["number"],
            one(r["category"], r["category"]),
            price[r["category"]],
            one(r["section"], r["section"]),
            r["standing"],
        )
        for r in rows
    )


def _records(record: Callable[..., R], rows: Iterable[dict[str, Any]], *arrays: str) -> tuple[R, ...]:
    """``rows``, whose columns are named as ``record``'s fields, as records; the ``arrays`` columns (lists
    from PostgreSQL) become tuples, as the seat map's frozen records keep them."""
    return tuple(record(**row | {name: tuple(row[name]) for name in arrays}) for row in rows)


def json_rows(rows: Iterable[dict[str, Any]]) -> str:
    """Rows for a bulk insert as one JSON parameter, which PostgreSQL unpacks with ``json_to_recordset``.
    Encoded in C: psycopg dumps a list parameter element by element in Python, and a batch of 32 holds
    sent as ``unnest`` arrays cost the actor ~2 ms to encode against ~0.3 ms as JSON (issue 16)."""
    return json.dumps(list(rows), default=_json_scalar)


def _json_scalar(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # with its offset: read back as the same instant (timestamptz)
    if isinstance(value, Decimal):
        return str(value)  # exact: read back as numeric, not through a float
    raise TypeError(f"not a column value: {value!r}")


def _runs(events: Sequence[Event]) -> list[list[Event]]:
    """Consecutive events of one kind, in order: runs of new holds are written as one statement each."""
    runs: list[list[Event]] = []
    for event in events:
        if runs and type(runs[-1][-1]) is type(event):
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


@dataclass(slots=True)
class _Waiting:
    show_id: str
    epoch: int
    events: Sequence[Event]
    extras: CommitExtras
    close_show: bool
    done: asyncio.Future[None]


class GroupCommit:
    """Commits the batches of many shows that wait at the same moment in ONE transaction: shows hosted
    together (``actors/show_host.py``) share one disk flush per round instead of one each, which is what
    spread traffic (a request or two per show at a time) needs. Each show still commits only its own
    events after its own epoch check: a show whose epoch moved on gets ``StaleEpoch`` and is left out,
    the others commit. Any other failure fails every batch of that transaction (outcome unknown to
    each, as for a single show's commit), and each show reloads from PostgreSQL. One transaction at a
    time: batches that arrive meanwhile travel together in the next."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._waiting: list[_Waiting] = []
        self._flushing: asyncio.Task[None] | None = None
        self.transactions = 0
        self.batches = 0

    async def commit(
        self, show_id: str, epoch: int, events: Sequence[Event], extras: CommitExtras, close_show: bool
    ) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(show_id, epoch, events, extras, close_show, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())
        await asyncio.shield(done)  # a caller that gives up must not cancel the others' transaction

    async def _flush(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                committed = await self._commit(group)
            except Exception as exc:
                for w in group:
                    if not w.done.done():
                        w.done.set_exception(exc)
                continue
            for w in committed:
                if not w.done.done():
                    w.done.set_result(None)

    async def _commit(self, group: list[_Waiting]) -> list[_Waiting]:
        # Two round trips: the epochs (with BEGIN), then the writes with COMMIT. The pool rolls back a
        # connection that an error left in a transaction.
        async with self._pool.connection() as conn, conn.pipeline(), conn.cursor() as cur:
            await cur.execute(
                "SELECT id, epoch FROM shows WHERE id = ANY(%s) ORDER BY id FOR SHARE", ([w.show_id for w in group],)
            )
            current: dict[str, int] = {row[0]: row[1] for row in await cur.fetchall()}
            live: list[_Waiting] = []
            for w in group:
                epoch = current.get(w.show_id, -1)
                if epoch == w.epoch:
                    live.append(w)
                elif not w.done.done():
                    w.done.set_exception(StaleEpoch(w.show_id, w.epoch, epoch))
            await ShowStore.write_group(cur, live)
            await conn.commit()
        self.transactions += 1
        self.batches += len(live)
        return live
