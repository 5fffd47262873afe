"""Fault tools, load loops and detectors shared by scenarios 3–9 and 13 (the framework's ``Env`` runs the world).

This module owns three kinds of things, each small and testable on its own:

- **Faults on processes**: reach the Ray actor running a show (``env.placement()``: its own ``show:<id>``,
  or under the default hosted placement its host ``shows:<n>``) and read its pid and the show's epoch
  (``actor_ping``), kill it the way a crash does (``kill_actor``: Ray restarts it, and the show's next
  activation takes a new epoch; under hosted placement every show on that host goes down with it), the
  same for a host by name (``host_stats``, ``kill_host``), freeze and resume a process (``frozen``:
  SIGSTOP, SIGCONT in a ``finally``).
- **Load**: ``purchase`` is one customer who holds their own seats and pays, over the v1 API, retrying
  every unknown outcome (transport error, 503, a 409 "still in progress") with the SAME
  ``Idempotency-Key`` after ``Retry-After``, exactly as the contract tells clients to. Every HTTP call is
  recorded (``Calls``: operation, status, start, duration), so detectors can work from what clients saw.
- **Detectors**: each turns what clients were told and what PostgreSQL holds into a count of broken
  promises (acknowledged bookings lost, seats or customers booked twice, holds charged twice, charges
  without a booking, stuck seats, requests hung past their bound, early releases, stale-epoch writes).
  They read PostgreSQL directly, never through the service, and every one of them has a negative
  control in ``tests/integration/test_reliability_faults.py`` showing it does fire.

Why "acknowledged": a 201/200 is a promise; a 503 or a lost answer is not (the request may or may not
have taken effect, and a retry with the same key settles which). Detectors therefore compare the database
with the set of acknowledged answers, and count duplicates in the database regardless of answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import psycopg

from harness.backing import query_int
from harness.client import ShowFixture, bulk_users, create_show
from reliability.figures import Figure, at_most, informational
from settings import libpq_url

if TYPE_CHECKING:
    from reliability.env import Env

__all__ = [
    "APPROVED_CARD",
    "Call",
    "Calls",
    "Purchase",
    "actor_ping",
    "charges_without_booking",
    "double_charges",
    "duplicate_bookings",
    "early_releases",
    "frozen",
    "host_stats",
    "kill_actor",
    "kill_host",
    "lost_bookings",
    "lost_holds",
    "new_show",
    "percentile",
    "purchase",
    "release_lags",
    "stale_epoch_writes",
    "stuck_seats",
    "users",
    "wait_actor",
]

APPROVED_CARD = "4242424242424242"
RETRY_STATUSES = {0, 500, 502, 503, 504}
MAX_ROWS = (
    60  # of a screen (api/schemas.py); a row has at most 100 seats  # 0: no answer (transport error or client timeout)
)


# -- processes and actors ---------------------------------------------------------------------------------


def actor_ping(env: Env, show_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The show's figures (epoch, counts) and the pid of the process running it, from the actor running
    it (activating the show there if it is not live); raises if it does not answer in ``timeout``."""
    return env.placement().ping(show_id, timeout)


def wait_actor(env: Env, show_id: str, timeout: float = 60.0, not_pid: int | None = None) -> dict[str, Any]:
    """Ping until the show's actor answers (from a process other than ``not_pid``, if given)."""
    return env.placement().wait_ping(show_id, timeout, not_pid)


def kill_actor(env: Env, show_id: str, restart: bool = True) -> None:
    """Kill the actor running the show like a crash (``ray.kill``: no shutdown code runs): the show's own
    actor, or its host with every show on it (hosted placement). With ``restart`` Ray brings it back
    (detached, ``max_restarts=-1``) and the show's next activation takes a new epoch (at once for its own
    actor, on its next command on a host)."""
    env.placement().kill(show_id, restart)


