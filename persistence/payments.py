"""The payments table as the API side and the reconciler see it: read, claim, settle.

The show actor writes a payment row when its holds go into payment-pending and marks it captured with the
booking, both in its own transactions (``persistence/show_store.py``). Everything after that (a decline
with no holds left to give back, refunds, what the reconciler learns from the gateway) is written here.
Rows are *claimed* by bumping ``updated_at`` under ``FOR UPDATE SKIP LOCKED``: several API processes can
reconcile at once without working on the same row, and a claim lapses by itself if its process dies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.rows import from_row

_COLUMNS = (
    "id, show_id, user_id, hold_ids, amount, status, charge_id, booking_id, refund_amount, created_at, customer_name, "
    "request_key, request_hash"
)


@dataclass(frozen=True, slots=True)
class PaymentRow:
    id: str
    show_id: str
    user_id: str
    hold_ids: tuple[str, ...]
    amount: Decimal
    status: str
    charge_id: str | None
    booking_id: str | None
    refund_amount: Decimal | None
    created_at: datetime
    customer_name: str | None = None
    request_key: str | None = None  # the Idempotency-Key of the request that began the payment
    request_hash: str | None = None


def _row(row: Any) -> PaymentRow:
    return from_row(PaymentRow, row, hold_ids=tuple(row.hold_ids))


async def get(session: AsyncSession, payment_id: str) -> PaymentRow | None:
    row = (
        await session.execute(text(f"SELECT {_COLUMNS} FROM payments WHERE id = :id"), {"id": payment_id})  # noqa: S608
    ).first()
    return _row(row) if row else None


async def claim_unresolved(session: AsyncSession, older_than_seconds: float, limit: int) -> list[PaymentRow]:
    """Pending payments nobody touched for ``older_than_seconds`` (the request that started them is over),
    claimed for that long."""
    rows = await session.execute(
        text(
            "UPDATE payments SET updated_at = now(), attempts = attempts + 1 WHERE id IN ("  # noqa: S608
            "SELECT id FROM payments WHERE status = 'pending' AND updated_at < now() - make_interval(secs => :age) "
            f"ORDER BY updated_at LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}"
        ),
        {"age": older_than_seconds, "limit": limit},
    )
    return [_row(r) for r in rows.all()]


async def claim_refunds(
    session: AsyncSession, lease_seconds: float, limit: int, payment_ids: Sequence[str] | None = None
) -> list[PaymentRow]:
    """Payments with money to give back: the named ones at once, else those unclaimed for a lease."""
    where = "id = ANY(:ids)" if payment_ids is not None else "updated_at < now() - make_interval(secs => :age)"
    rows = await session.execute(
        text(
            "UPDATE payments SET updated_at = now(), attempts = attempts + 1 WHERE id IN ("  # noqa: S608
            f"SELECT id FROM payments WHERE status = 'refund_pending' AND {where} "
            f"ORDER BY updated_at LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}"
        ),
        {"age": lease_seconds, "limit": limit, "ids": list(payment_ids or [])},
    )
    return [_row(r) for r in rows.all()]


async def of_bookings(session: AsyncSession, booking_ids: Sequence[str]) -> list[str]:
    """Ids of the payments of these bookings that still have money to give back."""
    rows = await session.execute(
        text("SELECT id FROM payments WHERE booking_id = ANY(:b) AND status = 'refund_pending'"),
        {"b": list(booking_ids)},
    )
    return [r[0] for r in rows.all()]


async def settle(session: AsyncSession, payment_id: str, status: str, detail: str = "") -> bool:
    """A pending payment that took no money ends as ``declined`` or ``failed``."""
    result = await session.execute(
        text("UPDATE payments SET status = :s, detail = :d, updated_at = now() WHERE id = :id AND status = 'pending'"),
        {"s": status, "d": detail, "id": payment_id},
    )
    return bool(getattr(result, "rowcount", 0))


async def owe_refund(session: AsyncSession, payment_id: str, charge_id: str, amount: Decimal, detail: str) -> bool:
    """Money was taken but no booking came of it: give it all back. Never for a captured (booked) payment."""
    result = await session.execute(
        text(
            "UPDATE payments SET status = 'refund_pending', charge_id = :c, refund_amount = :a, detail = :d, "
            "updated_at = now() WHERE id = :id AND status IN ('pending', 'failed', 'declined')"
        ),
        {"c": charge_id, "a": amount, "d": detail, "id": payment_id},
    )
    return bool(getattr(result, "rowcount", 0))


async def refunded(session: AsyncSession, payment: PaymentRow) -> bool:
    """The refund went through: record it, and tell the payer (outbox row in the same transaction)."""
    result = await session.execute(
        text(
            "UPDATE payments SET status = 'refunded', updated_at = now() WHERE id = :id AND status = 'refund_pending'"
        ),
        {"id": payment.id},
    )
    if not getattr(result, "rowcount", 0):
        return False
    payload = {
        "payment_id": payment.id,
        "booking_id": payment.booking_id,
        "show_id": payment.show_id,
        "user_id": payment.user_id,
        "amount": str(payment.refund_amount),
    }
    await session.execute(
        text(
            "INSERT INTO notification_outbox (kind, user_id, show_id, payload) "
            "VALUES ('booking.refunded', :u, :s, CAST(:p AS jsonb))"
        ),
        {"u": payment.user_id, "s": payment.show_id, "p": json.dumps(payload)},
    )
    return True


async def status_of_keys(session: AsyncSession, keys: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(text("SELECT id, status FROM payments WHERE id = ANY(:k)"), {"k": list(keys)})
    return {r[0]: r[1] for r in rows.all()}


async def totals(session: AsyncSession) -> dict[str, int]:
    """How many payments are in each status (for operators and the reliability figures)."""
    rows = await session.execute(text("SELECT status, count(*) FROM payments GROUP BY status"))
    return {r[0]: int(r[1]) for r in rows.all()}
