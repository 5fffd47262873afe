"""The payment gateway seam, and the simulated gateway the service runs with by default.

The booking flow only sees ``PaymentGateway``: charge an amount under an idempotency key, refund a charge.
The simulated gateway honours the pinned test cards and keeps its own ledger in PostgreSQL
(``payment_charges``), keyed by idempotency key, so repeating a charge with the same key never charges
twice and returns the first outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol
from uuid import uuid4

from sqlalchemy import text

from persistence.catalog import Database

APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    approved: bool
    charge_id: str
    detail: str


class PaymentGateway(Protocol):
    async def charge(self, idempotency_key: str, amount: Decimal, card_number: str) -> ChargeResult: ...

    async def refund(self, charge_id: str) -> None: ...


class SimulatedGateway:
    """Approves 4242 4242 4242 4242, declines 4000 0000 0000 0002 and every other number."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def charge(self, idempotency_key: str, amount: Decimal, card_number: str) -> ChargeResult:
        approved = card_number == APPROVED_CARD
        status = "captured" if approved else "declined"
        async with self._db.session() as session:
            row = (
                await session.execute(
                    text(
                        "INSERT INTO payment_charges "
                        "(idempotency_key, amount, card_last4, status, charge_id) "
                        "VALUES (:k, :a, :l, :s, :c) ON CONFLICT (idempotency_key) DO UPDATE "
                        "SET idempotency_key = EXCLUDED.idempotency_key RETURNING status, charge_id"
                    ),
                    {
                        "k": idempotency_key,
                        "a": amount,
                        "l": card_number[-4:],
                        "s": status,
                        "c": str(uuid4()),
                    },
                )
            ).one()
        if row.status == "captured":
            return ChargeResult(True, row.charge_id, "approved")
        if row.status == "refunded":
            return ChargeResult(False, row.charge_id, "this payment was refunded")
        detail = "card declined" if card_number == DECLINED_CARD else "card not accepted by the test gateway"
        return ChargeResult(False, row.charge_id, detail)

    async def refund(self, charge_id: str) -> None:
        """Refund a captured charge; refunding twice is a no-op."""
        async with self._db.session() as session:
            await session.execute(
                text("UPDATE payment_charges SET status = 'refunded' WHERE charge_id = :c AND status = 'captured'"),
                {"c": charge_id},
            )