def host_stats(env: Env, name: str, timeout: float = 10.0) -> dict[str, Any]:
    """A show host's own figures (``ShowHost.stats``: pid, live shows, lifecycle counts since its process
    started); raises if it does not answer in ``timeout``."""
    import ray

    host: Any = ray.get_actor(name, namespace=env.placement().namespace)
    stats: dict[str, Any] = ray.get(host.stats.remote(), timeout=timeout)
    return stats


def kill_host(env: Env, name: str, restart: bool = True) -> None:
    """Kill a show host (``shows:<n>``, hosted placement) like a crash, with every show it hosts. With
    ``restart`` Ray brings it back empty (detached, ``max_restarts=-1``); each show it then activates takes
    a new epoch."""
    import ray

    ray.kill(ray.get_actor(name, namespace=env.placement().namespace), no_restart=not restart)


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP ``pid`` for the block; SIGCONT on the way out, whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "zombie" not in status.read()
    except OSError:
        return False


# -- set-up -----------------------------------------------------------------------------------------------


def new_show(
    base_url: str,
    seats: int,
    per_row: int = 20,
    hold_ttl_seconds: int | None = None,
    price: float = 100.0,
    starts_in: timedelta = timedelta(days=1),
) -> ShowFixture:
    """A show with ``seats`` standard seats (rows of ``per_row``, longer if a screen's 60 rows would not
    hold them; row labels A, B, … then AA, AB, …)."""
    per_row = max(per_row, math.ceil(seats / MAX_ROWS))
    rows: list[dict[str, Any]] = []
    left, index = seats, 0
    while left > 0:
        label = _row_label(index)
        rows.append({"row": label, "seats": min(per_row, left), "category": "standard"})
        left -= per_row
        index += 1
    with httpx.Client(base_url=base_url, timeout=60) as client:
        return create_show(
            client, rows=rows, prices={"standard": price}, hold_ttl_seconds=hold_ttl_seconds, starts_in=starts_in
        )


def _row_label(index: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]


def users(env: Env | str, count: int) -> list[tuple[str, str]]:
    """``count`` customers (id, token) made directly in PostgreSQL (a service must have started once,
    to create the token signing key)."""
    return bulk_users(env if isinstance(env, str) else env.database_url, count)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def seconds_p50_p99(
    n: int, name: str, seconds: Sequence[float], p99_bound: float, *, digits: int = 2, unit: str = ""
) -> list[Figure]:
    """Scenario ``n``'s two figures of a spread of durations named ``name`` (e.g. "recovery after a kill"):
    its p50, informational, and its p99, which must stay within ``p99_bound``; in seconds, to ``digits``."""
    return [
        informational(n, f"{name}, p50 (s)", round(percentile(seconds, 50), digits)),
        at_most(n, f"{name}, p99 (s)", round(percentile(seconds, 99), digits), p99_bound, unit),
    ]


# -- load -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP call as the client saw it. ``status`` 0: no answer (transport error or client timeout)."""

    op: str
    status: int
    started: float  # time.monotonic()
    elapsed: float
    detail: str = ""

    @property
    def ended(self) -> float:
        return self.started + self.elapsed


class Calls(list[Call]):
    """Every call of a run, in completion order."""

    def hung(self, limit: float) -> int:
        """Calls that took longer than ``limit`` seconds to answer, or never answered within the client's
        own timeout (which must be set above ``limit`` so those are told apart)."""
        return sum(1 for c in self if c.elapsed > limit or c.detail == "client-timeout")

    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for c in self:
            out[c.status] = out.get(c.status, 0) + 1
        return dict(sorted(out.items()))

    def first_success_after(self, moment: float, ops: Iterable[str] | None = None) -> float | None:
        """Seconds from ``moment`` to the end of the first 2xx call started after it (None: none)."""
        wanted = set(ops) if ops is not None else None
        ends = [
            c.ended - moment
            for c in self
            if c.started >= moment and 200 <= c.status < 300 and (wanted is None or c.op in wanted)
        ]
        return min(ends) if ends else None


