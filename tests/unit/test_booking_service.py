"""``booking.service.BookingService`` on fakes (``tests/unit/booking_fakes.py``): the on-sale check, the
idempotency protocol, the pay / abort / refund saga and its failure paths, the box office's release on a
declined card, cancellations. No Ray, no database, no server."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from actors.commands import (
    AbortPayment,
    BeginPayment,
    CancelBooking,
    CancelShow,
    ConfirmHolds,
    HoldBestAvailable,
    HoldSeats,
    ReleaseHold,
    ShowCancellation,
    booking_answer,
    hold_answer,
)
from actors.errors import (
    BookingNotFound,
    HoldExpired,
    HoldNotFound,
    PaymentDeclined,
    PaymentInProgress,
    SalesClosed,
    SeatsUnavailable,
    Unavailable,
    UnknownShow,
)
from actors.seat_map_core import BookingCancelled
from booking.errors import IdempotencyKeyReused, NoShowOnSale, RequestInProgress
from booking.service import HoldSpec, PaymentRequest
from payments.gateway import ChargeResult, GatewayRejected, GatewayUnavailable
from tests.unit.booking_fakes import (
    FakeAdmission,
    FakeGateway,
    StoredKey,
    a_booking,
    a_hold,
    a_payment,
    a_show,
    booking_info,
    world,
)
from waiting_room.errors import NotAdmitted

USER = "user-1"
SEATS = HoldSpec(seat_ids=("A1", "A2"))
DECLINED = ChargeResult(False, "charge-9", "card declined")


def pay_request(key: str | None = None) -> PaymentRequest:
    return PaymentRequest.of("show-1", "4242424242424242", key)


# -- holds and the on-sale check -----------------------------------------------------------------------


async def test_a_hold_goes_to_the_show_actor_and_answers_the_hold() -> None:
    w = world()
    w.actors.answer(HoldSeats, a_hold())
    answer = await w.service.hold_request("show-1", USER, SEATS, None)
    assert answer.body == hold_answer(a_hold())
    assert answer.problem_status is None
    assert w.actors.commands(HoldSeats) == [HoldSeats(USER, ("A1", "A2"), None, "")]
    assert w.records.keys == {}  # no key, nothing claimed


async def test_best_available_sends_count_and_category() -> None:
    w = world()
    w.actors.answer(HoldBestAvailable, a_hold())
    await w.service.hold_request("show-1", USER, HoldSpec(count=2, category="vip"), None)
    assert w.actors.commands(HoldBestAvailable) == [HoldBestAvailable(USER, 2, "vip", None, "")]


@pytest.mark.parametrize("show", [a_show(starts_in=-timedelta(minutes=1)), a_show(status="cancelled")])
async def test_a_show_not_on_sale_is_refused_before_its_actor_is_asked(show: object) -> None:
    w = world(show)  # type: ignore[arg-type]
    with pytest.raises(SalesClosed):
        await w.service.hold_request("show-1", USER, SEATS, None)
    assert w.actors.sent == []


async def test_an_unknown_show_is_refused() -> None:
    w = world()
    with pytest.raises(UnknownShow):
        await w.service.hold_request("show-2", USER, SEATS, None)


async def test_a_waiting_room_refuses_the_non_admitted_before_any_key_or_actor() -> None:
    admission = FakeAdmission(admitted={"admitted-user"})
    w = world(admission=admission)
    with pytest.raises(NotAdmitted):
        await w.service.hold_request("show-1", USER, SEATS, "key-1")
    assert w.actors.sent == []
    assert w.records.keys == {}  # the key is not spent: a retry once admitted is a new request
    w.actors.answer(HoldSeats, a_hold())
    await w.service.hold_request("show-1", "admitted-user", SEATS, "key-1")
    assert admission.asked == [("show-1", USER), ("show-1", "admitted-user")]
    assert len(w.actors.commands(HoldSeats)) == 1


async def test_a_refusal_from_the_actor_is_raised() -> None:
    w = world()
    w.actors.answer(HoldSeats, SeatsUnavailable(["A1"]))
    with pytest.raises(SeatsUnavailable):
        await w.service.hold_request("show-1", USER, SEATS, None)


async def test_the_seed_api_finds_the_earliest_show_on_sale_or_none() -> None:
    w = world()
    with pytest.raises(NoShowOnSale) as refused:
        await w.service.resolve_show(None, "movie-1", "theater-1")
    assert refused.value.detail == "no show of that movie in that theater is on sale"
    later, sooner = a_show("show-9", starts_in=timedelta(days=3)), a_show("show-8")
    w.records.on_sale = [later, sooner]
    assert await w.service.resolve_show(None, "movie-1", "theater-1") == sooner


async def test_a_named_seed_event_must_match_movie_and_theater() -> None:
    w = world()
    assert (await w.service.resolve_show("show-1", "movie-1", "theater-1")).id == "show-1"
    with pytest.raises(UnknownShow):
        await w.service.resolve_show("show-1", "movie-2", "theater-1")


# -- the idempotency protocol --------------------------------------------------------------------------


async def test_a_keyed_success_runs_once_and_leaves_its_answer_to_the_actor() -> None:
    w = world()
    w.actors.answer(HoldSeats, a_hold())
    await w.service.hold_request("show-1", USER, SEATS, "k1")
    (sent,) = w.actors.commands(HoldSeats)
    assert sent.idempotency_key == "k1"
    assert sent.request_hash == w.records.keys[(USER, "k1")].fingerprint
    assert w.records.keys[(USER, "k1")].status is None  # the actor stores it with the hold, not the service


async def test_a_final_refusal_is_stored_and_replayed_without_running_again() -> None:
    w = world()
    w.actors.answer(HoldSeats, SeatsUnavailable(["A1"]))
    with pytest.raises(SeatsUnavailable):
        await w.service.hold_request("show-1", USER, SEATS, "k1")
    stored = w.records.keys[(USER, "k1")]
    problem = {"type": "seats-unavailable", "status": 498, "detail": "not available: A1"}
    assert (stored.status, stored.response) == (498, {"problem": problem})
    replay = await w.service.hold_request("show-1", USER, SEATS, "k1")
    assert (replay.problem_status, replay.body) == (498, {"problem": problem})
    assert len(w.actors.sent) == 1


async def test_a_replayed_success_is_not_a_problem() -> None:
    w = world()
    w.records.keys[(USER, "k1")] = StoredKey(pay_request("k1").fingerprint, 200, {"status": "confirmed"})
    answer = await w.service.pay(USER, pay_request("k1"))
    assert (answer.problem_status, answer.body) == (None, {"status": "confirmed"})
    assert w.actors.sent == []
    assert w.gateway.charges == []


async def test_a_transient_failure_frees_the_key_for_a_retry() -> None:
    w = world()
    w.actors.answer(HoldSeats, Unavailable("actor busy", 2), a_hold())
    with pytest.raises(Unavailable):
        await w.service.hold_request("show-1", USER, SEATS, "k1")
    assert (USER, "k1") not in w.records.keys
    assert (await w.service.hold_request("show-1", USER, SEATS, "k1")).body == hold_answer(a_hold())


async def test_the_same_key_with_another_request_is_refused() -> None:
    w = world()
    w.actors.answer(HoldSeats, a_hold())
    await w.service.hold_request("show-1", USER, SEATS, "k1")
    with pytest.raises(IdempotencyKeyReused):
        await w.service.hold_request("show-1", USER, HoldSpec(seat_ids=("B1",)), "k1")
    assert len(w.actors.sent) == 1


async def test_a_duplicate_while_the_first_runs_is_refused() -> None:
    w = world()
    await w.records.claim_key(USER, "k1", pay_request("k1").fingerprint, timedelta(hours=1))
    with pytest.raises(RequestInProgress):
        await w.service.pay(USER, pay_request("k1"))
    assert w.actors.sent == []


async def test_a_key_that_cannot_be_settled_leaves_the_refusal_as_it_was(caplog: pytest.LogCaptureFixture) -> None:
    w = world()
    w.actors.answer(HoldSeats, SeatsUnavailable(["A1"]))
    w.records.fail_writes = True
    with caplog.at_level(logging.WARNING), pytest.raises(SeatsUnavailable):
        await w.service.hold_request("show-1", USER, SEATS, "k1")
    assert "could not settle idempotency key" in caplog.text


# -- paying: the saga --------------------------------------------------------------------------------


async def test_pay_begins_charges_under_the_payment_key_and_books() -> None:
    hold = a_hold()
    w = world()
    w.actors.answer(BeginPayment, a_payment(hold))
    w.actors.answer(ConfirmHolds, a_booking(hold=hold))
    answer = await w.service.pay(USER, pay_request("k1"))
    assert answer.body == booking_answer(a_booking(hold=hold))
    assert w.gateway.charges == [("pay-1", Decimal(21), "4242424242424242")]
    (begin,) = w.actors.commands(BeginPayment)
    assert (begin.idempotency_key, begin.request_hash) == ("k1", pay_request("k1").fingerprint)
    (confirm,) = w.actors.commands(ConfirmHolds)
    assert (confirm.payment_key, confirm.payment_ref, confirm.hold_ids) == ("pay-1", "charge-1", ("hold-1",))
    assert w.records.owed_refunds == []


async def test_a_declined_card_gives_the_holds_back_and_books_nothing() -> None:
    w = world(gateway=FakeGateway(DECLINED))
    w.actors.answer(BeginPayment, a_payment(a_hold()))
    w.actors.answer(AbortPayment, a_payment(a_hold()))
    with pytest.raises(PaymentDeclined) as refused:
        await w.service.pay(USER, pay_request("k1"))
    assert refused.value.detail == "card declined; your seats stay held until the hold expires"
    assert w.actors.commands(AbortPayment) == [AbortPayment("pay-1", "declined")]
    assert w.actors.commands(ConfirmHolds) == []
    assert w.records.keys[(USER, "k1")].status == 499  # a final refusal: stored


async def test_a_decline_whose_abort_is_not_answered_still_answers_declined() -> None:
    w = world(gateway=FakeGateway(DECLINED))
    w.actors.answer(BeginPayment, a_payment(a_hold()))
    w.actors.answer(AbortPayment, Unavailable("actor restarting"))
    with pytest.raises(PaymentDeclined):
        await w.service.pay(USER, pay_request())


async def test_no_answer_from_the_gateway_keeps_the_holds_pending_and_the_key_free() -> None:
    w = world(gateway=FakeGateway(GatewayUnavailable("timed out")))
    w.actors.answer(BeginPayment, a_payment(a_hold()))
    with pytest.raises(Unavailable) as refused:
        await w.service.pay(USER, pay_request("k1"))
    assert refused.value.retry_after == 5
    assert "never charged twice" in refused.value.detail
    assert w.actors.commands(AbortPayment) == []
    assert w.actors.commands(ConfirmHolds) == []
    assert (USER, "k1") not in w.records.keys


async def test_a_charge_the_gateway_refuses_is_a_payment_in_progress() -> None:
    w = world(gateway=FakeGateway(GatewayRejected(409, "key used with another card")))
    w.actors.answer(BeginPayment, a_payment(a_hold("hold-7")))
    with pytest.raises(PaymentInProgress) as refused:
        await w.service.pay(USER, pay_request())
    assert refused.value.hold_id == "hold-7"
    assert w.actors.commands(AbortPayment) == []
    assert w.actors.commands(ConfirmHolds) == []


async def test_an_unanswered_confirmation_is_unavailable_and_refunds_nothing() -> None:
    w = world()
    w.actors.answer(BeginPayment, a_payment(a_hold()))
    w.actors.answer(ConfirmHolds, Unavailable("actor restarting", 1))
    with pytest.raises(Unavailable):
        await w.service.pay(USER, pay_request())
    assert w.records.owed_refunds == []
    assert w.refunds.asked == []


async def test_charged_but_not_bookable_is_refunded_and_refused() -> None:
    w = world(gateway=FakeGateway(ChargeResult(True, "charge-1", "ok", Decimal(21), Decimal(1))))
    w.actors.answer(BeginPayment, a_payment(a_hold()))
    w.actors.answer(ConfirmHolds, HoldExpired("hold-1"))
    with pytest.raises(HoldExpired):
        await w.service.pay(USER, pay_request())
    assert w.records.owed_refunds == [("pay-1", "charge-1", Decimal(20), "charged, not booked")]
    assert w.refunds.asked == [["pay-1"]]


async def test_a_refund_the_settler_cannot_make_now_is_left_to_the_reconciler() -> None:
    w = world()
    w.refunds.broken = True
    w.actors.answer(BeginPayment, a_payment(a_hold()))
    w.actors.answer(ConfirmHolds, HoldExpired("hold-1"))
    with pytest.raises(HoldExpired):
        await w.service.pay(USER, pay_request())
    assert w.records.owed_refunds
    assert w.refunds.asked == [["pay-1"]]


async def test_charged_and_booked_meanwhile_is_the_booking_not_a_refund() -> None:
    w = world()
    w.actors.answer(BeginPayment, a_payment(a_hold()))
    w.actors.answer(ConfirmHolds, PaymentInProgress("hold-1"))
    w.records.paid["pay-1"] = "booking-1"
    w.records.bookings["booking-1"] = booking_info()
    answer = await w.service.pay(USER, pay_request())
    assert answer.body["booking_id"] == "booking-1"
    assert answer.body["amount"] == 21.0
    assert w.records.owed_refunds == []


@pytest.mark.parametrize(
    ("latest", "error"), [("expired", HoldExpired), ("released", HoldNotFound), (None, HoldNotFound)]
)
async def test_paying_without_a_live_hold_says_whether_it_expired(latest: str | None, error: type) -> None:
    w = world()
    w.records.hold_status = latest
    w.actors.answer(BeginPayment, HoldNotFound(""))
    with pytest.raises(error):
        await w.service.pay(USER, pay_request())
    assert w.gateway.charges == []


async def test_the_box_office_releases_the_seats_of_a_declined_card() -> None:
    w = world(gateway=FakeGateway(DECLINED))
    w.actors.answer(HoldSeats, a_hold("hold-5", user_id="seller"))
    w.actors.answer(BeginPayment, a_payment(a_hold("hold-5", user_id="seller")))
    w.actors.answer(AbortPayment, a_payment(a_hold("hold-5", user_id="seller")))
    w.actors.answer(ReleaseHold, a_hold("hold-5", user_id="seller"))
    with pytest.raises(PaymentDeclined) as refused:
        await w.service.box_office_sale("seller", "show-1", ("A1", "A2"), "Ann", "4000", None)
    assert refused.value.detail == "card declined; the seats were released"
    assert w.actors.commands(HoldSeats)[0].cap_exempt
    assert w.actors.commands(ReleaseHold) == [ReleaseHold("seller", "hold-5")]


async def test_a_box_office_sale_books_for_the_customer() -> None:
    hold = a_hold("hold-5", user_id="seller")
    w = world()
    w.actors.answer(HoldSeats, hold)
    w.actors.answer(BeginPayment, a_payment(hold))
    w.actors.answer(ConfirmHolds, a_booking(hold=hold))
    answer = await w.service.box_office_sale("seller", "show-1", ("A1", "A2"), "Ann", "4242", None)
    assert answer.body["customer_name"] == "Ann"
    assert answer.body["sold_by"] == "seller"
    assert w.actors.commands(ConfirmHolds)[0].customer_name == "Ann"
    assert w.actors.commands(ReleaseHold) == []


# -- bookings and cancellations ----------------------------------------------------------------------


async def test_someone_elses_booking_is_not_found_unless_admin() -> None:
    w = world()
    w.records.bookings["booking-1"] = booking_info(user_id="user-2")
    with pytest.raises(BookingNotFound):
        await w.service.booking_of(USER, False, "booking-1")
    assert (await w.service.booking_of(USER, True, "booking-1")).id == "booking-1"


async def test_cancelling_frees_the_seats_and_settles_the_refund() -> None:
    w = world(refundable=["pay-1"])
    w.records.bookings["booking-1"] = booking_info()
    w.records.refund_pending["pay-1"] = "booking-1"
    w.actors.answer(CancelBooking, BookingCancelled(a_booking(), "customer", Decimal(19)))
    cancelled = await w.service.cancel(USER, False, "booking-1")
    assert (cancelled.status, cancelled.cancel_reason, cancelled.refund_amount) == (
        "cancelled",
        "customer",
        Decimal(19),
    )
    assert w.actors.commands(CancelBooking) == [CancelBooking(USER, "booking-1")]
    assert w.refunds.asked == [["pay-1"]]


async def test_cancelling_a_cancelled_booking_asks_nobody() -> None:
    w = world()
    w.records.bookings["booking-1"] = booking_info(status="cancelled")
    assert (await w.service.cancel(USER, False, "booking-1")).status == "cancelled"
    assert w.actors.sent == []
    assert w.refunds.asked == []


async def test_cancelling_a_show_refunds_what_it_can_and_counts_the_rest() -> None:
    w = world(refundable=["pay-1"])
    w.records.shows["show-1"] = a_show()
    w.records.refund_pending |= {"pay-1": "booking-1", "pay-2": "booking-2"}
    cancelled = (BookingCancelled(a_booking("booking-1")), BookingCancelled(a_booking("booking-2")))
    w.actors.answer(CancelShow, ShowCancellation(cancelled))
    report = await w.service.cancel_show("show-1")
    assert (report.bookings_cancelled, report.refunded, report.refunds_pending) == (2, 1, 1)
    assert w.seatmaps.forgotten == ["show-1"]


@pytest.mark.parametrize(
    ("stored", "error"), [(None, UnknownShow), (a_show(starts_in=-timedelta(hours=1)), SalesClosed)]
)
async def test_a_show_that_is_unknown_or_started_cannot_be_cancelled(stored: object, error: type) -> None:
    w = world()
    if stored is not None:
        w.records.shows["show-1"] = stored  # type: ignore[assignment]
    with pytest.raises(error):
        await w.service.cancel_show("show-1")
    assert w.actors.sent == []


async def test_cancelling_a_cancelled_show_again_does_nothing_more() -> None:
    w = world()
    w.records.shows["show-1"] = a_show(status="cancelled")
    report = await w.service.cancel_show("show-1")
    assert (report.bookings_cancelled, report.refunded, report.refunds_pending) == (0, 0, 0)
    assert w.actors.sent == []
    assert w.seatmaps.forgotten == ["show-1"]
