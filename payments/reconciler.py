"""The reconciler: settles every payment whose outcome is unknown and gives back money the service keeps
without a booking.

Why it exists: a payment has two parties that can each fail between "charge" and "booking" — the gateway
(timeouts, 5xx, a charge made and its answer lost) and this service (a process killed mid-payment). The
pay flow does what it can in the request; whatever it leaves open ends here, so that every payment ends
booked, or with its money back:

1. *Unresolved*: payments still ``pending`` after a request could have finished. The gateway is asked by
   the payment's idempotency key. Captured: finish the booking if the holds are still pending under that
   key (the customer keeps the seats they paid for), else owe a full refund. Declined, or never charged:
   the holds go back to the customer (``AbortPayment``) and the payment ends ``declined`` / ``failed``.
2. *Refunds*: payments ``refund_pending`` (cancellations, charges without a booking) are refunded at the
   gateway under a key of their own, so a refund retried after a lost answer never pays out twice.
3. *Orphans*: captured charges in the gateway's ledger whose payment here ended ``failed`` or ``declined``
   (the gateway charged after all), or that no payment here knows, are refunded.

Each sweep claims its rows (``persistence.payments``), so several API processes can run it side by side.
The show actor is reached through ``submit`` (``routing.show_router.ShowActors.submit``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from actors.commands import AbortPayment, Command, ConfirmHolds, Reply
from actors.errors import BookingError, Unavailable
from actors.seat_map_core import Booking
from payments.gateway import GatewayUnavailable, PaymentGateway
from persistence import payments
from persistence.database import Database
from persistence.payments import PaymentRow
from persistence.periodic import Periodic

log = logging.getLogger("booking.reconciler")

Submit = Callable[[str, Command], Awaitable[Reply]]
PAYMENT_KEY_PREFIX = "pay_"


@dataclass(slots=True)
class Report:
    """What one round did (the figures the payment tests and operators look at)."""

    booked: int = 0
    declined: int = 0
    failed: int = 0
    refunds_owed: int = 0
    refunded: int = 0
    orphans_refunded: int = 0
    still_unknown: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: Report) -> None:
        for name in ("booked", "declined", "failed", "refunds_owed", "refunded", "orphans_refunded", "still_unknown"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


@dataclass(eq=False)
class Reconciler:
    db: Database
    gateway: PaymentGateway
    submit: Submit
    _: KW_ONLY
    settle_after_seconds: float
    interval_seconds: float = 5.0
    orphan_lookback: timedelta = timedelta(days=2)
    batch: int = 100
    _periodic: Periodic = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The first round comes one interval after start(); a failed one (PostgreSQL down, say) is tried again
        # next round.
        self._periodic = Periodic(
            self.run_once, self.interval_seconds, log=log, what="reconciliation round", wait_first=True
        )

    # -- running ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._periodic.start()

    async def aclose(self) -> None:
        await self._periodic.aclose()

    async def run_once(self, *, orphans: bool = True) -> Report:
        report = Report()
        report.add(await self.resolve_unknown())
        report.add(await self.settle_refunds())
        if orphans:
            report.add(await self.refund_orphans())
        if report.errors:
            log.warning("reconciliation: %d errors, first: %s", len(report.errors), report.errors[0])
        return report

    # -- 1. unresolved payments ------------------------------------------------------------------------

    async def resolve_unknown(self) -> Report:
        report = Report()
        async with self.db.session() as session:
            rows = await payments.claim_unresolved(session, self.settle_after_seconds, self.batch)
        for row in rows:
            try:
                await self._resolve(row, report)
            except GatewayUnavailable as exc:
                report.still_unknown += 1
                report.errors.append(f"{row.id}: {exc.detail}")
        return report

    async def _resolve(self, row: PaymentRow, report: Report) -> None:
        charge = await self.gateway.lookup(row.id)
        if charge is None or not charge.approved:
            outcome: Literal["failed", "declined"] = "failed" if charge is None else "declined"
            reply = await self.submit(row.show_id, AbortPayment(row.id, outcome))
            if isinstance(reply, Unavailable):
                report.still_unknown += 1
                return
            # Done: the actor put the holds back and marked the payment; a refusal (the show is over):
            # the holds are gone already. Either way nothing was taken.
            async with self.db.session() as session:
                await payments.settle(session, row.id, outcome, "settled by the reconciler")
            setattr(report, outcome, getattr(report, outcome) + 1)
            return
        reply = await self.submit(
            row.show_id,
            ConfirmHolds(
                row.user_id,
                row.hold_ids,
                payment_key=row.id,
                payment_ref=charge.charge_id,
                # The booking answers the request that began the payment: its client, retrying with the
                # same key after a lost answer, replays the booking instead of hearing it holds nothing.
                idempotency_key=row.request_key,
                request_hash=row.request_hash,
                customer_name=row.customer_name,
            ),
        )
        if isinstance(reply, Booking):
            report.booked += 1
            return
        if isinstance(reply, Unavailable):
            report.still_unknown += 1
            return
        # The holds are gone (expired, released at the show's start, or booked by the request itself a
        # moment ago): refund, unless the payment did end in a booking.
        detail = reply.detail if isinstance(reply, BookingError) else "no booking could be made"
        async with self.db.session() as session:
            owed = await payments.owe_refund(
                session, row.id, charge.charge_id, charge.amount - charge.refunded, f"charged, not booked: {detail}"
            )
        if owed:
            report.refunds_owed += 1
            report.add(await self.settle_refunds([row.id]))

    # -- 2. refunds ------------------------------------------------------------------------------------

    async def settle_refunds(self, payment_ids: Sequence[str] | None = None) -> Report:
        """Refund what is owed: the named payments now, or every one whose last try has lapsed."""
        report = Report()
        async with self.db.session() as session:
            rows = await payments.claim_refunds(session, self.settle_after_seconds, self.batch, payment_ids)
        for row in rows:
            if row.charge_id is None or row.refund_amount is None:
                report.errors.append(f"{row.id}: nothing to refund against")
                continue
            try:
                if row.refund_amount > 0:
                    await self.gateway.refund(row.charge_id, row.refund_amount, f"refund_{row.id}")
            except GatewayUnavailable as exc:
                report.errors.append(f"{row.id}: {exc.detail}")
                continue
            except Exception as exc:
                report.errors.append(f"{row.id}: refund refused: {exc!r}")
                continue
            async with self.db.session() as session:
                if await payments.refunded(session, row):
                    report.refunded += 1
        return report

    # -- 3. orphan charges -----------------------------------------------------------------------------

    async def refund_orphans(self) -> Report:
        report = Report()
        now = datetime.now(UTC)
        try:
            charges = await self.gateway.captured_charges(since=now - self.orphan_lookback)
        except GatewayUnavailable as exc:
            report.errors.append(f"ledger: {exc.detail}")
            return report
        settled_before = now - timedelta(seconds=self.settle_after_seconds)
        open_charges = [
            c
            for c in charges
            if c.refunded < c.amount
            and c.idempotency_key.startswith(PAYMENT_KEY_PREFIX)
            and c.created_at < settled_before
        ]
        if not open_charges:
            return report
        async with self.db.session() as session:
            statuses = await payments.status_of_keys(session, [c.idempotency_key for c in open_charges])
        for charge in open_charges:
            status = statuses.get(charge.idempotency_key)
            if status in ("failed", "declined"):
                async with self.db.session() as session:
                    owed = await payments.owe_refund(
                        session,
                        charge.idempotency_key,
                        charge.charge_id,
                        charge.amount - charge.refunded,
                        f"the gateway charged a payment that had ended {status}",
                    )
                if owed:
                    report.refunds_owed += 1
                    report.add(await self.settle_refunds([charge.idempotency_key]))
            elif status is None:
                # A charge under one of our keys that no payment here knows: give it back.
                try:
                    await self.gateway.refund(
                        charge.charge_id, charge.amount - charge.refunded, f"refund_{charge.idempotency_key}"
                    )
                    report.orphans_refunded += 1
                except Exception as exc:
                    report.errors.append(f"{charge.idempotency_key}: {exc!r}")
        return report