async def call(
    client: httpx.AsyncClient,
    calls: Calls,
    op: str,
    method: str,
    url: str,
    **kwargs: Any,
) -> httpx.Response | None:
    """Make one call and record it; None when no answer came (the call is recorded with status 0)."""
    started = time.monotonic()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        calls.append(Call(op, 0, started, time.monotonic() - started, "client-timeout"))
        return None
    except httpx.HTTPError as exc:
        calls.append(Call(op, 0, started, time.monotonic() - started, type(exc).__name__))
        return None
    detail = ""
    if response.status_code >= 400:
        with contextlib.suppress(Exception):
            detail = str(response.json().get("type", ""))
    calls.append(Call(op, response.status_code, started, time.monotonic() - started, detail))
    return response


def _retry_after(response: httpx.Response | None, cap: float) -> float:
    if response is None:
        return min(0.5, cap)
    try:
        return min(float(response.headers.get("Retry-After", "1")), cap)
    except ValueError:
        return min(1.0, cap)


def _in_progress(response: httpx.Response) -> bool:
    return response.status_code == 409 and "in-progress" in response.text


@dataclass
class Purchase:
    """One customer's attempt: what the service acknowledged (hold 201, booking 200) and how it ended."""

    user_id: str
    token: str
    seats: list[str]
    hold_key: str = field(default_factory=lambda: f"hold-{secrets.token_hex(8)}")
    pay_key: str = field(default_factory=lambda: f"pay-{secrets.token_hex(8)}")
    hold_id: str | None = None
    hold_expires_at: datetime | None = None
    hold_answers: set[str] = field(default_factory=set)  # every hold id any answer named (replays: one)
    booking_id: str | None = None
    booking_answers: set[str] = field(default_factory=set)
    booked_seats: list[str] = field(default_factory=list)
    outcome: str = "not started"  # booked, held, declined, refused:<status>, gave up:<op>

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def purchase(
    client: httpx.AsyncClient,
    calls: Calls,
    show_id: str,
    buyer: Purchase,
    *,
    pay: bool = True,
    card: str = APPROVED_CARD,
    give_up_after: float = 60.0,
    retry_cap: float = 1.0,
) -> Purchase:
    """Hold ``buyer.seats`` then (if ``pay``) pay, each step retried with its own key until it has a
    definite answer or ``give_up_after`` seconds pass."""
    deadline = time.monotonic() + give_up_after

    async def until_definite(
        op: str, path: str, body: dict[str, Any], key: str, definite: tuple[int, ...]
    ) -> httpx.Response | None:
        """POST ``body`` to ``path`` under the ``Idempotency-Key`` ``key`` until an answer whose status is
        ``definite``, which it returns; ``None`` when the step ends otherwise, with ``buyer.outcome`` saying
        how: ``refused:<op>:<status>`` (an answer retrying will not change) or ``gave up:<op>`` (out of time)."""
        while True:
            r = await call(
                client, calls, op, "POST", path, json=body, headers={**buyer.headers, "Idempotency-Key": key}
            )
            if r is not None and r.status_code in definite:
                return r
            if r is not None and r.status_code not in RETRY_STATUSES and not _in_progress(r):
                buyer.outcome = f"refused:{op}:{r.status_code}"
                return None
            if time.monotonic() > deadline:
                buyer.outcome = f"gave up:{op}"
                return None
            await asyncio.sleep(_retry_after(r, retry_cap))

    held = await until_definite(
        "hold", f"/api/v1/shows/{show_id}/holds", {"seats": buyer.seats}, buyer.hold_key, (201,)
    )
    if held is None:
        return buyer
    body = held.json()
    buyer.hold_id = body["id"]
    buyer.hold_answers.add(body["id"])
    buyer.hold_expires_at = datetime.fromisoformat(body["expires_at"])
    buyer.outcome = "held"
    if not pay:
        return buyer
    payment = {"payment_info": {"card_number": card}}
    paid = await until_definite("pay", f"/api/v1/shows/{show_id}/holds/pay", payment, buyer.pay_key, (200, 402))
    if paid is None:
        return buyer
    if paid.status_code == 402:
        buyer.outcome = "declined"
        return buyer
    body = paid.json()
    buyer.booking_id = body["booking_id"]
    buyer.booking_answers.add(body["booking_id"])
    buyer.booked_seats = list(body["selected_seat"])
    buyer.outcome = "booked"
    return buyer


