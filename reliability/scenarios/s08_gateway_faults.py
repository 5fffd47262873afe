"""Scenario 8: the payment gateway failing, slow, charging then timing out, and answering twice.

What it promises: a hold is charged at most once, whatever the gateway does (one idempotency key per
payment attempt, retried under that key); every charge ends in a booking or is refunded (the pay request
settles what it can, the reconciler the rest); and no seat is left stuck in payment-pending.

How: the simulated gateway (``payments/simulator.py``) in a subprocess, its ledger in its own schema of
the scenario's database, driven through ``PUT /v1/faults`` and its test cards. The service waits 2 s per
gateway attempt (``tests.conftest.SERVICE_PAYMENT_TIMEOUT_SECONDS``); the reconciler settles payments
left open for 3 s, every second. Phases, each with its own customers (each their own seat), in order:

- *failing*: half the gateway calls answer 503 without doing anything;
- *answering twice*: half the calls charge and then answer 503 (the retry gets the second answer);
- *slow beyond the timeout*: every answer comes 3 s late, after the charge: each attempt times out;
- *slow card*: approved after 0.5 s (inside the timeout);
- *charge, then time out* (card …0259): the first attempt charges and hangs; the retry finds the charge;
- *transient* (card …0119): two 503s, then approved;
- *declined* (card …0002): 402, holds back, nothing charged;
- *abandoned*: every answer lost (charged, then 503) and the customer never retries: only the
  reconciler can finish these.

Then the faults are cleared and the reconciler gets its time. Figures: double charges; charges without a
booking after reconciliation; stuck seats; acknowledged bookings lost; declined cards charged; payments
left unsettled; customers given a definite "no" (a 4xx to their payment, after retrying an unknown outcome
with the same key) although they ended up booked and charged: a final answer must be true. Last, every
customer who gave up comes back once the reconciler is done and retries the payment with its key: one
the reconciler booked must be answered with that booking (200, its id), never "you hold nothing".
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from harness.backing import query_int
from reliability import faults
from reliability.env import Env
from reliability.faults import Calls, Purchase
from reliability.figures import Figure, at_least, informational, zero
from settings import libpq_url

DECLINED_CARD = "4000000000000002"
TRANSIENT_CARD = "4000000000000119"
TIMEOUT_CARD = "4000000000000259"
SLOW_CARD = "4000000000003220"
SETTLE_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Phase:
    name: str
    injected: dict[str, Any]
    card: str = faults.APPROVED_CARD
    give_up_after: float = 30.0


PHASES = (
    Phase("failing", {"fail_before_rate": 0.5}),
    Phase("answering twice", {"fail_after_rate": 0.5}),
    Phase("slow beyond the timeout", {"delay_seconds": 3.0}, give_up_after=8.0),
    Phase("slow card", {}, card=SLOW_CARD),
    Phase("charge, then time out", {}, card=TIMEOUT_CARD),
    Phase("transient", {}, card=TRANSIENT_CARD),
    Phase("declined", {}, card=DECLINED_CARD),
    Phase("abandoned", {"fail_after_rate": 1.0}, give_up_after=0.0),
)


class GatewayFaults:
    number = 8
    title = "Payment gateway failing, slow, charging then timing out, answering twice"

    def run(self, env: Env, full: bool) -> list[Figure]:
        n = self.number
        each = 24 if full else 6
        gateway = env.gateway
        service = env.start_service(
            {"BOOKING_PAYMENT_SETTLE_AFTER_SECONDS": "3", "BOOKING_RECONCILE_INTERVAL_SECONDS": "1"}
        )
        show = faults.new_show(service.base_url, seats=each * len(PHASES) + 10)
        customers = faults.users(env, each * len(PHASES))
        outcomes: dict[str, dict[str, int]] = {}
        done: list[Purchase] = []
        card_of: dict[str, str] = {}  # a retry must repeat the request: same card
        for i, phase in enumerate(PHASES):
            buyers = faults.buyers_for(show, customers[i * each : (i + 1) * each], offset=i * each)
            set_faults(gateway.base_url, phase.injected)
            try:
                finished = asyncio.run(
                    faults.crowd(
                        service.base_url,
                        show.show_id,
                        buyers,
                        Calls(),
                        concurrency=each,
                        card=phase.card,
                        give_up_after=phase.give_up_after,
                        budget=phase.give_up_after + 20,
                    )
                )
            finally:
                set_faults(gateway.base_url, {})
            done += finished
            card_of |= {b.user_id: phase.card for b in finished}
            tally: dict[str, int] = {}
            for b in finished:
                tally[b.outcome] = tally.get(b.outcome, 0) + 1
            outcomes[phase.name] = tally
            env.log(f"{phase.name}: {tally}")
        unsettled = wait_settled(env.database_url, SETTLE_TIMEOUT_SECONDS)
        declined_charged = declined_cards_charged(env.database_url)
        came_back = [b for b in done if b.outcome.startswith("gave up:pay")]
        retried, wrong_after_return = asyncio.run(late_retries(env, service.base_url, show.show_id, came_back, card_of))
        return [
            zero(n, "double charges", faults.double_charges(env.database_url)),
            zero(n, "charges without a booking after reconciliation", faults.charges_without_booking(env.database_url)),
            zero(n, "stuck seats", faults.stuck_seats(env.database_url, show.show_id)),
            zero(n, "acknowledged bookings lost", faults.lost_bookings(env.database_url, done)),
            zero(n, "duplicate bookings", faults.duplicate_bookings(env.database_url, show.show_id)),
            zero(n, "declined cards charged", declined_charged),
            zero(n, f"payments unsettled {SETTLE_TIMEOUT_SECONDS:.0f} s after the faults", unsettled),
            zero(
                n,
                "customers told their payment failed (4xx) though they were booked",
                booked_silently(env, [b for b in done if b.outcome.startswith(("refused:pay", "declined"))]),
            ),
            informational(n, "booked by the reconciler (customer never heard 200)", booked_silently(env, done)),
            zero(n, "customers retrying after reconciliation not answered with their booking", wrong_after_return),
            at_least(n, "booked customers retrying after reconciliation (or nothing was tested)", retried, 1),
            *(
                informational(n, f"outcomes: {name}", " ".join(f"{k}:{v}" for k, v in sorted(t.items())))
                for name, t in outcomes.items()
            ),
        ]


def set_faults(gateway_url: str, values: dict[str, Any]) -> None:
    if values:
        httpx.put(gateway_url + "/v1/faults", json={"seed": 8, **values}, timeout=10).raise_for_status()
    else:
        httpx.delete(gateway_url + "/v1/faults", timeout=10).raise_for_status()


def wait_settled(database_url: str, timeout: float) -> int:
    """Payments still pending or owed a refund after waiting up to ``timeout`` for the reconciler."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
            left = query_int(conn, "SELECT count(*) FROM payments WHERE status IN ('pending', 'refund_pending')")
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def declined_cards_charged(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        return query_int(
            conn,
            "SELECT count(*) FROM gateway.charges WHERE status = 'captured' AND card_last4 = %s",
            (DECLINED_CARD[-4:],),
        )


async def late_retries(
    env: Env, base_url: str, show_id: str, buyers: list[Purchase], card_of: dict[str, str]
) -> tuple[int, int]:
    """Buyers who gave up and whom the reconciler booked retry their payment once, with the same key.
    Returns (how many retried, how many were not answered with their booking): the only true answer is a
    200 naming the booking PostgreSQL holds for them."""
    with psycopg.connect(libpq_url(env.database_url), autocommit=True) as conn:
        booked: dict[str, str] = dict(
            conn.execute(
                "SELECT user_id, id FROM bookings WHERE status = 'confirmed' AND show_id = %s AND user_id = ANY(%s)",
                (show_id, [b.user_id for b in buyers]),
            ).fetchall()
        )
    booked_buyers = [b for b in buyers if b.user_id in booked]
    wrong = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for b in booked_buyers:
            r = await client.post(
                f"/api/v1/shows/{show_id}/holds/pay",
                json={"payment_info": {"card_number": card_of[b.user_id]}},
                headers={**b.headers, "Idempotency-Key": b.pay_key},
            )
            if r.status_code != 200 or r.json().get("booking_id") != booked[b.user_id]:
                env.log(f"late retry of {b.user_id}: {r.status_code} {r.text[:200]} (booked: {booked[b.user_id]})")
                wrong += 1
    return len(booked_buyers), wrong


def booked_silently(env: Env, done: list[Purchase]) -> int:
    """Customers with a confirmed booking who never got a 200 (the reconciler finished their payment)."""
    silent = [b.user_id for b in done if b.booking_id is None]
    if not silent:
        return 0
    with psycopg.connect(libpq_url(env.database_url), autocommit=True) as conn:
        return query_int(
            conn,
            "SELECT count(DISTINCT user_id) FROM bookings WHERE status = 'confirmed' AND user_id = ANY(%s)",
            (silent,),
        )


SCENARIO = GatewayFaults()
