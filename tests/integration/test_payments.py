"""Payments end to end: the service against the simulated gateway with injected faults, then the books.

Each test checks the books the way an auditor would, from the gateway's own ledger and PostgreSQL:
no hold charged twice, every captured charge either backs exactly one confirmed booking or was refunded,
no payment left unsettled and no seat stuck in payment-pending. ``audit`` is that check; a negative control
shows it catches a double charge. The figures are printed (``pytest -s``) for the closing notes.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from payments.simulator import SimulatorProcess
from settings import libpq_url
from tests.api_client import (
    ShowFixture,
    admin_headers,
    bulk_users,
    create_show,
    new_user,
    seed_hold,
    seed_pay,
    token,
)
from tests.conftest import Backing, Service, gateway_ledger, serving

SETTLE_AFTER_SECONDS = 8  # > the service's gateway timeout (2 s) x attempts (3) + backoff
PAYMENT_WINDOW_SECONDS = 40
FLAKY_CARD, HANGING_CARD = "4000000000000119", "4000000000000259"
OK_CARD, DECLINED_CARD = "4242424242424242", "4000000000000002"


@pytest.fixture(scope="module")
def paying_service(
    backing: Backing, gateway: SimulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service with a reconciler that settles quickly, so tests can wait for it."""
    env = {
        "BOOKING_PAYMENT_SETTLE_AFTER_SECONDS": str(SETTLE_AFTER_SECONDS),
        "BOOKING_RECONCILE_INTERVAL_SECONDS": "1",
        "BOOKING_PAYMENT_WINDOW_SECONDS": str(PAYMENT_WINDOW_SECONDS),
    }
    with serving(backing, tmp_path_factory, "paying-service", env, gateway) as svc:
        yield svc


@pytest.fixture
def faults(gateway: SimulatorProcess) -> Iterator[Any]:
    def inject(**values: float) -> None:
        httpx.put(gateway.base_url + "/v1/faults", json={"seed": 7, **values}, timeout=10).raise_for_status()

    try:
        yield inject
    finally:
        httpx.delete(gateway.base_url + "/v1/faults", timeout=10).raise_for_status()


# -- the audit --------------------------------------------------------------------------------------------


@dataclass
class Books:
    charges: list[dict[str, Any]]  # the gateway's captured charges for this show's payments
    payments: dict[str, dict[str, Any]]  # payment id -> row
    bookings: dict[str, dict[str, Any]]  # booking id -> row (confirmed ones)
    stuck_holds: int  # holds still pending a payment past its bound


@dataclass
class Audit:
    charges: int
    refunds: int
    double_charged_holds: list[str]
    charges_without_booking: list[str]
    bookings_without_charge: list[str]
    unsettled_payments: list[str]
    stuck_holds: int

    @property
    def clean(self) -> bool:
        return not (
            self.double_charged_holds
            or self.charges_without_booking
            or self.bookings_without_charge
            or self.unsettled_payments
            or self.stuck_holds
        )


def read_books(backing: Backing, gateway: SimulatorProcess, show_id: str) -> Books:
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        payments = {
            r[0]: {"hold_ids": list(r[1]), "status": r[2], "charge_id": r[3], "booking_id": r[4]}
            for r in conn.execute(
                "SELECT id, hold_ids, status, charge_id, booking_id FROM payments WHERE show_id = %s", (show_id,)
            )
        }
        bookings = {
            r[0]: {"payment_ref": r[1], "total": r[2] + r[3]}
            for r in conn.execute(
                "SELECT id, payment_ref, amount, fee FROM bookings WHERE show_id = %s AND status = 'confirmed'",
                (show_id,),
            )
        }
        (stuck,) = conn.execute(
            "SELECT count(*) FROM holds WHERE show_id = %s AND status = 'active' AND payment_key IS NOT NULL "
            "AND (expires_at < now() OR expires_at > now() + make_interval(secs => %s))",
            (show_id, PAYMENT_WINDOW_SECONDS + 5),
        ).fetchone() or (0,)
    charges = [c for c in gateway_ledger(gateway)["charges"] if c["idempotency_key"] in payments]
    return Books(charges, payments, bookings, int(stuck))


