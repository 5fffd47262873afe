"""The booking use cases the routes share: find the show, send the command to its actor, pay.

Routers (v1 and the seed v0 aliases) stay thin: they validate and shape payloads, and call these.
Domain refusals travel back from the actor as values and are raised here, with the service's own
(``booking.errors``), to be mapped to HTTP by ``api.problems``. What the service talks to is named in
``booking.ports``; nothing here knows HTTP, except that a stored refusal keeps the status the API gives
it (``status_of``, handed in), so a replay answers the same.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.commands import (
    AbortPayment,
    BeginPayment,
    BlockSeats,
    CancelBooking,
    CancelShow,
    Command,
    ConfirmHolds,
    ExtendHold,
    HeldHolds,
    HoldBestAvailable,
    HoldSeats,
    PreparePayment,
    ReleaseHold,
    Reply,
    ShowCancellation,
    UnblockSeats,
    booking_answer,
    hold_answer,
)
from actors.errors import (
    BookingError,
    BookingNotFound,
    HoldExpired,
    HoldNotFound,
    InvalidRequest,
    PaymentDeclined,
    PaymentInProgress,
    SalesClosed,
    Unavailable,
    UnknownShow,
)
from actors.seat_map_core import Booking, BookingCancelled, Hold, Payment
from booking.errors import IdempotencyKeyReused, NoShowOnSale, RequestInProgress
from booking.ports import Admission, NoWaitingRooms, Records, Refunds, SeatMaps, ShowActors
from payments.gateway import GatewayRejected, GatewayUnavailable, PaymentGateway
from persistence import idempotency
from persistence.catalog import BookingInfo, ShowInfo

log = logging.getLogger("booking.api")


@dataclass(frozen=True, slots=True)
class Answer:
    """The body of a successful request, or a replayed refusal (``problem_status`` set)."""

    body: dict[str, Any]
    problem_status: int | None = None


@dataclass(frozen=True, slots=True)
class HoldSpec:
    """Named seats, or ``count`` best-available seats of ``category`` and/or in ``section`` (a standing
    zone's section: ``count`` of its places)."""

    seat_ids: tuple[str, ...] = ()
    count: int = 0
    category: str | None = "standard"
    section: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    show_id: str
    card_number: str
    idempotency_key: str | None
    fingerprint: str

    @classmethod
    def of(cls, show_id: str, card_number: str, idempotency_key: str | None) -> PaymentRequest:
        fingerprint = idempotency.request_hash({"op": "pay", "show": show_id, "card": card_number})
        return cls(show_id, card_number, idempotency_key, fingerprint)


@dataclass(frozen=True, slots=True)
class ShowCancelReport:
    show_id: str
    bookings_cancelled: int
    refunded: int
    refunds_pending: int


class BookingService:
    def __init__(
        self,
        records: Records,
        actors: ShowActors,
        seatmaps: SeatMaps,
        gateway: PaymentGateway,
        reconciler: Refunds,
        status_of: Callable[[BookingError], int],
        idempotency_key_ttl: timedelta = idempotency.DEFAULT_TTL,
        admission: Admission | None = None,
    ) -> None:
        self.records = records
        self.admission: Admission = admission or NoWaitingRooms()
        self.status_of = status_of  # the HTTP status a refusal is answered with, stored with its key
        self.idempotency_key_ttl = idempotency_key_ttl  # a key older than this is treated as never used
        self.actors = actors
        self.seatmaps = seatmaps
        self.gateway = gateway
        self.reconciler = reconciler

    async def show_on_sale(self, show_id: str) -> ShowInfo:
        show, _ = await self.seatmaps.layout(show_id)
        if not show.on_sale(datetime.now(UTC)):
            raise SalesClosed(show_id)
        return show

    async def _send(self, show_id: str, command: Command) -> Reply:
        await self.show_on_sale(show_id)
        reply = await self.actors.submit(show_id, command)
        if isinstance(reply, BookingError):
            raise reply
        return reply

    async def release(self, show_id: str, user_id: str, hold_id: str) -> Hold:
        reply = await self._send(show_id, ReleaseHold(user_id, hold_id))
        assert isinstance(reply, Hold)
        return reply

    async def extend(self, show_id: str, user_id: str, hold_id: str) -> Hold:
        reply = await self._send(show_id, ExtendHold(user_id, hold_id))
        assert isinstance(reply, Hold)
        return reply

    async def block(self, show_id: str, seat_ids: Sequence[str], unblock: bool = False) -> None:
        command: Command = UnblockSeats(tuple(seat_ids)) if unblock else BlockSeats(tuple(seat_ids))
        await self._send(show_id, command)

    async def my_holds(self, show_id: str, user_id: str) -> tuple[Hold, ...]:
        """The caller's live holds; ``HoldNotFound`` if there are none."""
        reply = await self._send(show_id, PreparePayment(user_id))
        assert isinstance(reply, HeldHolds)
        return reply.holds

    async def live_holds(self, show_id: str, user_id: str) -> tuple[Hold, ...]:
        try:
            return await self.my_holds(show_id, user_id)
        except HoldNotFound:
            return ()

    async def earliest_show(self, movie_id: str, theater_id: str) -> ShowInfo:
        show = await self.records.earliest_on_sale(movie_id, theater_id, datetime.now(UTC))
        if show is None:
            raise NoShowOnSale()
        return show

    async def resolve_show(self, show_id: str | None, movie_id: str, theater_id: str) -> ShowInfo:
        """The seed API's event: the one named, which must match movie and theater, or the earliest."""
        if show_id is None:
            return await self.earliest_show(movie_id, theater_id)
        show, _ = await self.seatmaps.layout(show_id)
        if show.movie_id != movie_id or show.theater_id != theater_id:
            raise UnknownShow(show_id)
        return show

    # -- paying -----------------------------------------------------------------------------------------

    async def idempotent(
        self, user_id: str, key: str | None, fingerprint: str, run: Callable[[], Awaitable[dict[str, Any]]]
    ) -> Answer:
        """Run ``run`` at most once per (account, ``Idempotency-Key``), per the IETF draft: a replay returns
        the first final answer, the same key with another request is 422, a concurrent duplicate is 409.
        Successful answers are stored by the show actor in the transaction of their effect; final refusals
        here; transient failures (503) free the key so the client can retry."""
        if key is not None:
            claim = await self.records.claim_key(user_id, key, fingerprint, self.idempotency_key_ttl)
            match claim:
                case idempotency.Replay(status_code=status, response=body):
                    return Answer(body, problem_status=status if "problem" in body else None)
                case idempotency.Mismatch():
                    raise IdempotencyKeyReused()
                case idempotency.InProgress():
                    raise RequestInProgress()
        try:
            return Answer(await run())
        except BookingError as exc:
            if key is not None:
                await self._settle_key(user_id, key, exc)
            raise

    async def hold_request(self, show_id: str, user_id: str, spec: HoldSpec, key: str | None) -> Answer:
        """Create a hold (named seats or best available), idempotently when ``key`` is given. On a show with a
        waiting room, only an admitted account may: the refusal comes first, before any key is claimed,
        so a retry with the same key once admitted is a new request, not a replay of the refusal."""
        await self.admission.check_admitted(show_id, user_id)
        # Only a request with a key is ever compared with another: hashing it otherwise is wasted work.
        fingerprint = "" if key is None else idempotency.request_hash({"op": "hold", "show": show_id, **asdict(spec)})

        async def run() -> dict[str, Any]:
            await self.show_on_sale(show_id)
            command: Command = (
                HoldSeats(user_id, spec.seat_ids, key, fingerprint)
                if spec.seat_ids
                else HoldBestAvailable(user_id, spec.count, spec.category, key, fingerprint, spec.section)
            )
            reply = await self.actors.submit(show_id, command)
            if isinstance(reply, BookingError):
                raise reply
            assert isinstance(reply, Hold)
            return hold_answer(reply)

        return await self.idempotent(user_id, key, fingerprint, run)

    async def box_office_sale(
        self, seller_id: str, show_id: str, seats: tuple[str, ...], customer_name: str, card: str, key: str | None
    ) -> Answer:
        """Sell seats to a walk-in customer in one step: hold (no per-account cap), charge, book. The
        booking records the selling account and the customer. A declined card frees the seats at once."""
        fingerprint = idempotency.request_hash(
            {"op": "box-office-sale", "show": show_id, "seats": seats, "customer": customer_name, "card": card}
        )

        async def run() -> dict[str, Any]:
            await self.show_on_sale(show_id)
            held = await self.actors.submit(show_id, HoldSeats(seller_id, seats, cap_exempt=True))
            if isinstance(held, BookingError):
                raise held
            assert isinstance(held, Hold)
            payment = await self._begin_payment(
                show_id, seller_id, (held.hold_id,), key, fingerprint, customer_name=customer_name
            )
            try:
                booking = await self._charge_and_book(
                    show_id, seller_id, payment, card, key=key, fingerprint=fingerprint, customer_name=customer_name
                )
            except PaymentDeclined as exc:
                await self.actors.submit(show_id, ReleaseHold(seller_id, held.hold_id))
                raise PaymentDeclined(f"{exc.detail.split(';')[0]}; the seats were released") from None
            return booking_answer(booking, customer_name)

        return await self.idempotent(seller_id, key, fingerprint, run)

    async def pay(self, user_id: str, request: PaymentRequest) -> Answer:
        """Pay for all of the caller's live holds on a show as one booking."""

        async def run() -> dict[str, Any]:
            return booking_answer(await self._pay(user_id, request))

        return await self.idempotent(user_id, request.idempotency_key, request.fingerprint, run)

    async def _settle_key(self, user_id: str, key: str, error: BookingError) -> None:
        """A final refusal is stored as the key's answer; a transient one frees the key for a retry."""
        try:
            if isinstance(error, Unavailable):
                await self.records.forget_key(user_id, key)
            else:
                status = self.status_of(error)
                body = {"type": error.code, "status": status, "detail": error.detail}
                await self.records.finish_key(user_id, key, status, {"problem": body})
        except Exception as exc:
            log.warning("could not settle idempotency key: %r", exc)

    async def _pay(self, user_id: str, request: PaymentRequest) -> Booking:
        try:
            payment = await self._begin_payment(
                request.show_id, user_id, None, request.idempotency_key, request.fingerprint
            )
        except HoldNotFound:
            status = await self.records.latest_hold_status(request.show_id, user_id)
            if status == "expired":
                raise HoldExpired("") from None
            raise HoldNotFound("") from None
        return await self._charge_and_book(
            request.show_id,
            user_id,
            payment,
            request.card_number,
            key=request.idempotency_key,
            fingerprint=request.fingerprint,
        )

    async def _begin_payment(
        self,
        show_id: str,
        user_id: str,
        hold_ids: tuple[str, ...] | None,
        key: str | None,
        fingerprint: str,
        *,
        customer_name: str | None = None,
    ) -> Payment:
        """Holds into payment-pending, durably, before any money moves (or the payment under way, resumed).
        The request's ``Idempotency-Key`` goes with the payment: if the reconciler ends up booking it, it
        stores the booking as that key's answer, so the client's retry learns it was booked."""
        reply = await self._send(
            show_id, BeginPayment(user_id, hold_ids, customer_name, key, fingerprint if key is not None else None)
        )
        assert isinstance(reply, Payment)
        return reply

    async def _charge_and_book(
        self,
        show_id: str,
        user_id: str,
        payment: Payment,
        card: str,
        *,
        key: str | None,
        fingerprint: str,
        customer_name: str | None = None,
    ) -> Booking:
        """Charge under the payment's own key, then book. Every way out leaves the payment settled or
        settleable: declined → holds back (402); no answer → holds kept pending, 503 (a retry charges under
        the same key, and the reconciler settles it if nobody retries); charged but not bookable → refund."""
        try:
            charge = await self.gateway.charge(payment.payment_key, payment.total, card)
        except GatewayRejected as exc:
            # A definite no that moved nothing: the payment under way for these seats was made with
            # another card (a retry must use the same one), or the gateway refused the request itself.
            log.warning("payment %s: gateway refused: %s", payment.payment_key, exc)
            raise PaymentInProgress(payment.hold_ids[0]) from None
        except GatewayUnavailable as exc:
            log.warning("payment %s: gateway did not answer: %s", payment.payment_key, exc.detail)
            raise Unavailable(
                "the payment service did not answer; your seats stay held while the payment is settled. "
                "Retrying is safe: you are never charged twice",
                5,
            ) from None
        if not charge.approved:
            reply = await self.actors.submit(show_id, AbortPayment(payment.payment_key, "declined"))
            if isinstance(reply, Unavailable):
                log.warning("payment %s declined, holds not yet given back: %s", payment.payment_key, reply.detail)
            raise PaymentDeclined(f"{charge.detail}; your seats stay held until the hold expires")
        reply = await self.actors.submit(
            show_id,
            ConfirmHolds(
                user_id,
                payment.hold_ids,
                payment_key=payment.payment_key,
                payment_ref=charge.charge_id,
                idempotency_key=key,
                request_hash=fingerprint,
                customer_name=customer_name,
            ),
        )
        if isinstance(reply, Booking):
            return reply
        if isinstance(reply, Unavailable):
            # Outcome unknown: the booking may have committed. The payment row says which once it is
            # settled; a retry with the same Idempotency-Key replays the stored answer if it did.
            raise reply
        booked = await self.records.booking_paid_by(payment.payment_key)
        if booked is not None and booked.status == "confirmed":
            # Booked meanwhile by the reconciler (or a concurrent retry): the customer has the seats.
            b = booked
            return Booking(b.id, b.user_id, b.seat_ids, b.hold_ids, b.amount, b.created_at, b.fee)
        await self.records.owe_refund(
            payment.payment_key, charge.charge_id, charge.amount - charge.refunded, "charged, not booked"
        )
        await self._settle_refunds([payment.payment_key])
        if isinstance(reply, BookingError):
            raise reply
        raise InvalidRequest("unexpected reply")

    async def _settle_refunds(self, payment_ids: Sequence[str]) -> None:
        """Refund now what can be; the reconciler retries the rest."""
        try:
            report = await self.reconciler.settle_refunds(payment_ids)
            if report.errors:
                log.warning("refunds left for the reconciler: %s", "; ".join(report.errors))
        except Exception as exc:
            log.warning("refunds left for the reconciler: %r", exc)

    # -- bookings ---------------------------------------------------------------------------------------

    async def booking_of(self, caller_id: str, is_admin: bool, booking_id: str) -> BookingInfo:
        """The booking if the caller owns it (or is an admin); otherwise 404, as if it did not exist."""
        booking = await self.records.get_booking(booking_id)
        if booking is None or (booking.user_id != caller_id and not is_admin):
            raise BookingNotFound(booking_id)
        return booking

    async def cancel(self, caller_id: str, is_admin: bool, booking_id: str) -> BookingInfo:
        """Cancel a confirmed booking before its show starts, free its seats and refund its payment (less
        the fees for a customer's own cancellation)."""
        booking = await self.booking_of(caller_id, is_admin, booking_id)
        if booking.status == "cancelled":
            return booking
        reply = await self.actors.submit(booking.show_id, CancelBooking(None if is_admin else caller_id, booking_id))
        if isinstance(reply, BookingError):
            raise reply
        assert isinstance(reply, BookingCancelled)
        owed = await self.records.refunds_owed([booking_id])
        await self._settle_refunds(owed)
        return replace(booking, status="cancelled", cancel_reason=reply.reason, refund_amount=reply.refund)

    async def cancel_show(self, show_id: str) -> ShowCancelReport:
        """Cancel a whole show (admin): sales stop, every booking is cancelled and refunded in full.
        Cancelling a cancelled show answers again with nothing more to do (its actor is gone by then)."""
        current = await self.records.get_show(show_id)
        if current is None:
            raise UnknownShow(show_id)
        if current.status == "cancelled":
            self.seatmaps.forget(show_id)
            return ShowCancelReport(show_id, 0, 0, 0)
        if current.starts_at <= datetime.now(UTC):
            raise SalesClosed(show_id)  # started: its actor has retired, and a show that ran stays booked
        reply = await self.actors.submit(show_id, CancelShow())
        if isinstance(reply, BookingError):
            raise reply
        assert isinstance(reply, ShowCancellation)
        self.seatmaps.forget(show_id)  # its cached row still says on sale
        booking_ids = [c.booking.booking_id for c in reply.cancelled]
        owed = await self.records.refunds_owed(booking_ids)
        await self._settle_refunds(owed)
        left = await self.records.refunds_owed(booking_ids)
        return ShowCancelReport(show_id, len(booking_ids), len(owed) - len(left), len(left))
