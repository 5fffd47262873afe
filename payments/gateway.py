"""The payment gateway seam: what the booking flow and the reconciler may ask of a payment gateway.

The booking flow only sees ``PaymentGateway``. Every call carries an idempotency key chosen by the caller
(one per payment attempt of a set of holds, one per refund), so a retried call can never move money twice.
An implementation bounds every call with a timeout and a few retries with backoff; when it still gets no
answer it raises ``GatewayUnavailable``, and the outcome of that call is then *unknown*: ``lookup`` with
the same key tells later whether the charge happened (the reconciler's question).

``payments.http_gateway.HttpGateway`` speaks HTTP to a gateway service; ``payments.simulator`` is the
simulated gateway service the project runs with by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """A charge as the gateway has it. ``approved`` False: declined (nothing was taken)."""

    approved: bool
    charge_id: str
    detail: str
    amount: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """One captured charge in the gateway's ledger, for reconciliation."""

    idempotency_key: str
    charge_id: str
    amount: Decimal
    refunded: Decimal
    created_at: datetime


class GatewayUnavailable(Exception):
    """No answer from the gateway after bounded retries: the outcome of the call is unknown."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class GatewayRejected(Exception):
    """The gateway refused the request with a 4xx (e.g. a key reused for another amount, a refund of more
    than is left): a definite answer, and nothing was moved."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"


class PaymentGateway(Protocol):
    async def charge(self, idempotency_key: str, amount: Decimal, card_number: str) -> ChargeResult:
        """Charge ``amount`` once per key: repeating a key returns the first outcome and never charges
        again. Raises ``GatewayUnavailable`` when the outcome is unknown."""
        ...

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        """The charge made under this key, or None if the gateway never charged under it."""
        ...

    async def refund(self, charge_id: str, amount: Decimal, idempotency_key: str) -> None:
        """Refund ``amount`` of a captured charge, once per key. Raises ``GatewayUnavailable``."""
        ...

    async def captured_charges(self, since: datetime | None = None) -> list[ChargeRecord]:
        """Every captured charge (refunded or not) created at or after ``since``."""
        ...

    async def aclose(self) -> None: ...
