"""Scenario 2: per-seat histories checked against a sequential model (linearizability, per seat).

Clients hold, release, pay for and cancel seats of one small show at random, one request at a time each,
and every call is recorded with its start, its end and its outcome: ``ok`` (2xx), ``fail`` (a definite
4xx refusal: nothing happened) or ``unknown`` (a timeout, a dropped connection, a 5xx: it may or may not
have happened). A few requests get a deliberately tiny client timeout so unknown outcomes really occur.

The checker then asks, for every seat on its own, whether there is one order of the operations that
(a) respects real time (an operation that ended before another began comes first), (b) is valid for a
sequential model of one seat, and (c) ends in the state PostgreSQL holds for that seat at the end:

    free --hold(owner, h)--> held(owner, h) --release(h)--> free
    held(owner, ·) --book(owner, b)--> booked(owner, b) --cancel(b)--> free

``ok`` operations must all be in the order; ``unknown`` ones may be in it or not (end = ∞); ``fail`` ones
are left out. A successful payment books *all* the payer's live holds, so it is also a check on every
other seat the payer touched: it must not have been held by the payer at that point. This is the
Wing–Gong search with memoisation, run per seat (P-compositionality), with a step budget: a seat that
exhausts it is reported as undecided rather than passed.

Negative controls: corrupted histories (a second owner's hold injected while a seat is held, a booking
without a hold, a release of a hold twice, overlapping holds that both succeed, a final state the
operations cannot reach) must each be flagged; valid concurrent histories must each pass.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import httpx
import psycopg

from harness.client import bulk_users, create_show
from reliability.env import Env
from reliability.figures import Figure, informational, zero
from settings import libpq_url

Kind = Literal["hold", "release", "book", "cancel"]
Outcome = Literal["ok", "fail", "unknown"]
CARD = "4242424242424242"
UNKNOWN_PREFIX = "?"


@dataclass(frozen=True)
class Call:
    """One recorded client call.

    ``seats``: hold — the seats asked for; release — the hold's seats; book — the seats the answer names
    (empty unless ok); cancel — the booking's seats. ``ref``: the hold id (hold: from the answer; release:
    the target), the booking id (book: from the answer; cancel: the target); None when not known."""

    owner: str
    kind: Kind
    seats: tuple[str, ...]
    ref: str | None
    start: float
    end: float
    outcome: Outcome


State = tuple[str, ...]  # ("free",) | ("held", owner, hold ref) | ("booked", owner, booking ref)
FREE: State = ("free",)


@dataclass(frozen=True)
class SeatOp:
    kind: Literal["hold", "release", "book", "nobook", "cancel"]
    owner: str
    ref: str
    start: float
    end: float
    optional: bool


def apply(state: State, op: SeatOp) -> State | None:
    """The sequential model of one seat: the next state, or None if ``op`` cannot happen in ``state``."""
    if op.kind == "hold":
        return ("held", op.owner, op.ref) if state == FREE else None
    if op.kind == "release":
        return FREE if state[0] == "held" and state[2] == op.ref else None
    if op.kind == "book":
        return ("booked", op.owner, op.ref) if state[0] == "held" and state[1] == op.owner else None
    if op.kind == "nobook":  # a payment by this owner that did not name this seat
        return None if state[0] == "held" and state[1] == op.owner else state
    return FREE if state[0] == "booked" and state[2] == op.ref else None  # cancel


def seat_ops(calls: Sequence[Call]) -> dict[str, list[SeatOp]]:
    """Split a history into per-seat operations (see the module docstring)."""
    touched: dict[str, set[str]] = defaultdict(set)  # owner → seats it ever asked to hold
    for call in calls:
        if call.kind == "hold":
            touched[call.owner].update(call.seats)
    per_seat: dict[str, list[SeatOp]] = defaultdict(list)
    for i, call in enumerate(calls):
        if call.outcome == "fail":
            continue
        optional = call.outcome == "unknown"
        end = math.inf if optional else call.end
        ref = call.ref if call.ref is not None else f"{UNKNOWN_PREFIX}{i}"
        if call.kind == "book":
            named = set(call.seats) if not optional else set()
            for seat in touched[call.owner] | named:
                if optional:
                    per_seat[seat].append(SeatOp("book", call.owner, ref, call.start, end, True))
                else:
                    kind: Literal["book", "nobook"] = "book" if seat in named else "nobook"
                    per_seat[seat].append(SeatOp(kind, call.owner, ref, call.start, end, False))
            continue
        for seat in call.seats:
            per_seat[seat].append(SeatOp(call.kind, call.owner, ref, call.start, end, optional))
    return per_seat


def matches(model: State, truth: State, known_refs: set[str]) -> bool:
    """Does the model's final state agree with the database's? An id the client never learned (an
    unknown outcome) matches any id the client does not know."""
    if model[0] != truth[0] or model[1:2] != truth[1:2]:
        return False
    if model == FREE:
        return True
    if model[2].startswith(UNKNOWN_PREFIX):
        return truth[2] not in known_refs
    return model[2] == truth[2]


Verdict = Literal["ok", "violation", "undecided"]


def check_seat(ops: Sequence[SeatOp], final: State | None, known_refs: set[str], budget: int = 200_000) -> Verdict:
    """Is there a real-time-respecting order of ``ops`` valid for the model (ending in ``final``, unless
    None)? Wing–Gong: repeatedly pick a minimal not-yet-placed operation (none of the others ended before
    it started), memoising (placed set, state) pairs already known to fail."""
    ops = sorted(ops, key=lambda o: (o.start, o.end))
    count = len(ops)
    full = (1 << count) - 1
    failed: set[tuple[int, State]] = set()
    steps = 0

    class Exhausted(Exception):
        pass

    def search(done: int, state: State) -> bool:
        nonlocal steps
        if done == full:
            return final is None or matches(state, final, known_refs)
        if (done, state) in failed:
            return False
        steps += 1
        if steps > budget:
            raise Exhausted
        pending = [i for i in range(count) if not done >> i & 1]
        horizon = min(ops[i].end for i in pending)
        for i in pending:
            op = ops[i]
            if op.start > horizon:
                break  # sorted by start: no later op is minimal either
            after = apply(state, op)
            if after is not None and search(done | 1 << i, after):
                return True
            if op.optional and search(done | 1 << i, state):  # an unknown outcome that did not happen
                return True
        failed.add((done, state))
        return False

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * count + 1000))
    try:
        return "ok" if search(0, FREE) else "violation"
    except Exhausted:
        return "undecided"
    finally:
        sys.setrecursionlimit(limit)


def check_history(
    calls: Sequence[Call], finals: dict[str, State] | None = None, budget: int = 200_000
) -> Counter[Verdict]:
    """Verdicts per seat for a whole history; ``finals`` maps seats to their state in the database
    (a seat missing from it is free; None skips the final-state condition)."""
    known = {c.ref for c in calls if c.ref is not None}
    verdicts: Counter[Verdict] = Counter()
    for seat, ops in seat_ops(calls).items():
        final = None if finals is None else finals.get(seat, FREE)
        verdicts[check_seat(ops, final, known, budget)] += 1
    return verdicts


# -- the negative controls --------------------------------------------------------------------------------


def _c(owner: str, kind: Kind, seats: str, ref: str | None, start: float, end: float, outcome: Outcome) -> Call:
    return Call(owner, kind, tuple(seats.split()), ref, start, end, outcome)


def corrupted_histories() -> dict[str, tuple[list[Call], dict[str, State]]]:
    """Small histories a correct checker must flag, with the final states they claim."""
    return {
        "two owners hold a seat one after the other": (
            [_c("a", "hold", "S", "h1", 0, 1, "ok"), _c("b", "hold", "S", "h2", 2, 3, "ok")],
            {"S": ("held", "b", "h2")},
        ),
        "overlapping holds both succeed": (
            [_c("a", "hold", "S", "h1", 0, 3, "ok"), _c("b", "hold", "S", "h2", 1, 2, "ok")],
            {"S": ("held", "a", "h1")},
        ),
        "a booking without the payer's hold": (
            [_c("a", "hold", "S", "h1", 0, 1, "ok"), _c("b", "book", "S", "b1", 2, 3, "ok")],
            {"S": ("booked", "b", "b1")},
        ),
        "a hold released twice": (
            [
                _c("a", "hold", "S", "h1", 0, 1, "ok"),
                _c("a", "release", "S", "h1", 2, 3, "ok"),
                _c("b", "hold", "S", "h2", 4, 5, "ok"),
                _c("a", "release", "S", "h1", 6, 7, "ok"),
            ],
            {},
        ),
        "a payment that leaves one of the payer's holds out": (
            [
                _c("a", "hold", "S", "h1", 0, 1, "ok"),
                _c("a", "hold", "T", "h2", 2, 3, "ok"),
                _c("a", "book", "S", "b1", 4, 5, "ok"),
            ],
            {"S": ("booked", "a", "b1"), "T": ("held", "a", "h2")},
        ),
        "a final state the operations cannot reach": (
            [_c("a", "hold", "S", "h1", 0, 1, "ok"), _c("a", "release", "S", "h1", 2, 3, "ok")],
            {"S": ("held", "a", "h1")},
        ),
        "an unknown hold that applied, plus another owner's successful hold": (
            [_c("a", "hold", "S", None, 0, 1, "unknown"), _c("b", "hold", "S", "h2", 2, 3, "ok")],
            {"S": ("held", "a", "h9")},
        ),
    }


def valid_histories() -> dict[str, tuple[list[Call], dict[str, State]]]:
    """Small concurrent histories a correct checker must accept."""
    return {
        "release and a new hold overlap, answers arrive out of order": (
            [
                _c("a", "hold", "S", "h1", 0, 1, "ok"),
                _c("a", "release", "S", "h1", 2, 5, "ok"),
                _c("b", "hold", "S", "h2", 3, 4, "ok"),
            ],
            {"S": ("held", "b", "h2")},
        ),
        "an unknown hold that did not apply": (
            [_c("a", "hold", "S", None, 0, 1, "unknown"), _c("b", "hold", "S", "h2", 2, 3, "ok")],
            {"S": ("held", "b", "h2")},
        ),
        "an unknown payment that applied": (
            [_c("a", "hold", "S", "h1", 0, 1, "ok"), _c("a", "book", "", None, 2, 3, "unknown")],
            {"S": ("booked", "a", "b7")},
        ),
        "hold, book, cancel, hold again": (
            [
                _c("a", "hold", "S T", "h1", 0, 1, "ok"),
                _c("a", "book", "S T", "b1", 2, 3, "ok"),
                _c("a", "cancel", "S T", "b1", 4, 5, "ok"),
                _c("b", "hold", "S", "h2", 6, 7, "ok"),
                _c("c", "hold", "S", None, 6.5, 8, "fail"),
            ],
            {"S": ("held", "b", "h2")},
        ),
    }


def inject_double_hold(calls: Sequence[Call]) -> list[Call] | None:
    """The real history with a phantom: right after a successful hold, another owner's hold of the
    same seat succeeds too. Nothing can free the seat in between (freeing needs the hold's id, which its
    owner only learns at the end of the hold), so the checker must flag it."""
    for call in calls:
        if call.kind == "hold" and call.outcome == "ok":
            seat = call.seats[0]
            phantom = Call("phantom", "hold", (seat,), "phantom-hold", call.end + 1e-6, call.end + 2e-6, "ok")
            return [*calls, phantom]
    return None


def negative_controls(real: Sequence[Call] | None = None, finals: dict[str, State] | None = None) -> tuple[int, int]:
    """(corrupted histories flagged, corrupted histories) — the injected one included when ``real`` is given."""
    cases = [(calls, final) for calls, final in corrupted_histories().values()]
    if real is not None:
        injected = inject_double_hold(real)
        if injected is not None:
            cases.append((injected, finals or {}))
    flagged = sum(check_history(calls, final)["violation"] > 0 for calls, final in cases)
    return flagged, len(cases)


def sanity_controls() -> tuple[int, int]:
    """(valid histories accepted, valid histories)."""
    cases = list(valid_histories().values())
    accepted = sum(set(check_history(calls, final)) == {"ok"} for calls, final in cases)
    return accepted, len(cases)


# -- the workload -----------------------------------------------------------------------------------------


@dataclass
class Client:
    user_id: str
    token: str
    holds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bookings: dict[str, tuple[str, ...]] = field(default_factory=dict)


def outcome_of(status: int) -> Outcome:
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500:
        return "fail"
    return "unknown"


async def run_clients(
    base_url: str, show_id: str, seats: list[str], clients: list[Client], ops_each: int, seed: int
) -> list[Call]:
    rng = random.Random(seed)
    calls: list[Call] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def request(method: str, url: str, token: str, json: object | None, tiny: bool) -> int | None:
            timeout = rng.uniform(0.005, 0.05) if tiny else 30.0
            try:
                response = await http.request(
                    method, url, headers={"Authorization": f"Bearer {token}"}, json=json, timeout=timeout
                )
            except httpx.HTTPError:
                return None
            return response.status_code if response.status_code < 500 else None

        async def client_loop(me: Client, client_rng: random.Random) -> None:
            for _ in range(ops_each):
                tiny = client_rng.random() < 0.08
                roll = client_rng.random()
                start = time.monotonic()
                if me.holds and roll < 0.3:
                    hold_id, hold_seats = client_rng.choice(sorted(me.holds.items()))
                    del me.holds[hold_id]
                    status = await request("DELETE", f"/api/v1/shows/{show_id}/holds/{hold_id}", me.token, None, tiny)
                    out = "unknown" if status is None else outcome_of(status)
                    calls.append(Call(me.user_id, "release", hold_seats, hold_id, start, time.monotonic(), out))
                elif me.holds and roll < 0.5:
                    try:
                        response = await http.post(
                            f"/api/v1/shows/{show_id}/holds/pay",
                            headers={"Authorization": f"Bearer {me.token}"},
                            json={"payment_info": {"card_number": CARD}},
                            timeout=client_rng.uniform(0.005, 0.05) if tiny else 30.0,
                        )
                        status = response.status_code if response.status_code < 500 else None
                    except httpx.HTTPError:
                        status = None
                    end = time.monotonic()
                    me.holds.clear()
                    if status == 200:
                        body = response.json()
                        booked = tuple(body["selected_seat"])
                        me.bookings[body["booking_id"]] = booked
                        calls.append(Call(me.user_id, "book", booked, body["booking_id"], start, end, "ok"))
                    else:
                        out = "unknown" if status is None else outcome_of(status)
                        calls.append(Call(me.user_id, "book", (), None, start, end, out))
                elif me.bookings and roll < 0.65:
                    booking_id, booked = client_rng.choice(sorted(me.bookings.items()))
                    del me.bookings[booking_id]
                    status = await request("POST", f"/api/v1/bookings/{booking_id}/cancel", me.token, None, tiny)
                    out = "unknown" if status is None else outcome_of(status)
                    calls.append(Call(me.user_id, "cancel", booked, booking_id, start, time.monotonic(), out))
                else:
                    wanted = tuple(client_rng.sample(seats, client_rng.randint(1, 2)))
                    try:
                        response = await http.post(
                            f"/api/v1/shows/{show_id}/holds",
                            headers={"Authorization": f"Bearer {me.token}"},
                            json={"seats": list(wanted)},
                            timeout=client_rng.uniform(0.005, 0.05) if tiny else 30.0,
                        )
                        status = response.status_code if response.status_code < 500 else None
                    except httpx.HTTPError:
                        status = None
                    end = time.monotonic()
                    if status == 201:
                        hold_id = response.json()["id"]
                        me.holds[hold_id] = wanted
                        calls.append(Call(me.user_id, "hold", wanted, hold_id, start, end, "ok"))
                    else:
                        out = "unknown" if status is None else outcome_of(status)
                        calls.append(Call(me.user_id, "hold", wanted, None, start, end, out))
                await asyncio.sleep(client_rng.uniform(0, 0.01))

        await asyncio.gather(*(client_loop(c, random.Random(rng.random())) for c in clients))
    return calls


def final_states(database_url: str, show_id: str) -> dict[str, State]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT seat_id, user_id, hold_id, booking_id FROM seat_claims WHERE show_id = %s", (show_id,)
        ).fetchall()
    return {
        seat: ("booked", user, booking) if booking is not None else ("held", user, hold)
        for seat, user, hold, booking in rows
    }


class SeatHistory:
    number = 2
    title = "per-seat history vs a sequential model"

    def run(self, env: Env, full: bool) -> list[Figure]:
        n = self.number
        shows, clients_per_show, ops_each, seat_count = (4, 12, 120, 10) if full else (1, 8, 40, 8)
        service = env.start_service()
        users = bulk_users(env.database_url, clients_per_show * shows)
        verdicts: Counter[Verdict] = Counter()
        outcomes: Counter[str] = Counter()
        all_calls: list[Call] = []
        finals_all: dict[str, State] = {}
        for k in range(shows):
            with service.client() as client:
                show = create_show(client, rows=[{"row": "A", "seats": seat_count, "category": "standard"}])
            mine = users[k * clients_per_show : (k + 1) * clients_per_show]
            clients = [Client(u, t) for u, t in mine]
            env.log(f"show {k + 1}/{shows}: {len(clients)} clients × {ops_each} calls on {seat_count} seats")
            calls = asyncio.run(run_clients(service.base_url, show.show_id, show.seats, clients, ops_each, seed=k))
            time.sleep(3.0)  # let requests the clients gave up on finish inside the service
            finals = final_states(env.database_url, show.show_id)
            verdicts.update(check_history(calls, finals))
            outcomes.update(c.outcome for c in calls)
            # Seat ids repeat across shows: keep the last show's history for the injected control.
            all_calls, finals_all = list(calls), finals
        flagged, corrupted = negative_controls(all_calls, finals_all)
        accepted, valid = sanity_controls()
        return [
            zero(n, "seats whose history violates the sequential model", verdicts["violation"]),
            zero(n, "seats the checker could not decide (search budget)", verdicts["undecided"]),
            informational(
                n,
                "calls recorded: ok / fail / unknown",
                f"{outcomes['ok']} / {outcomes['fail']} / {outcomes['unknown']}",
            ),
            Figure(n, "negative control: corrupted histories flagged", f"{flagged}/{corrupted}", "= all",
                   flagged == corrupted),
            Figure(n, "sanity: valid concurrent histories accepted", f"{accepted}/{valid}", "= all",
                   accepted == valid),
        ]  # fmt: skip


SCENARIO = SeatHistory()
