"""Scenario 5: PostgreSQL stopped under load (30 s; 8 s in the short version), then started again.

What it promises: while the database is down every request still gets an answer within its bound (a 503
with ``Retry-After``, never a hang), nothing is acknowledged that was not committed, and the service
serves again by itself once PostgreSQL is back (no restart, no operator). The suite owns a throwaway
PostgreSQL for this (``own_postgres``): the shared one is never stopped.

The bound: the service is started with a database timeout of 2 s and a show-actor call timeout of 5 s.
A hold or a payment makes at most one actor call and, around it, API-side database work that each time
either fails fast (connection refused) or gives up at the database timeout (pool wait, connect,
statement): claim the ``Idempotency-Key``, then settle it. So an answer is due within
``actor call + 2 × 2 × database timeout`` = 13 s; clients wait 40 s, and any call slower than the bound or
left unanswered counts as hung.

Load: buyers (each their own seat) start spread over the whole run, before, during and after the
outage, hold, pay and retry unknown outcomes with the same key. A probe tries a fresh hold every 100 ms
from the moment PostgreSQL is back, to time the recovery.

Figures: requests hung past their bound; acknowledged holds and bookings not in the database afterwards
(acknowledged without a commit); duplicate bookings; seconds from PostgreSQL accepting connections to the
first successful hold; readiness answering 503 while it is down.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from reliability import faults
from reliability.core import SizedScenario
from reliability.env import Env
from reliability.faults import Calls, Purchase
from reliability.figures import Figure, at_least, at_most, informational, zero

DB_TIMEOUT_SECONDS = 2.0
ACTOR_CALL_TIMEOUT_SECONDS = 5.0
REQUEST_BOUND_SECONDS = ACTOR_CALL_TIMEOUT_SECONDS + 2 * 2 * DB_TIMEOUT_SECONDS
CLIENT_TIMEOUT_SECONDS = 40.0
FIRST_SUCCESS_BOUND_SECONDS = 10.0


@dataclass(frozen=True)
class Size:
    buyers: int
    before: float  # seconds of load before the stop
    outage: float
    after: float


SHORT = Size(buyers=100, before=3.0, outage=8.0, after=5.0)
FULL = Size(buyers=400, before=5.0, outage=30.0, after=10.0)


class PostgresOutage(SizedScenario[Size]):
    number = 5
    title = "PostgreSQL stopped under load"
    own_postgres = True

    def measure(self, env: Env, size: Size) -> list[Figure]:
        n = self.number
        assert env.postgres is not None, "this scenario needs the suite's own PostgreSQL"
        service = env.start_service(
            {
                "BOOKING_DB_TIMEOUT_SECONDS": str(DB_TIMEOUT_SECONDS),
                "BOOKING_ACTOR_CALL_TIMEOUT_SECONDS": str(ACTOR_CALL_TIMEOUT_SECONDS),
                "BOOKING_PAYMENT_SETTLE_AFTER_SECONDS": "5",
                "BOOKING_RECONCILE_INTERVAL_SECONDS": "1",
            }
        )
        show = faults.new_show(service.base_url, seats=size.buyers + 200)
        customers = faults.users(env, size.buyers + 1)
        probe_user = customers[0]
        buyers = faults.buyers_for(show, customers[1:])
        probe_seats = show.seats[size.buyers : size.buyers + 200]
        calls = Calls()
        marks: dict[str, float] = {}
        ready_during: list[int] = []
        span = size.before + size.outage + size.after
        env.log(f"{size.buyers} buyers over {span:.0f} s; PostgreSQL down for {size.outage:.0f} s")

        async def outage() -> None:
            await asyncio.sleep(size.before)
            marks["stopped"] = time.monotonic()
            await asyncio.to_thread(env.postgres.stop)  # type: ignore[union-attr]
            marks["stop_returned"] = time.monotonic()
            async with httpx.AsyncClient(base_url=service.base_url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
                await asyncio.sleep(size.outage / 2)
                r = await faults.call(client, calls, "readyz", "GET", "/readyz")
                ready_during.append(r.status_code if r is not None else 0)
                await asyncio.sleep(max(0.0, marks["stopped"] + size.outage - time.monotonic()))
            await asyncio.to_thread(env.postgres.start)  # type: ignore[union-attr]
            marks["started"] = time.monotonic()

        async def probe() -> None:
            """From PostgreSQL's return, a fresh one-seat hold every 100 ms until one succeeds."""
            while "started" not in marks:  # noqa: ASYNC110 (waits on the outage task's mark)
                await asyncio.sleep(0.05)
            headers = {"Authorization": f"Bearer {probe_user[1]}"}
            async with httpx.AsyncClient(base_url=service.base_url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
                for seat in probe_seats:
                    r = await faults.call(
                        client,
                        calls,
                        "probe",
                        "POST",
                        f"/api/v1/shows/{show.show_id}/holds",
                        json={"seats": [seat]},
                        headers=headers,
                    )
                    if r is not None and r.status_code == 201:
                        marks["first_success"] = time.monotonic()
                        return
                    await asyncio.sleep(0.1)

        async def main() -> list[Purchase]:
            load = faults.crowd(
                service.base_url,
                show.show_id,
                buyers,
                calls,
                concurrency=24,
                spread_seconds=span,
                give_up_after=size.outage + 30,
                client_timeout=CLIENT_TIMEOUT_SECONDS,
            )
            done, _, _ = await asyncio.gather(load, outage(), probe())
            return done

        done = asyncio.run(main())
        during = [c for c in calls if marks["stopped"] <= c.started <= marks["started"]]
        first_success = marks.get("first_success", float("inf")) - marks["started"]
        slowest = max((c.elapsed for c in calls), default=0.0)
        env.log(f"statuses {calls.statuses()}, slowest {slowest:.1f} s, first success {first_success:.2f} s")
        return [
            zero(
                n, f"requests hung past their bound ({REQUEST_BOUND_SECONDS:.0f} s)", calls.hung(REQUEST_BOUND_SECONDS)
            ),
            zero(n, "acknowledged bookings not committed", faults.lost_bookings(env.database_url, done)),
            zero(n, "acknowledged holds not committed", faults.lost_holds(env.database_url, done)),
            zero(n, "duplicate bookings", faults.duplicate_bookings(env.database_url, show.show_id)),
            at_most(
                n,
                "seconds to the first success after PostgreSQL returns",
                round(first_success, 2),
                FIRST_SUCCESS_BOUND_SECONDS,
                "s",
            ),
            at_least(n, "requests answered while PostgreSQL was down", len(during), 10),
            zero(n, "readiness not 503 while PostgreSQL was down", sum(1 for s in ready_during if s != 503)),
            informational(n, "slowest answer (s)", round(slowest, 2)),
            informational(n, "answers while down", " ".join(f"{s}:{c}" for s, c in Calls(during).statuses().items())),
            informational(
                n,
                "buyers booked / gave up",
                f"{sum(b.booking_id is not None for b in done)} / "
                f"{sum(b.outcome.startswith('gave up') for b in done)} of {len(done)}",
            ),
        ]


SCENARIO = PostgresOutage(SHORT, FULL)
