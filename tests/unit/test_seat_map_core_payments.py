"""The seat-map core's money rules: payment-pending holds, fees, cancellation policy, show cancellation and
the sales schedule (``actors.seat_map_core``), driven directly with a fake clock."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from actors.errors import (
    BookingNotFound,
    CancellationClosed,
    HoldExpired,
    HoldNotFound,
    PaymentInProgress,
    SalesClosed,
)
from actors.seat_map_core import (
    BookingConfirmed,
    Hold,
    HoldReleased,
    Payment,
    PaymentAborted,
    PaymentStarted,
    SeatMap,
    SeatStatus,
    ShowCancelled,
)
from tests.unit.test_seat_map_core import (
    PREMIUM,
    STANDARD,
    STARTS_AT,
    T0,
    TTL,
    Env,
    assert_refused,
    make_env,
)

WINDOW = timedelta(minutes=2)


def paying_late() -> tuple[Env, Hold, Payment]:
    """Alice holds A1 and starts paying for it with 5 s left on the hold."""
    env = make_env(payment_window=WINDOW)
    hold = env.sm.hold("alice", ["A1"])
    env.clock.advance(TTL.total_seconds() - 5)
    return env, hold, env.sm.begin_payment("alice")


def test_begin_payment_pends_every_live_hold_of_the_caller_under_one_new_key() -> None:
    env = make_env(payment_window=WINDOW)
    sm = env.sm
    first = sm.hold("alice", ["A1"])
    second = sm.hold("alice", ["D1"])
    sm.hold("bob", ["A2"])
    env.events()
    payment = sm.begin_payment("alice")
    assert payment.hold_ids == (first.hold_id, second.hold_id)
    assert payment.payment_key.startswith("pay_")
    assert not payment.resumed
    assert payment.total == STANDARD + PREMIUM
    assert all(h.payment_key == payment.payment_key and h.resume_expires_at == T0 + TTL for h in payment.holds)
    assert env.events() == [PaymentStarted(payment)]
    assert sm.status("A1") is SeatStatus.HELD


def test_a_retry_resumes_the_same_payment_without_an_event() -> None:
    env = make_env(payment_window=WINDOW)
    sm = env.sm
    sm.hold("alice", ["A1"])
    payment = sm.begin_payment("alice")
    env.events()
    again = sm.begin_payment("alice")
    assert again.resumed
    assert again.payment_key == payment.payment_key
    assert again.hold_ids == payment.hold_ids
    assert env.events() == []


def test_a_pending_hold_cannot_be_released_extended_or_paid_by_another_payment() -> None:
    env = make_env(payment_window=WINDOW)
    sm = env.sm
    hold = sm.hold("alice", ["A1"])
    sm.begin_payment("alice")
    sm.hold("alice", ["A2"])  # a new hold beside the pending one
    assert_refused(sm, lambda: sm.release("alice", hold.hold_id), PaymentInProgress(hold.hold_id))
    assert_refused(sm, lambda: sm.extend("alice", hold.hold_id), PaymentInProgress(hold.hold_id))
    assert_refused(sm, lambda: sm.begin_payment("alice"), PaymentInProgress(hold.hold_id))
    assert_refused(sm, lambda: sm.confirm("alice", [hold.hold_id]), PaymentInProgress(hold.hold_id))


def test_a_payment_late_in_the_hold_gets_the_bounded_window_and_never_expires_mid_payment() -> None:
    env, hold, payment = paying_late()
    sm = env.sm
    assert payment.holds[0].expires_at == env.clock.now + WINDOW
    env.clock.advance(60)  # past the hold's own expiry, inside the payment window
    assert sm.expire_due() == []
    booking = sm.confirm("alice", [hold.hold_id], payment_key=payment.payment_key)
    assert booking.payment_key == payment.payment_key
    assert sm.status("A1") is SeatStatus.BOOKED


def test_an_unresolved_payment_expires_at_the_end_of_its_window() -> None:
    env, hold, payment = paying_late()
    sm = env.sm
    env.clock.advance(WINDOW.total_seconds())
    env.events()
    (expired,) = sm.expire_due()
    assert expired.hold_id == hold.hold_id
    assert env.events() == [HoldReleased(payment.holds[0], "expired")]
    assert sm.status("A1") is SeatStatus.AVAILABLE
    assert_refused(
        sm, lambda: sm.confirm("alice", [hold.hold_id], payment_key=payment.payment_key), HoldNotFound(hold.hold_id)
    )


def test_a_declined_payment_gives_the_hold_back_with_its_own_expiry() -> None:
    env = make_env(payment_window=WINDOW)
    sm = env.sm
    hold = sm.hold("alice", ["A1"])
    payment = sm.begin_payment("alice")
    env.events()
    (resumed,) = sm.abort_payment(payment.payment_key, "declined")
    assert resumed == hold
    assert env.events() == [PaymentAborted(payment.payment_key, (hold,), "declined")]
    assert sm.abort_payment(payment.payment_key, "declined") == []  # twice: nothing more happens
    assert env.events() == []
    # the hold is the caller's again: released, extended or paid anew under a new key
    assert sm.begin_payment("alice").payment_key != payment.payment_key


def test_a_decline_after_the_holds_own_expiry_leaves_it_expired() -> None:
    env, hold, payment = paying_late()
    sm = env.sm
    env.clock.advance(30)
    sm.abort_payment(payment.payment_key, "declined")
    assert sm.status("A1") is SeatStatus.AVAILABLE
    assert_refused(sm, lambda: sm.begin_payment("alice", [hold.hold_id]), HoldExpired(hold.hold_id))


def test_confirming_under_an_aborted_payment_key_is_refused() -> None:
    env = make_env(payment_window=WINDOW)
    sm = env.sm
    hold = sm.hold("alice", ["A1"])
    payment = sm.begin_payment("alice")
    sm.abort_payment(payment.payment_key, "failed")
    assert_refused(
        sm, lambda: sm.confirm("alice", [hold.hold_id], payment_key=payment.payment_key), HoldNotFound(hold.hold_id)
    )


def test_begin_payment_on_named_holds_only_and_refusals() -> None:
    env = make_env(payment_window=WINDOW)
    sm = env.sm
    assert_refused(sm, lambda: sm.begin_payment("alice"), HoldNotFound(""))
    mine = sm.hold("alice", ["A1"])
    other = sm.hold("alice", ["A2"])
    theirs = sm.hold("bob", ["A3"])
    assert_refused(sm, lambda: sm.begin_payment("alice", [theirs.hold_id]), HoldNotFound(theirs.hold_id))
    payment = sm.begin_payment("alice", [mine.hold_id])
    assert payment.hold_ids == (mine.hold_id,)
    assert sm.holds_of("alice")[1] == other  # untouched


def test_a_payment_under_way_when_sales_close_may_still_complete_until_the_start() -> None:
    env = make_env(payment_window=WINDOW, sales_close_at=T0 + timedelta(minutes=5))
    sm = env.sm
    hold = sm.hold("alice", ["A1"])
    assert hold.expires_at == T0 + timedelta(minutes=5)  # a hold never outlasts sales
    env.clock.advance(4 * 60)
    payment = sm.begin_payment("alice")
    env.clock.advance(90)  # sales have closed
    assert_refused(sm, lambda: sm.hold("bob", ["A2"]), SalesClosed)
    sm.confirm("alice", [hold.hold_id], payment_key=payment.payment_key)


def test_sales_open_and_close_on_schedule() -> None:
    env = make_env(sales_open_at=T0 + timedelta(minutes=30), sales_close_at=STARTS_AT - timedelta(minutes=15))
    sm = env.sm
    assert_refused(sm, lambda: sm.hold("alice", ["A1"]), SalesClosed)
    env.clock.now = T0 + timedelta(minutes=30)
    hold = sm.hold("alice", ["A1"])
    assert hold.expires_at == hold.created_at + TTL
    env.clock.now = STARTS_AT - timedelta(minutes=15)
    assert_refused(sm, lambda: sm.hold("alice", ["A2"]), SalesClosed)


def test_the_convenience_fee_is_per_ticket_and_part_of_the_total() -> None:
    env = make_env(convenience_fee=Decimal("20.00"))
    sm = env.sm
    hold = sm.hold("alice", ["A1", "D1"])
    assert hold.amount == STANDARD + PREMIUM
    assert hold.fee == Decimal("40.00")
    assert hold.total == STANDARD + PREMIUM + Decimal("40.00")
    booking = sm.confirm("alice", [hold.hold_id])
    assert (booking.amount, booking.fee, booking.total) == (hold.amount, hold.fee, hold.total)


def test_a_customer_cancellation_keeps_the_fees_and_closes_before_the_cutoff() -> None:
    env = make_env(
        convenience_fee=Decimal("20.00"), cancellation_fee_rate=Decimal("0.10"), cancel_cutoff=timedelta(hours=1)
    )
    sm = env.sm
    first = sm.confirm("alice", [sm.hold("alice", ["A1"]).hold_id])
    second = sm.confirm("alice", [sm.hold("alice", ["A2"]).hold_id])
    cancelled = sm.cancel("alice", first.booking_id)
    assert cancelled.refund == STANDARD - Decimal("20.00")  # 10 % of the seat kept, and the convenience fee
    env.clock.now = STARTS_AT - timedelta(minutes=59)
    assert_refused(sm, lambda: sm.cancel("alice", second.booking_id), CancellationClosed(timedelta(hours=1)))
    # an operator may still cancel, and refunds everything
    assert sm.cancel(None, second.booking_id).refund == second.total


def test_cancelling_the_show_refunds_every_booking_in_full_and_stops_sales() -> None:
    env = make_env(convenience_fee=Decimal("20.00"), cancellation_fee_rate=Decimal("0.5"))
    sm = env.sm
    bookings = [sm.confirm(u, [sm.hold(u, [s]).hold_id]) for u, s in [("alice", "A1"), ("bob", "A2")]]
    sm.hold("carol", ["A3"])
    env.events()
    cancelled = sm.cancel_show()
    assert [c.booking for c in cancelled] == bookings
    assert all(c.reason == "show_cancelled" and c.refund == c.booking.total for c in cancelled)
    events = env.events()
    assert isinstance(events[0], HoldReleased)
    assert events[0].reason == "sales_closed"
    assert events[1:] == [*cancelled, ShowCancelled("show-1")]
    assert sum(sm.counts().values()) == sm.counts()[SeatStatus.AVAILABLE]
    assert_refused(sm, lambda: sm.hold("alice", ["A1"]), SalesClosed)
    assert_refused(sm, lambda: sm.cancel("alice", bookings[0].booking_id), BookingNotFound(bookings[0].booking_id))
    assert sm.cancel_show() == []  # idempotent


def test_pending_holds_survive_a_restore() -> None:
    env = make_env(payment_window=WINDOW)
    sm = env.sm
    hold = sm.hold("alice", ["A1"])
    payment = sm.begin_payment("alice")
    restored = SeatMap.restore(sm.rules, sm.seats, env.clock, holds=payment.holds)
    again = restored.begin_payment("alice")
    assert again.resumed
    assert again.payment_key == payment.payment_key
    booking = restored.confirm("alice", [hold.hold_id], payment_key=payment.payment_key)
    assert isinstance(restored.drain_events()[-1], BookingConfirmed)
    assert booking.seat_ids == ("A1",)


def test_cancel_show_refused_after_the_start() -> None:
    env = make_env()
    env.clock.now = STARTS_AT
    assert_refused(env.sm, env.sm.cancel_show, SalesClosed)