async def crowd(
    base_url: str,
    show_id: str,
    buyers: Sequence[Purchase],
    calls: Calls,
    *,
    concurrency: int = 16,
    pay: bool = True,
    card: str = APPROVED_CARD,
    spread_seconds: float = 0.0,
    give_up_after: float = 60.0,
    client_timeout: float = 30.0,
    budget: float | None = None,
) -> list[Purchase]:
    """Run ``purchase`` for every buyer, ``concurrency`` at a time, starts spread over ``spread_seconds``.
    ``budget`` bounds the whole crowd (default: spread + 2 × give_up_after): a buyer that has not started
    by then gives up at once, so a service that stays broken ends the run instead of stretching it."""
    end = time.monotonic() + (budget if budget is not None else spread_seconds + 2 * give_up_after)
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=client_timeout, limits=limits) as client:

        async def one(index: int, buyer: Purchase) -> Purchase:
            if spread_seconds > 0:
                await asyncio.sleep(spread_seconds * index / max(1, len(buyers)))
            async with semaphore:
                left = end - time.monotonic()
                if left <= 0:
                    buyer.outcome = "gave up:budget"
                    return buyer
                return await purchase(
                    client, calls, show_id, buyer, pay=pay, card=card, give_up_after=min(give_up_after, left)
                )

        return list(await asyncio.gather(*(one(i, b) for i, b in enumerate(buyers))))


def buyers_for(
    show: ShowFixture, customers: Sequence[tuple[str, str]], seats_each: int = 1, offset: int = 0
) -> list[Purchase]:
    """One ``Purchase`` per customer, each for its own ``seats_each`` seats (no contention by design:
    what these scenarios test is faults, not races; scenario 1 does races)."""
    out = []
    for i, (user_id, token) in enumerate(customers):
        start = offset + i * seats_each
        out.append(Purchase(user_id, token, show.seats[start : start + seats_each]))
    return out


# -- detectors --------------------------------------------------------------------------------------------


def _connect(database_url: str) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(libpq_url(database_url), autocommit=True)


def lost_bookings(database_url: str, buyers: Iterable[Purchase]) -> int:
    """Acknowledged bookings (200) that PostgreSQL does not have, confirmed, for that customer and seats;
    plus customers told two different booking ids for one payment key."""
    acked = [b for b in buyers if b.booking_id is not None]
    if not acked:
        return 0
    with _connect(database_url) as conn:
        rows = {
            r[0]: (r[1], sorted(r[2]), r[3])
            for r in conn.execute(
                "SELECT id, user_id, seat_ids, status FROM bookings WHERE id = ANY(%s)",
                ([b.booking_id for b in acked],),
            )
        }
    lost = 0
    for b in acked:
        row = rows.get(b.booking_id or "")
        if row is None or row != (b.user_id, sorted(b.booked_seats), "confirmed"):
            lost += 1
        lost += len(b.booking_answers) - 1
    return lost


