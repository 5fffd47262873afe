"""``HttpGateway`` against the real simulated gateway (a subprocess) and its ledger in real PostgreSQL.

What is proven here, by reading the gateway's own ledger rather than trusting answers: every test card
behaves as documented; one idempotency key moves money once however often and however concurrently it
is sent; refunds are idempotent and never add up to more than the charge; a lost answer (charged, then
timed out or 503) surfaces as ``GatewayUnavailable`` and ``lookup`` settles it; and a gateway failing
half its calls and answering some twice still charges no key twice. A negative control shows that the
double-charge check does catch two charges for one payment.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from payments.gateway import (
    APPROVED_CARD,
    DECLINED_CARD,
    ChargeResult,
    GatewayRejected,
    GatewayUnavailable,
    PaymentGateway,
)
from payments.http_gateway import HttpGateway
from payments.simulator import SLOW_CARD, TIMEOUT_CARD, TRANSIENT_CARD, SimulatorProcess
from tests.conftest import GATEWAY_HANG_SECONDS, GATEWAY_SLOW_SECONDS

UNKNOWN_CARD = "4111111111111111"


def connect(gateway: SimulatorProcess, timeout_seconds: float = 2.0, attempts: int = 3) -> HttpGateway:
    return HttpGateway(
        gateway.base_url,
        timeout_seconds,
        attempts,
        backoff_initial_seconds=0.02,
        backoff_max_seconds=0.2,
    )


def new_key(label: str) -> str:
    return f"test-{label}-{secrets.token_hex(6)}"


@pytest.fixture(autouse=True)
def no_faults(gateway: SimulatorProcess) -> Iterator[None]:
    """The gateway is shared with the service under test: never leave faults behind."""
    httpx.delete(gateway.base_url + "/v1/faults", timeout=10).raise_for_status()
    yield
    httpx.delete(gateway.base_url + "/v1/faults", timeout=10).raise_for_status()


@pytest.fixture
async def payments(gateway: SimulatorProcess) -> AsyncIterator[PaymentGateway]:
    client: PaymentGateway = connect(gateway)
    yield client
    await client.aclose()


@pytest.fixture
async def operator(gateway: SimulatorProcess) -> AsyncIterator[httpx.AsyncClient]:
    """Reads the ledger and sets faults, as a test or an operator would."""
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        yield client


async def ledger(operator: httpx.AsyncClient) -> dict[str, Any]:
    response = await operator.get("/v1/ledger")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def charges_of(operator: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    return [c for c in (await ledger(operator))["charges"] if c["idempotency_key"] == key]


def captures_per_payment(book: dict[str, Any], payment_of: Callable[[str], str | None]) -> Counter[str]:
    """How many captured charges each logical payment has in the ledger; ``payment_of`` maps an
    idempotency key to its payment (None: not one of ours)."""
    counts: Counter[str] = Counter()
    for charge in book["charges"]:
        payment = payment_of(charge["idempotency_key"])
        if charge["status"] == "captured" and payment is not None:
            counts[payment] += 1
    return counts


def charged_twice(counts: Counter[str]) -> dict[str, int]:
    return {payment: n for payment, n in counts.items() if n > 1}


# -- test cards ---------------------------------------------------------------------------------------------


async def test_an_approved_card_is_captured_and_found_by_lookup(
    payments: PaymentGateway, operator: httpx.AsyncClient
) -> None:
    key = new_key("approved")
    result = await payments.charge(key, Decimal("250.00"), APPROVED_CARD)
    assert result.approved
    assert result.detail == "approved"
    assert result.amount == Decimal("250.00")
    assert result.refunded == 0
    assert await payments.lookup(key) == result
    (charge,) = await charges_of(operator, key)
    assert (charge["charge_id"], charge["status"], charge["amount"]) == (result.charge_id, "captured", "250.00")


@pytest.mark.parametrize(
    ("card", "detail"), [(DECLINED_CARD, "card declined"), (UNKNOWN_CARD, "card not accepted by the test gateway")]
)
async def test_a_declined_card_takes_nothing(
    card: str, detail: str, payments: PaymentGateway, operator: httpx.AsyncClient
) -> None:
    key = new_key("declined")
    result = await payments.charge(key, Decimal(100), card)
    assert not result.approved
    assert result.detail == detail
    assert await payments.charge(key, Decimal(100), card) == result  # the first outcome, again
    assert await payments.lookup(key) == result
    (charge,) = await charges_of(operator, key)
    assert charge["status"] == "declined"
    assert result.charge_id not in {c.charge_id for c in await payments.captured_charges()}
    with pytest.raises(GatewayRejected) as refused:
        await payments.refund(result.charge_id, Decimal(1), new_key("refund-declined"))
    assert refused.value.status_code == 409


async def test_a_transient_failure_succeeds_through_retries(
    gateway: SimulatorProcess, payments: PaymentGateway, operator: httpx.AsyncClient
) -> None:
    key = new_key("transient")
    result = await payments.charge(key, Decimal(75), TRANSIENT_CARD)  # 503, 503, then approved
    assert result.approved
    assert [c["charge_id"] for c in await charges_of(operator, key)] == [result.charge_id]

    # With too few attempts the outcome is unknown; lookup says nothing was charged; a later retry works.
    async with aclosing(connect(gateway, attempts=2)) as impatient:
        key = new_key("transient-impatient")
        with pytest.raises(GatewayUnavailable):
            await impatient.charge(key, Decimal(75), TRANSIENT_CARD)
        assert await impatient.lookup(key) is None
        assert await charges_of(operator, key) == []
        assert (await impatient.charge(key, Decimal(75), TRANSIENT_CARD)).approved
        assert len(await charges_of(operator, key)) == 1


async def test_a_slow_card_is_approved_after_a_wait(payments: PaymentGateway) -> None:
    started = time.monotonic()
    result = await payments.charge(new_key("slow"), Decimal(10), SLOW_CARD)
    assert result.approved
    assert time.monotonic() - started >= GATEWAY_SLOW_SECONDS


async def test_charged_then_timed_out_is_unavailable_and_lookup_finds_the_charge(
    gateway: SimulatorProcess, operator: httpx.AsyncClient
) -> None:
    async with aclosing(connect(gateway, timeout_seconds=1.0, attempts=1)) as once:
        key = new_key("timeout")
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable):
            await once.charge(key, Decimal(300), TIMEOUT_CARD)
        assert time.monotonic() - started < GATEWAY_HANG_SECONDS  # the client gave up; the gateway had charged
        found = await once.lookup(key)
        assert found is not None
        assert found.approved
        assert found.amount == Decimal(300)
        started = time.monotonic()
        assert await once.charge(key, Decimal(300), TIMEOUT_CARD) == found  # the second answer: same charge
        assert time.monotonic() - started < 1.0
        assert [c["charge_id"] for c in await charges_of(operator, key)] == [found.charge_id]


async def test_a_retry_after_a_timeout_gets_the_same_charge(
    gateway: SimulatorProcess, operator: httpx.AsyncClient
) -> None:
    async with aclosing(connect(gateway, timeout_seconds=1.0, attempts=3)) as patient:
        key = new_key("timeout-retry")
        result = await patient.charge(key, Decimal(40), TIMEOUT_CARD)
        assert result.approved
        assert [c["charge_id"] for c in await charges_of(operator, key)] == [result.charge_id]


# -- idempotency ---------------------------------------------------------------------------------------------


async def test_the_same_key_twice_charges_once(payments: PaymentGateway, operator: httpx.AsyncClient) -> None:
    key = new_key("twice")
    first = await payments.charge(key, Decimal("99.50"), APPROVED_CARD)
    again = await payments.charge(key, Decimal("99.5"), APPROVED_CARD)
    assert again == first
    assert len(await charges_of(operator, key)) == 1


async def test_the_same_key_concurrently_charges_once(payments: PaymentGateway, operator: httpx.AsyncClient) -> None:
    key = new_key("burst")
    results = await asyncio.gather(*(payments.charge(key, Decimal(120), APPROVED_CARD) for _ in range(20)))
    assert {r.charge_id for r in results} == {results[0].charge_id}
    assert all(r.approved for r in results)
    assert len(await charges_of(operator, key)) == 1


async def test_the_same_key_for_another_amount_is_refused(payments: PaymentGateway) -> None:
    key = new_key("other-amount")
    await payments.charge(key, Decimal(50), APPROVED_CARD)
    with pytest.raises(GatewayRejected) as refused:
        await payments.charge(key, Decimal(51), APPROVED_CARD)
    assert refused.value.status_code == 409


# -- refunds -------------------------------------------------------------------------------------------------


async def test_refunds_partial_full_idempotent_and_never_more_than_charged(
    payments: PaymentGateway, operator: httpx.AsyncClient
) -> None:
    key = new_key("refund")
    charge = await payments.charge(key, Decimal(250), APPROVED_CARD)
    partial = new_key("refund-partial")
    await payments.refund(charge.charge_id, Decimal(100), partial)
    await payments.refund(charge.charge_id, Decimal(100), partial)  # a repeat refunds nothing more
    book = await ledger(operator)
    assert [r["amount"] for r in book["refunds"] if r["charge_id"] == charge.charge_id] == ["100.00"]

    with pytest.raises(GatewayRejected) as over:
        await payments.refund(charge.charge_id, Decimal("150.01"), new_key("refund-over"))
    assert over.value.status_code == 409
    await payments.refund(charge.charge_id, Decimal(150), new_key("refund-rest"))
    with pytest.raises(GatewayRejected):
        await payments.refund(charge.charge_id, Decimal("0.01"), new_key("refund-more"))
    with pytest.raises(GatewayRejected):  # a refund key reused for another amount
        await payments.refund(charge.charge_id, Decimal(50), partial)

    after = await payments.lookup(key)
    assert after is not None
    assert after.refunded == after.amount == Decimal(250)
    book = await ledger(operator)
    refunds = [r for r in book["refunds"] if r["charge_id"] == charge.charge_id]
    (row,) = [c for c in book["charges"] if c["charge_id"] == charge.charge_id]
    assert sorted(Decimal(r["amount"]) for r in refunds) == [Decimal(100), Decimal(150)]
    assert Decimal(row["refunded"]) == Decimal(row["amount"]) == Decimal(250)


async def test_concurrent_refunds_never_exceed_the_charge(
    payments: PaymentGateway, operator: httpx.AsyncClient
) -> None:
    charge = await payments.charge(new_key("refund-race"), Decimal(250), APPROVED_CARD)
    outcomes = await asyncio.gather(
        *(payments.refund(charge.charge_id, Decimal(50), new_key(f"race-{i}")) for i in range(10)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, GatewayRejected)]
    assert len(refused) == 5, outcomes
    assert all(o is None or isinstance(o, GatewayRejected) for o in outcomes), outcomes
    book = await ledger(operator)
    assert sum(Decimal(r["amount"]) for r in book["refunds"] if r["charge_id"] == charge.charge_id) == 250


async def test_an_unknown_charge_cannot_be_refunded(payments: PaymentGateway) -> None:
    with pytest.raises(GatewayRejected) as refused:
        await payments.refund("ch_does_not_exist", Decimal(1), new_key("refund-unknown"))
    assert refused.value.status_code == 404


async def test_captured_charges_since(payments: PaymentGateway) -> None:
    earlier_key, later_key = new_key("since-a"), new_key("since-b")
    await payments.charge(earlier_key, Decimal(5), APPROVED_CARD)
    (earlier,) = [c for c in await payments.captured_charges() if c.idempotency_key == earlier_key]
    await payments.charge(later_key, Decimal(6), APPROVED_CARD)
    await payments.charge(new_key("since-declined"), Decimal(7), DECLINED_CARD)
    since = earlier.created_at + timedelta(microseconds=1)
    recent = await payments.captured_charges(since)
    assert [c.idempotency_key for c in recent if c.idempotency_key.startswith("test-since-")] == [later_key]
    assert all(c.created_at >= since for c in recent)
    (later,) = [c for c in recent if c.idempotency_key == later_key]
    assert (later.amount, later.refunded) == (Decimal(6), Decimal(0))


# -- faults --------------------------------------------------------------------------------------------------


async def unknown_under(
    operator: httpx.AsyncClient, payments: PaymentGateway, faults: dict[str, float], label: str
) -> str:
    """Charge 20 with ``faults`` injected, which leave its outcome unknown (``GatewayUnavailable``), then clear
    them; the charge's idempotency key."""
    (await operator.put("/v1/faults", json=faults)).raise_for_status()
    key = new_key(label)
    with pytest.raises(GatewayUnavailable):
        await payments.charge(key, Decimal(20), APPROVED_CARD)
    (await operator.delete("/v1/faults")).raise_for_status()
    return key


