"""Scenario 7: Redis stopped (a throwaway one the suite owns), then started again, empty.

What it promises: Redis holds only what may be lost, so with Redis gone bookings stay correct and
available, seat-map reads still answer 200 (from PostgreSQL's committed seat claims instead of the
actor's published snapshot), and rate limiting *fails safe*.

What "safe" means for rate limits, from ``api/rate_limit.py``: the limiter counts in Redis (shared by all
API processes) and, when Redis does not answer, falls back to an in-process sliding-window counter for
the next 5 s at a time. Limits stay ON (not fail-open: a flood is still refused) and nobody under the limit
is refused (not fail-closed: Redis trouble does not become an outage). The only thing lost is sharing the
budget between processes: with N API processes a client may get up to N × the limit. This run has one API
process, so the bound is exact: requests admitted from one address while Redis is down ≤ the limit.

Steps: buyers book with Redis up; Redis stops; more buyers book, seat-map reads run, a flooder from one
address sends more than the limit, ordinary clients (each their own address: ``127.0.0.x`` are all
loopback) make a few requests; Redis starts again (empty), the seat map must come back to the published
snapshot by itself, and more buyers book.

Figures: acknowledged bookings lost, duplicate bookings; seat-map reads that were not 200 / that missed an
acknowledged booking while Redis was down; 5xx while down; requests admitted beyond the limit and 429s to
the flooder; ordinary clients refused; seconds until seat maps come from Redis again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from reliability import faults
from reliability.env import Env
from reliability.faults import Calls, Purchase
from reliability.figures import Figure, at_least, at_most, informational, zero

LIMIT_PER_MINUTE = 240
FLOOD = LIMIT_PER_MINUTE + 60
BACK_TO_CACHE_BOUND_SECONDS = 15.0


class RedisOutage:
    number = 7
    title = "Redis stopped"
    own_redis = True

    def run(self, env: Env, full: bool) -> list[Figure]:
        n = self.number
        assert env.redis is not None, "this scenario needs the suite's own Redis"
        per_phase = 60 if full else 20
        service = env.start_service({"BOOKING_RATE_LIMIT_PER_MINUTE": str(LIMIT_PER_MINUTE)})
        show = faults.new_show(service.base_url, seats=3 * per_phase + 20)
        customers = faults.users(env, 3 * per_phase)
        phases = [
            faults.buyers_for(show, customers[i * per_phase : (i + 1) * per_phase], offset=i * per_phase)
            for i in range(3)
        ]
        done: list[Purchase] = []
        done += asyncio.run(faults.crowd(service.base_url, show.show_id, phases[0], Calls(), concurrency=8))

        env.redis.stop()
        env.log("Redis stopped")
        down_calls = Calls()
        done += asyncio.run(faults.crowd(service.base_url, show.show_id, phases[1], down_calls, concurrency=8))
        booked_seats = {s for b in done for s in b.booked_seats}
        reads = self._reads(service.base_url, show.show_id, down_calls, 10)
        read_failures = sum(1 for r in reads if r is None)
        sources = [r["source"] for r in reads if r is not None]
        missed = sum(
            1 for r in reads if r is not None for s in r["seats"] if s["id"] in booked_seats and s["status"] != "booked"
        )
        admitted, refused = self._flood(service.base_url, down_calls)
        ordinary_refused = self._ordinary(service.base_url, down_calls)
        server_errors = sum(1 for c in down_calls if c.status >= 500 or c.status == 0)
        latencies = [c.elapsed for c in down_calls]

        env.redis.start()
        env.log("Redis started again (empty)")
        back = self._back_to_cache(service.base_url, show.show_id)
        done += asyncio.run(faults.crowd(service.base_url, show.show_id, phases[2], Calls(), concurrency=8))
        return [
            zero(n, "acknowledged bookings lost", faults.lost_bookings(env.database_url, done)),
            zero(n, "duplicate bookings", faults.duplicate_bookings(env.database_url, show.show_id)),
            at_least(
                n,
                "bookings while Redis was down",
                sum(b.booking_id is not None for b in done[per_phase : 2 * per_phase]),
                per_phase,
            ),
            zero(n, "seat-map reads not 200 while Redis was down", read_failures),
            at_least(
                n, "seat-map reads served from PostgreSQL while Redis was down", sources.count("database"), len(reads)
            ),
            zero(n, "acknowledged bookings missing from those seat maps", missed),
            zero(n, "5xx or no answer while Redis was down", server_errors),
            zero(
                n,
                f"requests admitted beyond the limit ({LIMIT_PER_MINUTE}/min) from one address, Redis down",
                max(0, admitted - LIMIT_PER_MINUTE),
            ),
            at_least(n, "flood requests refused with 429 while Redis was down", refused, FLOOD - LIMIT_PER_MINUTE),
            zero(n, "ordinary clients refused while Redis was down", ordinary_refused),
            at_most(
                n, "seconds until seat maps come from Redis again", round(back, 2), BACK_TO_CACHE_BOUND_SECONDS, "s"
            ),
            informational(n, "p99 latency while Redis was down (s)", round(faults.percentile(latencies, 99), 3)),
        ]

    @staticmethod
    def _reads(base_url: str, show_id: str, calls: Calls, count: int) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for _ in range(count):
                started = time.monotonic()
                try:
                    r = client.get(f"/api/v1/shows/{show_id}/seats")
                except httpx.HTTPError:
                    calls.append(faults.Call("seats", 0, started, time.monotonic() - started))
                    out.append(None)
                    continue
                calls.append(faults.Call("seats", r.status_code, started, time.monotonic() - started))
                out.append(r.json() if r.status_code == 200 else None)
                time.sleep(0.25)  # past the render cache (0.2 s): every read is a fresh one
        return out

    @staticmethod
    def _flood(base_url: str, calls: Calls) -> tuple[int, int]:
        """One address sends FLOOD requests at once-after-another speed: (admitted, refused with 429)."""
        transport = httpx.HTTPTransport(local_address="127.0.0.50")
        admitted = refused = 0
        with httpx.Client(base_url=base_url, timeout=30, transport=transport) as client:
            for _ in range(FLOOD):
                started = time.monotonic()
                status = client.get("/api/v1/movies").status_code
                calls.append(faults.Call("flood", status, started, time.monotonic() - started))
                admitted += status == 200
                refused += status == 429
        return admitted, refused

    @staticmethod
    def _ordinary(base_url: str, calls: Calls) -> int:
        """Ten clients, each from its own address, three requests each: how many were refused."""
        refused = 0
        for i in range(10):
            transport = httpx.HTTPTransport(local_address=f"127.0.0.{60 + i}")
            with httpx.Client(base_url=base_url, timeout=30, transport=transport) as client:
                for _ in range(3):
                    started = time.monotonic()
                    status = client.get("/api/v1/movies").status_code
                    calls.append(faults.Call("ordinary", status, started, time.monotonic() - started))
                    refused += status != 200
        return refused

    @staticmethod
    def _back_to_cache(base_url: str, show_id: str, timeout: float = 60.0) -> float:
        """Seconds until a seat-map read says it came from the published snapshot (``cache``) again."""
        started = time.monotonic()
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while time.monotonic() - started < timeout:
                r = client.get(f"/api/v1/shows/{show_id}/seats")
                if r.status_code == 200 and r.json().get("source") == "cache":
                    return time.monotonic() - started
                time.sleep(0.25)
        return float("inf")


SCENARIO = RedisOutage()
