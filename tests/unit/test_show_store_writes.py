"""What the show actor's PostgreSQL journal sends for a batch of events, against a cursor that records the
statements: one handler per event type, the statements in event order, the seat ledger rows in bulk after
them (new holds flush the rows before them first) and the outbox rows last. The integration tests
(test_group_commit, test_booking_flow, test_payments) run the same SQL against PostgreSQL."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from actors.journal import CommitExtras
from actors.seat_map_core import (
    Booking,
    BookingCancelled,
    BookingConfirmed,
    Event,
    Hold,
    HoldReleased,
    SeatsBlocked,
    SeatsHeld,
)
from persistence import show_store
from persistence.show_store import ShowStore

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


class RecordingCursor:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def execute(self, query: str, params: Any = None) -> None:
        self.sent.append((query, params))

    async def executemany(self, query: str, params_seq: Any) -> None:
        self.sent.append((query, list(params_seq)))

    def statements(self) -> list[str]:
        """Each statement by its first three words (a CTE by the table it inserts into first)."""
        return [" ".join(query.split()[:3]) for query, _ in self.sent]


def hold(hold_id: str, *seat_ids: str) -> Hold:
    return Hold(hold_id, "u-1", seat_ids, NOW, NOW + timedelta(minutes=5), Decimal(20))


def test_every_event_type_has_its_own_handler() -> None:
    assert set(show_store._HANDLERS) == set(typing.get_args(Event))
    assert len(set(show_store._HANDLERS.values())) == len(show_store._HANDLERS)


async def test_a_batch_is_written_in_event_order_with_its_ledger_and_outbox_rows() -> None:
    booking = Booking("b-1", "u-1", ("A1", "A2"), ("h-1",), Decimal(20), NOW, payment_key="p-1")
    events: list[Event] = [
        HoldReleased(hold("h-0", "B1"), "expired"),
        SeatsHeld(hold("h-2", "C1")),
        BookingConfirmed(booking),
        SeatsBlocked(("D1",)),
        BookingCancelled(booking, "operator", Decimal(5)),
    ]
    cur = RecordingCursor()

    await ShowStore.write_batch(cur, "s-1", 7, events, CommitExtras(payment_refs={"b-1": "ch-1"}), False)  # type: ignore[arg-type]

    assert cur.statements() == [
        "UPDATE holds SET",  # released
        "DELETE FROM seat_claims",
        "INSERT INTO seat_ledger",  # the released seat, before the new hold's
        "WITH h AS",  # the new hold, its claim and ledger row in one statement
        "INSERT INTO bookings",
        "UPDATE payments SET",  # captured
        "UPDATE holds SET",
        "UPDATE seat_claims SET",
        "INSERT INTO blocked_seats",
        "UPDATE bookings SET",  # cancelled
        "DELETE FROM seat_claims",
        "UPDATE payments SET",  # refund pending
        "INSERT INTO seat_ledger",
        "INSERT INTO notification_outbox",
    ]
    first_ledger, last_ledger = (json.loads(p[0]) for q, p in cur.sent if q.startswith("INSERT INTO seat_ledger"))
    assert [(r["seat_id"], r["event"], r["epoch"]) for r in first_ledger] == [("B1", "expired", 7)]
    assert [(r["seat_id"], r["event"], r["booking_id"]) for r in last_ledger] == [
        ("A1", "booked", "b-1"),
        ("A2", "booked", "b-1"),
        ("D1", "blocked", None),
        ("A1", "cancelled", "b-1"),
        ("A2", "cancelled", "b-1"),
    ]
    outbox = cur.sent[-1][1]
    assert [(kind, user, show) for kind, user, show, _ in outbox] == [
        ("booking.confirmed", "u-1", "s-1"),
        ("booking.cancelled", "u-1", "s-1"),
    ]
    assert json.loads(outbox[1][3])["refund"] == "5"
