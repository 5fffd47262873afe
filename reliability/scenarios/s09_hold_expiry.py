"""Scenario 9: hold expiry across restarts: many holds, the whole service killed mid-TTL, then started again.

What it promises (design rule 4, "time is data"): a hold owns its seats until its ``expires_at`` and not a
moment less, whatever crashes in between; after a restart the actor re-arms its timers from the stored
rows, so seats come free soon after they expire. What it measures: early releases (none allowed) and the
release lag, from a hold's ``expires_at`` to the commit that released it (``holds.ended_at``).

How: a service allowing many seats per customer; shows of up to 5,000 one-seat-row seats (a screen has at
most 6,000); 10,000 one-seat holds (full; 400 in the short version), made through the API by customers
each holding many seats. Half-way through the TTL of the first hold, the service is SIGKILLed and every
show actor (every host of the shows, under hosted placement) is killed without restart (as when the whole
machine goes down: nothing of the old run is left but PostgreSQL); the service is started again. Then:

- the acknowledged holds are checked against PostgreSQL before any of them expires (lost across the
  restart: a hold neither active with its seats claimed nor confirmed);
- a second customer tries to hold a sample of the held seats while their holds are still running: any
  201 that arrives before the original hold's ``expires_at`` is a seat given away early (that request
  also re-activates the show, as real traffic would);
- once every hold has expired, PostgreSQL must say so: expired holds ended before ``expires_at``
  (early releases), the lag distribution, and holds still active past their expiry (stuck);
- the same second customer then holds a sample of the expired seats (they must be free again).

Bound on the release lag: p99 ≤ 2 s, the contract's bound on how far a seat map may lag the truth (a
seat whose timer has not fired is shown held).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from harness.client import ShowFixture
from reliability import faults
from reliability.core import SizedScenario
from reliability.env import Env
from reliability.faults import Calls, Purchase
from reliability.figures import Figure, at_least, informational, zero

RELEASE_LAG_P99_BOUND_SECONDS = 2.0
SEATS_PER_SHOW_MAX = 5000


@dataclass(frozen=True)
class Size:
    holds: int
    per_customer: int  # holds each customer makes (one seat each)
    ttl_seconds: int
    probes: int  # held seats a second customer tries to take before they expire (and after)


SHORT = Size(holds=400, per_customer=20, ttl_seconds=24, probes=40)
FULL = Size(holds=10_000, per_customer=100, ttl_seconds=240, probes=200)


class HoldExpiry(SizedScenario[Size]):
    number = 9
    title = "Hold expiry across restarts"

    def measure(self, env: Env, size: Size) -> list[Figure]:
        n = self.number
        customers_needed = size.holds // size.per_customer
        service = env.start_service({"BOOKING_MAX_SEATS_PER_USER": str(size.per_customer + size.probes)})
        shows: list[ShowFixture] = []
        left = size.holds
        while left > 0:
            seats = min(SEATS_PER_SHOW_MAX, left)
            shows.append(faults.new_show(service.base_url, seats=seats, per_row=100, hold_ttl_seconds=size.ttl_seconds))
            left -= seats
        customers = faults.users(env, customers_needed + 1)
        prober, holders = customers[0], customers[1:]
        buyers: dict[str, list[Purchase]] = {}
        index = 0
        for show in shows:
            buyers[show.show_id] = []
            for seat in show.seats:
                user_id, token = holders[(index // size.per_customer) % len(holders)]
                buyers[show.show_id].append(Purchase(user_id, token, [seat]))
                index += 1
        env.log(f"{size.holds} holds on {len(shows)} show(s), TTL {size.ttl_seconds} s")

        started = time.monotonic()
        calls = Calls()

        async def hold_all() -> None:
            await asyncio.gather(
                *(
                    faults.crowd(service.base_url, show_id, group, calls, concurrency=32, pay=False, give_up_after=90)
                    for show_id, group in buyers.items()
                )
            )

        asyncio.run(hold_all())
        everyone = [b for group in buyers.values() for b in group]
        acked = [b for b in everyone if b.hold_expires_at is not None]
        expiries = [b.hold_expires_at for b in acked if b.hold_expires_at is not None]
        if not expiries:
            return [at_least(n, "holds acknowledged", 0, size.holds)]
        first_expiry, last_expiry = min(expiries), max(expiries)
        env.log(f"{len(acked)} holds acknowledged in {time.monotonic() - started:.0f} s; statuses {calls.statuses()}")

        # Kill half-way through the first hold's TTL (or now, if making the holds took longer than that).
        kill_at = first_expiry.timestamp() - size.ttl_seconds / 2
        time.sleep(max(0.0, kill_at - time.time()))
        killed_at = datetime.now(UTC)
        service.kill()
        # Every show's actor (their own, or their hosts under hosted placement), each killed once.
        env.placement().kill_all([show.show_id for show in shows], restart=False)
        unexpired_at_kill = sum(1 for e in expiries if e > killed_at)
        env.log(f"killed at {(first_expiry - killed_at).total_seconds():.1f} s before the first expiry")
        time.sleep(2)
        service.start()
        restarted_at = datetime.now(UTC)
        env.log(f"service back {(restarted_at - killed_at).total_seconds():.1f} s after the kill")

        # Before anything expires: every acknowledged hold is still there.
        lost = sum(faults.lost_holds(env.database_url, group) for group in buyers.values())
        checked_before_expiry = datetime.now(UTC) < first_expiry

        rng = random.Random(9)
        # Seats another customer tries to take while their holds run: those expiring last (most time left).
        running = sorted(acked, key=lambda b: b.hold_expires_at or killed_at, reverse=True)[: size.probes]
        # Seat ids repeat across shows (every show's rows are A, B, …): a probe goes to the hold's own show.
        show_of = {b.hold_key: show_id for show_id, group in buyers.items() for b in group}
        early_seen, probes_sent = asyncio.run(self._probe_running(service.base_url, prober[1], running, show_of))

        # Wait for every hold to expire, and the timers to fire.
        wait_until = last_expiry.timestamp() + 3 * RELEASE_LAG_P99_BOUND_SECONDS + 2
        time.sleep(max(0.0, wait_until - time.time()))
        lags: list[float] = []
        early_db = 0
        still_active = 0
        for show in shows:
            lags += faults.release_lags(env.database_url, show.show_id)
            early_db += faults.early_releases(env.database_url, show.show_id)
            still_active += faults.stuck_seats(env.database_url, show.show_id, grace_seconds=0)
        expired_sample = rng.sample([b for b in acked if b not in running], min(size.probes, len(acked) - len(running)))
        free_again = asyncio.run(self._probe_expired(service.base_url, prober[1], expired_sample, show_of))
        env.log(f"lags p50 {faults.percentile(lags, 50):.2f} s p99 {faults.percentile(lags, 99):.2f} s")
        return [
            at_least(n, "holds acknowledged", len(acked), size.holds),
            at_least(n, "holds still running when the service was killed", unexpired_at_kill, len(acked)),
            informational(
                n,
                "seconds from the kill to the service serving again",
                round((restarted_at - killed_at).total_seconds(), 1),
            ),
            zero(n, "acknowledged holds lost across the restart", lost),
            informational(n, "that check ran before the first expiry", "yes" if checked_before_expiry else "no"),
            zero(n, "early releases (expired in PostgreSQL before expires_at)", early_db),
            zero(n, "early releases seen by another customer (seat granted before expiry)", early_seen),
            informational(n, "held seats another customer tried before expiry", probes_sent),
            at_least(n, "holds released by expiry", len(lags), len(acked)),
            *faults.seconds_p50_p99(
                n, "release lag after expiry", lags, RELEASE_LAG_P99_BOUND_SECONDS, digits=3, unit="s"
            ),
            zero(n, "seats still held after expiry (stuck)", still_active),
            at_least(n, "expired seats another customer could hold again", free_again, len(expired_sample)),
        ]

    @staticmethod
    async def _probe_hold(
        client: httpx.AsyncClient, headers: dict[str, str], show_id: str, seat: str, tries: int = 1
    ) -> httpx.Response | None:
        """Another customer's hold of ``seat``: asked up to ``tries`` times, 0.5 s apart, while the answer
        is one to retry (none, a 503); the last answer."""
        r = None
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(0.5)
            r = await faults.call(
                client,
                Calls(),
                "probe",
                "POST",
                f"/api/v1/shows/{show_id}/holds",
                json={"seats": [seat]},
                headers=headers,
            )
            if r is not None and r.status_code not in faults.RETRY_STATUSES:
                break
        return r

    @staticmethod
    async def _probe_running(
        base_url: str, token: str, running: list[Purchase], show_of: dict[str, str]
    ) -> tuple[int, int]:
        """Try to hold seats whose holds still run: (201s that arrived before that hold's expiry, tries)."""
        early = sent = 0
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            for b in running:
                expires_at = b.hold_expires_at
                if expires_at is None or datetime.now(UTC) >= expires_at:
                    continue
                seat = b.seats[0]
                # Retry a 503 (the show re-activating after the restart): only a definite answer counts.
                r = await HoldExpiry._probe_hold(client, headers, show_of[b.hold_key], seat, tries=40)
                answered = datetime.now(UTC)
                sent += 1
                if r is not None and r.status_code == 201 and answered < expires_at:
                    early += 1
        return early, sent

    @staticmethod
    async def _probe_expired(base_url: str, token: str, expired: list[Purchase], show_of: dict[str, str]) -> int:
        """Hold seats whose holds expired: how many were granted."""
        granted = 0
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            for b in expired:
                seat = b.seats[0]
                r = await HoldExpiry._probe_hold(client, headers, show_of[b.hold_key], seat)
                granted += r is not None and r.status_code == 201
        return granted


SCENARIO = HoldExpiry(SHORT, FULL)