async def test_failing_before_charging_charges_nothing(
    gateway: SimulatorProcess, operator: httpx.AsyncClient, payments: PaymentGateway
) -> None:
    key = await unknown_under(operator, payments, {"fail_before_rate": 1.0}, "fail-before")
    assert await payments.lookup(key) is None
    assert await charges_of(operator, key) == []


async def test_a_gateway_that_answers_twice_charges_once_and_lookup_resolves_it(
    operator: httpx.AsyncClient, payments: PaymentGateway
) -> None:
    # Every answer is lost after the work is done: each of the 3 attempts reaches the same charge.
    key = await unknown_under(operator, payments, {"fail_after_rate": 1.0}, "fail-after")
    found = await payments.lookup(key)
    assert found is not None
    assert found.approved
    assert await payments.charge(key, Decimal(20), APPROVED_CARD) == found
    assert [c["charge_id"] for c in await charges_of(operator, key)] == [found.charge_id]


async def test_a_flaky_gateway_never_charges_a_key_twice(
    gateway: SimulatorProcess, operator: httpx.AsyncClient
) -> None:
    run = secrets.token_hex(4)
    keys = [f"flaky-{run}-{i}" for i in range(50)]
    cards = {k: DECLINED_CARD if i % 10 == 0 else APPROVED_CARD for i, k in enumerate(keys)}
    faults = {"fail_before_rate": 0.5, "fail_after_rate": 0.3, "seed": 20240601}
    (await operator.put("/v1/faults", json=faults)).raise_for_status()
    client = connect(gateway, attempts=12)
    try:
        outcomes = await asyncio.gather(
            *(client.charge(k, Decimal(10), cards[k]) for k in keys), return_exceptions=True
        )
    finally:
        hit = (await operator.get("/v1/faults")).json()
        (await operator.delete("/v1/faults")).raise_for_status()
    assert hit["failed_before"] > 0
    assert hit["failed_after"] > 0  # some charges were answered twice
    results: dict[str, ChargeResult] = {}
    unknown: list[str] = []
    for key, outcome in zip(keys, outcomes, strict=True):
        if isinstance(outcome, GatewayUnavailable):
            unknown.append(key)
        else:
            assert isinstance(outcome, ChargeResult), outcome
            results[key] = outcome

    # Every call whose outcome was unknown is settled by lookup, as the reconciler would.
    try:
        for key in unknown:
            found = await client.lookup(key)
            if found is None:  # never charged: charging again is safe
                found = await client.charge(key, Decimal(10), cards[key])
            results[key] = found
    finally:
        await client.aclose()

    book = await ledger(operator)
    mine = set(keys)
    counts = captures_per_payment(book, lambda key: key if key in mine else None)
    assert charged_twice(counts) == {}
    approved = {k for k, r in results.items() if r.approved}
    assert approved == {k for k in keys if cards[k] == APPROVED_CARD}
    assert set(counts) == approved  # one captured charge per approved key, none for a declined one
    by_key = {c["idempotency_key"]: c["charge_id"] for c in book["charges"] if c["idempotency_key"] in mine}
    assert all(by_key[k] == r.charge_id for k, r in results.items())


async def test_the_double_charge_check_catches_two_charges_for_one_payment(
    payments: PaymentGateway, operator: httpx.AsyncClient
) -> None:
    """Negative control: a caller that makes up a fresh key per retry is charged twice, and the check
    above says so."""
    payment = f"control-{secrets.token_hex(4)}"
    await payments.charge(f"{payment}/try-1", Decimal(10), APPROVED_CARD)
    await payments.charge(f"{payment}/try-2", Decimal(10), APPROVED_CARD)
    counts = captures_per_payment(await ledger(operator), lambda key: key.split("/")[0] if "/" in key else None)
    assert charged_twice(counts) == {payment: 2}
