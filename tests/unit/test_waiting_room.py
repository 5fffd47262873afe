"""The waiting room's pure parts: the fair order and its Merkle root, stock-aware admission, and the
estimates each entry is shown (checked against a simulation of the buyers ahead)."""

from __future__ import annotations

import hashlib
import math
import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waiting_room import fairness, verify
from waiting_room.admission import Stock, decide
from waiting_room.estimates import admissions_per_minute, chance_of_ticket, estimated_wait_seconds

# -- fairness ------------------------------------------------------------------------------------------


def test_commitment_is_the_sha256_hex_of_the_seed() -> None:
    assert fairness.commitment("abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(fairness.new_seed()) == 64
    assert fairness.new_seed() != fairness.new_seed()


def test_pre_queue_order_is_the_contracts_sha256_order_whatever_the_join_order() -> None:
    seed = "s33d"
    ids = [str(uuid.uuid4()) for _ in range(200)]
    by_hand = sorted(ids, key=lambda e: hashlib.sha256(f"{seed}:{e}".encode()).hexdigest())
    assert fairness.pre_queue_order(seed, ids) == by_hand
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    assert fairness.pre_queue_order(seed, shuffled) == by_hand
    assert fairness.pre_queue_order("another seed", ids) != by_hand


@given(st.lists(st.uuids().map(str), min_size=1, max_size=40, unique=True))
def test_every_entry_has_a_proof_that_leads_to_the_root(ids: list[str]) -> None:
    root = fairness.merkle_root(ids)
    for entry in ids:
        assert fairness.verify_merkle_proof(root, entry, fairness.merkle_proof(ids, entry))
    assert fairness.merkle_root(list(reversed(ids))) == root


def test_the_root_changes_when_an_entry_is_added_removed_or_forged() -> None:
    ids = [str(uuid.uuid4()) for _ in range(9)]
    root = fairness.merkle_root(ids)
    assert fairness.merkle_root(ids[:-1]) != root
    assert fairness.merkle_root([*ids, str(uuid.uuid4())]) != root
    proof = fairness.merkle_proof(ids, ids[3])
    assert not fairness.verify_merkle_proof(root, str(uuid.uuid4()), proof)
    side, sibling = proof[0]
    assert not fairness.verify_merkle_proof(root, ids[3], [(side, sibling[::-1]), *proof[1:]])
    with pytest.raises(ValueError, match="not in list"):
        fairness.merkle_proof(ids, "not-in-it")
    assert fairness.merkle_root([]) == hashlib.sha256(b"").hexdigest()


# -- admission -----------------------------------------------------------------------------------------


def test_sold_out_only_when_every_seat_is_booked_or_blocked_and_none_is_held() -> None:
    assert decide(Stock(10, 8, 2, 0), waiting=5, open_passes=0, seats_per_buyer=2, budget=10).sold_out
    held = decide(Stock(10, 8, 0, 2), waiting=5, open_passes=0, seats_per_buyer=2, budget=10)
    assert (held.sold_out, held.admit) == (False, 0)  # nothing free: wait for the holds
    assert decide(Stock(10, 9, 0, 0), waiting=5, open_passes=0, seats_per_buyer=2, budget=10).admit == 1


def test_open_passes_and_the_rate_bound_admissions() -> None:
    stock = Stock(100, 0, 0, 0)
    assert decide(stock, waiting=500, open_passes=0, seats_per_buyer=2, budget=1000).admit == 50
    assert decide(stock, waiting=500, open_passes=30, seats_per_buyer=2, budget=1000).admit == 20
    assert decide(stock, waiting=500, open_passes=60, seats_per_buyer=2, budget=1000).admit == 0
    assert decide(stock, waiting=500, open_passes=0, seats_per_buyer=2, budget=7).admit == 7
    assert decide(stock, waiting=3, open_passes=0, seats_per_buyer=2, budget=1000).admit == 3


@given(
    total=st.integers(1, 500),
    booked=st.integers(0, 500),
    held=st.integers(0, 500),
    waiting=st.integers(0, 1000),
    passes=st.integers(0, 300),
    per_buyer=st.floats(0.5, 8),
    budget=st.integers(0, 100),
)
def test_never_admits_beyond_what_the_free_seats_can_serve(
    total: int, booked: int, held: int, waiting: int, passes: int, per_buyer: float, budget: int
) -> None:
    booked = min(booked, total)
    held = min(held, total - booked)
    stock = Stock(total, booked, 0, held)
    decision = decide(stock, waiting=waiting, open_passes=passes, seats_per_buyer=per_buyer, budget=budget)
    assert 0 <= decision.admit <= min(waiting, budget)
    if decision.admit:
        assert stock.free > 0
        # Everyone holding a pass, the new ones included, but the last could still find a seat.
        assert (passes + decision.admit - 1) * max(1.0, per_buyer) < stock.free
    assert decision.sold_out == (booked == total)


# -- estimates -----------------------------------------------------------------------------------------


def test_rate_and_wait() -> None:
    history = [(0.0, 0), (30.0, 50), (60.0, 100)]
    assert admissions_per_minute(history, now=60.0) == pytest.approx(100.0)
    assert admissions_per_minute(history, now=500.0) == 0.0
    assert estimated_wait_seconds(50, 100.0) == pytest.approx(30.0)
    assert estimated_wait_seconds(0, 0.0) == 0.0
    assert estimated_wait_seconds(5, 0.0) is None


def _simulated_chance(ahead: int, seats: int, conversion: float, rng: random.Random, runs: int = 3000) -> float:
    """Buyers ahead each buy with probability ``conversion`` and take 1–3 seats (2 on average), never more
    than are left; the entry gets a ticket if any seat is left for it."""
    got = 0
    for _ in range(runs):
        left = seats
        for _ in range(ahead):
            if left <= 0:
                break
            if rng.random() < conversion:
                left -= min(left, rng.choice((1, 2, 3)))
        got += left > 0
    return got / runs


@pytest.mark.parametrize(
    ("ahead", "seats", "conversion"),
    # around the edge, where the answer is neither 0 nor 1, and a few far from it
    [
        *[(25, 40, 0.8), (22, 40, 0.8), (28, 40, 0.8), (50, 40, 0.4), (90, 100, 0.5), (120, 100, 0.5)],
        *[(20, 30, 0.75), (100, 60, 0.7), (5, 2, 1.0)],
    ],
)
def test_chance_of_a_ticket_matches_a_simulation(ahead: int, seats: int, conversion: float) -> None:
    simulated = _simulated_chance(ahead, seats, conversion, random.Random(ahead * 1000 + seats))
    estimated = chance_of_ticket(ahead, seats, seats_per_buyer=2.0, conversion=conversion, seats_variance=2 / 3)
    # Within 0.05: leaving out the variance of the seats each buyer takes is already off by 0.07 at (22, 40).
    assert estimated == pytest.approx(simulated, abs=0.05)


def test_chance_bounds() -> None:
    assert chance_of_ticket(0, 1, 2.0, 0.9) == 1.0
    assert chance_of_ticket(10, 0, 2.0, 0.9) == 0.0
    assert chance_of_ticket(1_000_000, 10, 2.0, 0.9) == pytest.approx(0.0, abs=1e-9)
    assert chance_of_ticket(5_000, 20_000, 2.0, 0.9) == pytest.approx(1.0)
    assert math.isclose(chance_of_ticket(3, 100, 2.0, 0.0), 1.0)


# -- the verifier --------------------------------------------------------------------------------------


def _published(seed: str, n: int) -> tuple[dict[str, object], list[tuple[int, str]]]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    order = fairness.pre_queue_order(seed, ids)
    record = {
        "commitment": fairness.commitment(seed),
        "seed": seed,
        "merkle_root": fairness.merkle_root(ids),
        "pre_queue_size": n,
    }
    return record, list(enumerate(order, start=1))


def test_the_verifier_accepts_an_honest_record_and_names_each_check() -> None:
    record, published = _published("honest", 50)
    verdict = verify.check(record, published, entry_id=published[17][1])
    assert verdict.ok, verdict.checks
    assert len(verdict.checks) == 6


def test_the_verifier_refuses_every_kind_of_tampering() -> None:
    record, published = _published("honest", 50)
    swapped = published[:]
    (n1, a), (n2, b) = swapped[3], swapped[4]
    swapped[3], swapped[4] = (n1, b), (n2, a)
    assert not verify.check(record, swapped).ok  # two places swapped
    assert not verify.check({**record, "seed": "another"}, published).ok  # a seed that was not committed to
    assert not verify.check({**record, "commitment": fairness.commitment("x")}, published).ok
    assert not verify.check(record, published[:-1]).ok  # an entry left out of the list
    extra = str(uuid.uuid4())
    grown = fairness.pre_queue_order("honest", [e for _, e in published] + [extra])
    assert not verify.check(record, list(enumerate(grown, start=1))).ok  # an entry slipped in afterwards
    assert not verify.check(record, [(n + 1, e) for n, e in published]).ok  # numbering that skips 1
    assert not verify.check(record, published, entry_id=str(uuid.uuid4())).ok  # your entry is not there