def audit(books: Books) -> Audit:
    captured = [c for c in books.charges if c["status"] == "captured"]
    kept = [c for c in captured if Decimal(c["refunded"]) < Decimal(c["amount"])]
    per_hold: Counter[str] = Counter()
    for charge in kept:
        for hold_id in books.payments[charge["idempotency_key"]]["hold_ids"]:
            per_hold[hold_id] += 1
    booked_refs = Counter(b["payment_ref"] for b in books.bookings.values())
    return Audit(
        charges=len(captured),
        refunds=sum(1 for c in captured if Decimal(c["refunded"]) > 0),
        double_charged_holds=[h for h, n in per_hold.items() if n > 1],
        charges_without_booking=[c["charge_id"] for c in kept if booked_refs[c["charge_id"]] != 1],
        bookings_without_charge=[
            b for b, row in books.bookings.items() if row["payment_ref"] not in {c["charge_id"] for c in kept}
        ],
        unsettled_payments=[p for p, row in books.payments.items() if row["status"] in ("pending", "refund_pending")],
        stuck_holds=books.stuck_holds,
    )


def wait_until_settled(backing: Backing, gateway: SimulatorProcess, show_id: str, seconds: float = 60) -> Audit:
    deadline = time.monotonic() + seconds
    while True:
        result = audit(read_books(backing, gateway, show_id))
        if result.clean or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_the_audit_catches_a_double_charge_and_a_charge_without_booking() -> None:
    """Negative control: books with one hold charged under two keys, and a charge nobody booked."""
    books = Books(
        charges=[
            {"idempotency_key": "pay_1", "charge_id": "c1", "status": "captured", "amount": "250", "refunded": "0"},
            {"idempotency_key": "pay_2", "charge_id": "c2", "status": "captured", "amount": "250", "refunded": "0"},
        ],
        payments={
            "pay_1": {"hold_ids": ["h1"], "status": "captured", "charge_id": "c1", "booking_id": "b1"},
            "pay_2": {"hold_ids": ["h1"], "status": "failed", "charge_id": None, "booking_id": None},
        },
        bookings={"b1": {"payment_ref": "c1", "total": Decimal(250)}},
        stuck_holds=0,
    )
    result = audit(books)
    assert result.double_charged_holds == ["h1"]
    assert result.charges_without_booking == ["c2"]
    assert not result.clean
    books.charges[1]["refunded"] = "250"  # the reconciler's refund makes the books clean
    assert audit(books).clean


# -- scenarios ---------------------------------------------------------------------------------------------


def hold_seat(client: httpx.Client, show: ShowFixture, user_token: str, seat: str) -> Any:
    """Hold one seat with the seed HoldSeat route: the hold as answered."""
    held = seed_hold(client, show, user_token, [seat])
    assert held.status_code == 200, held.text
    return held.json()


def one_seat_held(client: httpx.Client, name: str, seat: str) -> tuple[ShowFixture, str, Any]:
    """A new show and a new customer ``name`` holding its ``seat``: the show, their token and the hold."""
    show = create_show(client)
    _, user_token = new_user(client, name)
    return show, user_token, hold_seat(client, show, user_token, seat)


def hold_and_pay(client: httpx.Client, show: ShowFixture, user_token: str, seat: str, card: str) -> int:
    """Hold one seat and pay, retrying a 503 a few times with the same Idempotency-Key like a client would."""
    hold_seat(client, show, user_token, seat)
    key = secrets.token_hex(8)
    status = 0
    for _ in range(4):
        paid = seed_pay(client, show, user_token, card, key)
        status = paid.status_code
        assert status in (200, 503), paid.text
        if status == 200:
            return status
        assert "Retry-After" in paid.headers
        time.sleep(0.3)
    return status


def test_a_gateway_failing_half_its_calls_and_answering_twice_never_charges_a_hold_twice(
    paying_service: Service, backing: Backing, gateway: SimulatorProcess, faults: Any
) -> None:
    with httpx.Client(base_url=paying_service.base_url, timeout=30) as client:
        show = create_show(client, rows=[{"row": r, "seats": 10, "category": "standard"} for r in "ABCD"])
        users = bulk_users(backing.database_url, 40)
        faults(fail_before_rate=0.3, fail_after_rate=0.3)
        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(
                pool.map(
                    lambda pair: hold_and_pay(client, show, pair[0][1], pair[1], OK_CARD),
                    zip(users, show.seats, strict=True),
                )
            )
    faults()  # the gateway heals: the reconciler can now settle what is still open
    result = wait_until_settled(backing, gateway, show.show_id)
    print(
        f"\nflaky gateway, 40 payers: answers {Counter(outcomes)}; charges {result.charges}, refunds "
        f"{result.refunds}, double-charged holds {len(result.double_charged_holds)}, charges without booking "
        f"{len(result.charges_without_booking)}, unsettled {len(result.unsettled_payments)}, stuck seats "
        f"{result.stuck_holds}"
    )
    assert result.clean, result
    assert outcomes.count(503) < len(outcomes)  # the faults did not simply stop everything
    # Every payer that heard 200 has exactly one booking; those that gave up were booked by the reconciler
    # (charged) or kept their hold (never charged): nobody paid without a booking.
    books = read_books(backing, gateway, show.show_id)
    assert len(books.bookings) >= outcomes.count(200)


