"""Scenario 3: the show actor is killed every few seconds while a crowd holds and pays.

What it promises: an acknowledged hold or booking survives any crash of the actor (it was committed to
PostgreSQL before the answer), and a client that retries an unknown outcome with its ``Idempotency-Key``
never ends up with two. What it measures: recovery time, from each kill to the first request that the
show answers again (a probe asks the actor for the probe customer's holds every 50 ms).

How: ``ray.kill`` on the Ray actor running the show in the service's Ray namespace (``env.placement()``:
the show's own ``show:<id>`` under dedicated placement, its host ``shows:<n>`` under hosted placement, the
default), like a crash of its process (no shutdown code runs); Ray restarts it (detached,
``max_restarts=-1``), and the show's next activation (at once for its own actor, on the next command for
a host, which comes back empty) takes a new epoch and reloads from PostgreSQL. The next kill waits until
the previous copy recovered, so every kill hits a serving actor. Buyers (each their own two seats: this is
about crashes, not races) start spread over the whole run and retry 503s and lost answers with the same
key.

Figures: acknowledged bookings lost, acknowledged holds lost, duplicate bookings (a seat, a customer or a
hold in two bookings), holds charged twice, answers that are neither a success, a 4xx nor a 503;
recovery p50 / p99.
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
from reliability.figures import Figure, at_least, informational, zero

RECOVERY_P99_BOUND_SECONDS = 15.0


@dataclass(frozen=True)
class Size:
    buyers: int
    seconds: float  # how long the load runs (buyer starts are spread over it)
    kill_every: float  # seconds between a recovery and the next kill


SHORT = Size(buyers=240, seconds=10.0, kill_every=1.5)
FULL = Size(buyers=2000, seconds=90.0, kill_every=3.0)


class ActorKills(SizedScenario[Size]):
    number = 3
    title = "Show actor killed every few seconds under load"

    def measure(self, env: Env, size: Size) -> list[Figure]:
        n = self.number
        service = env.start_service()
        show = faults.new_show(service.base_url, seats=2 * size.buyers + 20)
        customers = faults.users(env, size.buyers + 1)
        probe_user, buyers = customers[0], faults.buyers_for(show, customers[1:], seats_each=2)
        # Activate the actor (a seat-map read does not) and learn its first epoch.
        with httpx.Client(base_url=service.base_url, timeout=30) as client:
            client.get(f"/api/v1/shows/{show.show_id}/holds", headers={"Authorization": f"Bearer {probe_user[1]}"})
        first = faults.wait_actor(env, show.show_id)
        calls = Calls()
        recoveries: list[float] = []
        kills: list[int] = []  # pid killed each time
        env.log(f"{size.buyers} buyers over {size.seconds:.0f} s, a kill every {size.kill_every:.0f} s")

        async def killer(load: asyncio.Task[list[Purchase]]) -> None:
            headers = {"Authorization": f"Bearer {probe_user[1]}"}
            async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
                await asyncio.sleep(size.kill_every)
                while not load.done():
                    info = await asyncio.to_thread(faults.wait_actor, env, show.show_id, 60.0)
                    killed_at = time.monotonic()
                    await asyncio.to_thread(faults.kill_actor, env, show.show_id)
                    kills.append(int(info["pid"]))
                    while True:
                        r = await faults.call(
                            client, Calls(), "probe", "GET", f"/api/v1/shows/{show.show_id}/holds", headers=headers
                        )
                        if r is not None and r.status_code == 200:
                            recoveries.append(time.monotonic() - killed_at)
                            break
                        if time.monotonic() - killed_at > 120:
                            recoveries.append(float("inf"))
                            break
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(size.kill_every)

        async def main() -> list[Purchase]:
            load = asyncio.create_task(
                faults.crowd(
                    service.base_url,
                    show.show_id,
                    buyers,
                    calls,
                    concurrency=32,
                    spread_seconds=size.seconds,
                    give_up_after=90,
                )
            )
            await killer(load)
            return await load

        done = asyncio.run(main())
        last = faults.wait_actor(env, show.show_id)
        statuses = calls.statuses()
        unexpected = sum(c for s, c in statuses.items() if s >= 500 and s != 503)
        booked = sum(1 for b in done if b.booking_id is not None)
        gave_up = sum(1 for b in done if b.outcome.startswith("gave up"))
        env.log(f"kills {len(kills)}, recoveries {[round(r, 2) for r in recoveries]}, statuses {statuses}")
        return [
            at_least(n, "actor kills under load", len(kills), 3),
            at_least(n, "epochs taken (last − first)", int(last["epoch"]) - int(first["epoch"]), len(kills)),
            zero(n, "acknowledged bookings lost", faults.lost_bookings(env.database_url, done)),
            zero(n, "acknowledged holds lost", faults.lost_holds(env.database_url, done)),
            zero(
                n,
                "duplicate bookings (seat, customer or hold twice)",
                faults.duplicate_bookings(env.database_url, show.show_id),
            ),
            zero(n, "holds charged twice", faults.double_charges(env.database_url)),
            zero(n, "answers 5xx other than 503", unexpected),
            at_least(n, "buyers booked (of those who started)", booked, size.buyers // 2),
            informational(n, "buyers who gave up after 90 s of retries", gave_up),
            *faults.seconds_p50_p99(n, "recovery after a kill", recoveries, RECOVERY_P99_BOUND_SECONDS),
            informational(n, "answers by status", " ".join(f"{s}:{c}" for s, c in statuses.items())),
        ]


SCENARIO = ActorKills(SHORT, FULL)