def lost_holds(database_url: str, buyers: Iterable[Purchase], now: datetime | None = None) -> int:
    """Acknowledged holds (201) that are gone: neither booked nor still active with their seats claimed,
    although their ``expires_at`` has not passed (a hold that expired on time is not lost)."""
    acked = [b for b in buyers if b.hold_id is not None]
    if not acked:
        return 0
    now = now or datetime.now(UTC)
    with _connect(database_url) as conn:
        holds = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                "SELECT id, status, expires_at FROM holds WHERE id = ANY(%s)", ([b.hold_id for b in acked],)
            )
        }
        claimed = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT hold_id FROM seat_claims WHERE hold_id = ANY(%s)", ([b.hold_id for b in acked],)
            )
        }
    lost = 0
    for b in acked:
        lost += len(b.hold_answers) - 1  # one key, two different holds acknowledged
        row = holds.get(b.hold_id or "")
        if row is None:
            lost += 1
            continue
        status, expires_at = row
        if status == "confirmed":
            continue
        if status == "active" and b.hold_id in claimed:
            continue
        if status == "expired" and expires_at <= now:
            continue
        lost += 1
    return lost


def duplicate_bookings(database_url: str, show_id: str, one_per_customer: bool = True) -> int:
    """Seats in more than one confirmed booking, plus (``one_per_customer``: every customer of the run
    buys once) extra confirmed bookings of one customer, plus extra bookings of one payment."""
    with _connect(database_url) as conn:
        total = query_int(
            conn,
            "SELECT count(*) FROM (SELECT seat FROM bookings, unnest(seat_ids) AS seat "
            "WHERE show_id = %s AND status = 'confirmed' GROUP BY seat HAVING count(*) > 1) t",
            (show_id,),
        )
        total += query_int(
            conn,
            "SELECT count(*) FROM (SELECT h FROM bookings, unnest(hold_ids) AS h "
            "WHERE show_id = %s GROUP BY h HAVING count(*) > 1) t",
            (show_id,),
        )
        if one_per_customer:
            total += query_int(
                conn,
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM bookings "
                "WHERE show_id = %s AND status = 'confirmed' GROUP BY user_id) t",
                (show_id,),
            )
    return total


def _charges(conn: psycopg.Connection[tuple[Any, ...]]) -> list[tuple[str, str, Any, Any]]:
    """(charge_id, idempotency_key, amount, refunded) of every captured charge in the gateway's ledger."""
    exists = conn.execute("SELECT to_regclass('gateway.charges') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    return [
        (r[0], r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT charge_id, idempotency_key, amount, refunded FROM gateway.charges WHERE status = 'captured'"
        )
    ]


def double_charges(database_url: str) -> int:
    """Money taken twice for one purchase: holds covered by more than one captured charge that is not
    refunded in full, and payments (keys) with more than one such charge."""
    with _connect(database_url) as conn:
        charges = [c for c in _charges(conn) if c[3] < c[2]]
        holds_of = {
            r[0]: list(r[1])
            for r in conn.execute("SELECT id, hold_ids FROM payments WHERE id = ANY(%s)", ([c[1] for c in charges],))
        }
    per_hold: dict[str, int] = {}
    per_key: dict[str, int] = {}
    for _, key, _, _ in charges:
        per_key[key] = per_key.get(key, 0) + 1
        for hold in holds_of.get(key, []):
            per_hold[hold] = per_hold.get(hold, 0) + 1
    return sum(n - 1 for n in per_hold.values() if n > 1) + sum(n - 1 for n in per_key.values() if n > 1)


def charges_without_booking(database_url: str) -> int:
    """Captured charges not refunded in full whose charge no booking (confirmed, or cancelled with its
    refund still owed) names."""
    with _connect(database_url) as conn:
        charges = [c for c in _charges(conn) if c[3] < c[2]]
        refs = {
            r[0]
            for r in conn.execute(
                "SELECT b.payment_ref FROM bookings b WHERE b.payment_ref IS NOT NULL AND (b.status = 'confirmed' "
                "OR EXISTS (SELECT 1 FROM payments p WHERE p.booking_id = b.id AND p.status = 'refund_pending'))"
            )
        }
    return sum(1 for charge_id, *_ in charges if charge_id not in refs)