def test_a_charge_whose_answer_is_lost_is_booked_by_the_reconciler(
    paying_service: Service, backing: Backing, gateway: SimulatorProcess, faults: Any
) -> None:
    with httpx.Client(base_url=paying_service.base_url, timeout=30) as client:
        show, user_token, _ = one_seat_held(client, "lost-answer", "A1")
        faults(fail_after_rate=1.0)  # every charge is made, and every answer is lost
        paid = seed_pay(client, show, user_token, key="lost-answer-pay")
        assert paid.status_code == 503
        assert paid.headers["Retry-After"]
        faults()
        # The hold is pending: the customer cannot lose it to expiry or release it by mistake meanwhile.
        auth = {"Authorization": f"Bearer {user_token}"}
        (hold,) = client.get(f"/api/v1/shows/{show.show_id}/holds", headers=auth).json()
        assert client.delete(f"/api/v1/shows/{show.show_id}/holds/{hold['id']}", headers=auth).status_code == 409
        result = wait_until_settled(backing, gateway, show.show_id, seconds=SETTLE_AFTER_SECONDS + 30)
        assert result.clean, result
        bookings = client.get("/api/v1/bookings", headers=auth).json()["items"]
        # The customer retries the payment with its key after the reconciler booked it: the answer is the
        # booking, not "you hold nothing" (a final answer must be true).
        retried = seed_pay(client, show, user_token, key="lost-answer-pay")
    assert [b["seats"] for b in bookings] == [["A1"]]
    assert retried.status_code == 200, retried.text
    assert retried.json()["booking_id"] == bookings[0]["id"]
    assert retried.json()["selected_seat"] == ["A1"]
    assert result.charges == 1
    assert result.refunds == 0


def test_a_gateway_that_is_down_answers_503_and_keeps_the_hold_then_a_retry_pays_once(
    paying_service: Service, backing: Backing, gateway: SimulatorProcess, faults: Any
) -> None:
    with httpx.Client(base_url=paying_service.base_url, timeout=30) as client:
        show, user_token, _ = one_seat_held(client, "gateway-down", "A2")
        faults(fail_before_rate=1.0)
        down = seed_pay(client, show, user_token, key="pay-once")
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/problem+json")
        assert int(down.headers["Retry-After"]) > 0
        faults()
        paid = seed_pay(client, show, user_token, key="pay-once")
        assert paid.status_code == 200, paid.text
        again = seed_pay(client, show, user_token, key="pay-once")
        assert again.json() == paid.json()
    result = wait_until_settled(backing, gateway, show.show_id)
    assert result.clean, result
    assert result.charges == 1


def test_a_transient_card_is_retried_under_one_key_and_charged_once(
    paying_service: Service, backing: Backing, gateway: SimulatorProcess
) -> None:
    with httpx.Client(base_url=paying_service.base_url, timeout=30) as client:
        show = create_show(client)
        _, user_token = new_user(client, "transient")
        assert hold_and_pay(client, show, user_token, "A3", FLAKY_CARD) == 200
    result = wait_until_settled(backing, gateway, show.show_id)
    assert result.clean, result
    assert result.charges == 1


def test_a_declined_card_gives_the_hold_back_untouched(paying_service: Service, backing: Backing) -> None:
    with httpx.Client(base_url=paying_service.base_url, timeout=30) as client:
        show, user_token, held = one_seat_held(client, "declined", "A4")
        declined = seed_pay(client, show, user_token, DECLINED_CARD)
        assert declined.status_code == 402
        auth = {"Authorization": f"Bearer {user_token}"}
        (hold,) = client.get(f"/api/v1/shows/{show.show_id}/holds", headers=auth).json()
        assert hold["expires_at"].replace("+00:00", "Z")[:19] == held["hold_end_time"].replace("+00:00", "Z")[:19]
        # back in the customer's hands: releasing works again (it is refused while a payment is pending)
        assert client.delete(f"/api/v1/shows/{show.show_id}/holds/{hold['id']}", headers=auth).status_code == 204
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM payments WHERE show_id = %s", (show.show_id,))]
    assert statuses == ["declined"]