def stuck_seats(database_url: str, show_id: str, grace_seconds: float = 5.0) -> int:
    """Seats nobody can buy and nothing will free: claims of holds that are not active, claims of active
    holds past their expiry by more than ``grace_seconds`` with no payment under way, and seats of holds
    left in payment-pending whose payment is not pending (so nothing will ever settle them)."""
    with _connect(database_url) as conn:
        claimed = query_int(
            conn,
            "SELECT count(*) FROM seat_claims c LEFT JOIN holds h ON h.id = c.hold_id "
            "WHERE c.show_id = %s AND c.booking_id IS NULL AND (h.id IS NULL OR h.status <> 'active' "
            "OR (h.payment_key IS NULL AND h.expires_at < now() - make_interval(secs => %s)))",
            (show_id, grace_seconds),
        )
        pending = query_int(
            conn,
            "SELECT coalesce(sum(cardinality(h.seat_ids)), 0) FROM holds h "
            "LEFT JOIN payments p ON p.id = h.payment_key "
            "WHERE h.show_id = %s AND h.status = 'active' AND h.payment_key IS NOT NULL "
            "AND (p.id IS NULL OR p.status <> 'pending')",
            (show_id,),
        )
    return claimed + pending


def early_releases(database_url: str, show_id: str, tolerance_seconds: float = 0.0) -> int:
    """Holds that ended as ``expired`` before their ``expires_at`` (by more than ``tolerance_seconds``)."""
    with _connect(database_url) as conn:
        return query_int(
            conn,
            "SELECT count(*) FROM holds WHERE show_id = %s AND status = 'expired' "
            "AND ended_at < expires_at - make_interval(secs => %s)",
            (show_id, tolerance_seconds),
        )


def release_lags(database_url: str, show_id: str) -> list[float]:
    """Seconds from each expired hold's ``expires_at`` to the commit that released it (``ended_at``)."""
    with _connect(database_url) as conn:
        return [
            float(r[0])
            for r in conn.execute(
                "SELECT extract(epoch FROM ended_at - expires_at) FROM holds "
                "WHERE show_id = %s AND status = 'expired' AND ended_at IS NOT NULL",
                (show_id,),
            )
        ]


def ledger_rows_of_epoch(database_url: str, show_id: str, epoch: int) -> int:
    with _connect(database_url) as conn:
        return query_int(conn, "SELECT count(*) FROM seat_ledger WHERE show_id = %s AND epoch = %s", (show_id, epoch))


def stale_epoch_writes(database_url: str, show_id: str, stale_epoch: int, rows_at_takeover: int) -> int:
    """Changes committed under ``stale_epoch`` after a newer epoch took over. Every committed change of a
    show writes seat-ledger rows tagged with the epoch it was made under (in the same transaction), so any
    growth of that epoch's rows since the takeover (``rows_at_takeover``, counted once the newer epoch was
    taken) is a fenced copy's write that got through."""
    return max(0, ledger_rows_of_epoch(database_url, show_id, stale_epoch) - rows_at_takeover)


def start_copy(env: Env, show_id: str, label: str = "takeover") -> Any:
    """A second activation of a show, outside the service's Ray namespace: what Ray does when it declares
    a node dead and restarts its actors elsewhere while the old copy still runs (frozen, partitioned).
    The copy takes a new epoch from PostgreSQL as it activates (fencing every older copy) and answers
    ``apply`` / ``ping`` like the real one; it publishes under its own Redis prefix so it does not write
    over the service's seat maps. The caller kills it (``ray.kill``)."""
    from actors.show_actor import ActorConfig, RemoteShowActor, actor_name
    from persistence.journals import PostgresJournals
    from settings import Settings

    settings = Settings()
    config = ActorConfig.from_settings(
        settings,
        journals=PostgresJournals(env.database_url, settings.db_timeout_seconds),
        redis_url=env.redis_url,
        redis_prefix=f"{env.redis_prefix}{label}:",
    )
    return RemoteShowActor.options(
        name=actor_name(show_id), namespace=f"{env.ray_namespace}-{label}", max_restarts=0, num_cpus=0
    ).remote(show_id, config)