def test_cancelling_a_show_with_50_bookings_refunds_all_50_in_full(
    paying_service: Service, backing: Backing, gateway: SimulatorProcess
) -> None:
    with httpx.Client(base_url=paying_service.base_url, timeout=30) as client:
        show = create_show(client, rows=[{"row": r, "seats": 10, "category": "standard"} for r in "ABCDE"])
        users = bulk_users(backing.database_url, 50)
        with ThreadPoolExecutor(max_workers=10) as pool:
            outcomes = list(
                pool.map(
                    lambda pair: hold_and_pay(client, show, pair[0][1], pair[1], OK_CARD),
                    zip(users, show.seats, strict=True),
                )
            )
        assert outcomes == [200] * 50
        cancelled = client.post(f"/api/v1/admin/shows/{show.show_id}/cancel", headers=admin_headers(client))
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["bookings_cancelled"] == 50
        again = client.post(f"/api/v1/admin/shows/{show.show_id}/cancel", headers=admin_headers(client))
        assert again.status_code == 200, again.text  # its actor has retired: answered from PostgreSQL
        assert again.json()["bookings_cancelled"] == 0
        late = seed_hold(client, show, users[0][1], ["A1"])
        assert late.status_code == 409
    deadline = time.monotonic() + 30
    while True:
        charges = [c for c in read_books(backing, gateway, show.show_id).charges if c["status"] == "captured"]
        refunded = [c for c in charges if Decimal(c["refunded"]) == Decimal(c["amount"])]
        if len(refunded) == 50 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        reasons = Counter(
            r[0] for r in conn.execute("SELECT cancel_reason FROM bookings WHERE show_id = %s", (show.show_id,))
        )
        (status,) = conn.execute("SELECT status FROM shows WHERE id = %s", (show.show_id,)).fetchone() or ("",)
    print(f"\nshow cancelled: {len(charges)} charges, {len(refunded)} refunded in full")
    assert len(charges) == 50
    assert len(refunded) == 50
    assert reasons == {"show_cancelled": 50}
    assert status == "cancelled"


def test_a_box_office_sale_whose_answer_is_lost_is_booked_in_the_customers_name(
    paying_service: Service, backing: Backing, gateway: SimulatorProcess, faults: Any
) -> None:
    with httpx.Client(base_url=paying_service.base_url, timeout=30) as client:
        show = create_show(client)
        email = f"desk-{secrets.token_hex(4)}@example.com"
        created = client.post(
            "/api/v1/admin/users",
            headers=admin_headers(client),
            json={"email": email, "password": "desk-password", "role": "box_office"},
        )
        assert created.status_code == 201, created.text
        desk = {"Authorization": f"Bearer {token(client, email, 'desk-password')}"}
        faults(fail_after_rate=1.0)
        desk_keyed = {**desk, "Idempotency-Key": "desk-sale-1"}
        sale_body = {"seats": ["B5", "B6"], "customer_name": "Meera Iyer", "payment_info": {"card_number": OK_CARD}}
        sale = client.post(f"/api/v1/box-office/shows/{show.show_id}/sales", headers=desk_keyed, json=sale_body)
        assert sale.status_code == 503
        faults()
        result = wait_until_settled(backing, gateway, show.show_id, seconds=SETTLE_AFTER_SECONDS + 30)
        assert result.clean, result
        # The desk retries with its key once the reconciler has booked the sale: it gets the sale, not a 409
        # for seats that are (its own customer's) booked.
        retried = client.post(f"/api/v1/box-office/shows/{show.show_id}/sales", headers=desk_keyed, json=sale_body)
    assert retried.status_code == 201, retried.text  # a sale's answer, replayed
    assert retried.json()["selected_seat"] == ["B5", "B6"]
    assert retried.json()["customer_name"] == "Meera Iyer"
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        rows = conn.execute(
            "SELECT seat_ids, customer_name, sold_by FROM bookings WHERE show_id = %s AND status = 'confirmed'",
            (show.show_id,),
        ).fetchall()
    assert [(list(r[0]), r[1], r[2] is not None) for r in rows] == [(["B5", "B6"], "Meera Iyer", True)]
