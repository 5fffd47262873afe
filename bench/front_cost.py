"""CPU cost of one hold in the API process, next to the bare endpoint, measured in this process.

    python -m bench.front_cost [--requests 3000] [--concurrency 64] [--profile 25]

wrk measures throughput, which on a shared 2-core box mixes the API's own work with everyone else's. This
tool answers a narrower question: how much CPU does the API process spend per hold? It builds the real
app (``main.build_app``, the same composition as ``main.py``) in this process, on a running service's
PostgreSQL, Redis and show actors, drives it through ``httpx.ASGITransport`` (no sockets, so the number
is the app's own work plus the same client overhead for both designs), and does the same for the bare
dict endpoint. ``--profile N`` prints cProfile's top N functions by own time for the service's run. Each
figure is given for the whole process and for the event loop's thread alone (the rest is other threads',
Ray's driver threads above all). ``BOOKING_FAST_HOLDS=false`` in the environment measures the holds
through the FastAPI route instead of the fast path (``api/fast_holds.py``). ``--rate-limit N`` also measures,
in the same run, the service with the rate limiter on at N requests per minute (off in the first run, as in
``bench.compare``; set N high enough that nothing is refused, and it measures what the limiter's Redis
round trip per request costs).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from bench.harness import running_service

ROWS = list(string.ascii_uppercase) + ["A" + a for a in string.ascii_uppercase] + ["B" + a for a in "ABCDEFGH"]


@dataclass(frozen=True)
class Cost:
    """CPU seconds per request: the whole process's, and the event loop thread's alone (the rest is other
    threads': Ray's driver threads above all)."""

    process: float
    loop: float


async def drive(app: FastAPI, requests: int, concurrency: int, make: Callable[[int], dict[str, Any]]) -> Cost:
    """CPU of this process per request while ``concurrency`` clients send ``requests`` holds."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        counter = iter(range(requests))
        statuses: dict[int, int] = {}

        async def one_client() -> None:
            for i in counter:
                response = await client.post(**make(i))
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started_cpu, started_loop, started = time.process_time(), time.thread_time(), time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        cpu, loop = time.process_time() - started_cpu, time.thread_time() - started_loop
        wall = time.perf_counter() - started
    print(
        f"  {requests} requests in {wall:.2f} s, {cpu:.2f} CPU s ({loop:.2f} in the event loop's thread); "
        f"statuses {statuses}",
        flush=True,
    )
    return Cost(cpu / requests, loop / requests)


async def with_lifespan(app: FastAPI, body: Callable[[], Awaitable[Cost]]) -> Cost:
    async with app.router.lifespan_context(app):
        return await body()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions of the service")
    parser.add_argument("--sort", default="tottime", help="with --profile: cProfile sort key (tottime, cumulative)")
    parser.add_argument("--callers", default="", help="with --profile: print who calls functions matching this")
    parser.add_argument(
        "--rate-limit", type=int, default=0, help="also measure the service with the rate limiter at N per minute"
    )
    args = parser.parse_args()

    import main as service_main
    from bench import bare_app
    from harness.client import admin_headers, bulk_users, create_show
    from settings import Settings

    with running_service("bench-front", {"BOOKING_MAX_SEATS_PER_USER": "100000"}) as rig:
        rows = [{"row": r, "seats": 100, "category": "standard"} for r in ROWS]
        with httpx.Client(base_url=rig.base_url, timeout=60) as client:
            admin_headers(client)
            show = create_show(client, rows=rows, prices={"standard": 250.0})
        tokens = [t for _, t in bulk_users(rig.database_url, 100)]
        seats = [f"{r}{n}" for r in ROWS for n in range(1, 101)]
        env = rig.env
        settings = Settings(
            database_url=env["DATABASE_URL"],
            redis_url=env["REDIS_URL"],
            ray_namespace=env["BOOKING_RAY_NAMESPACE"],
            redis_prefix=env["BOOKING_REDIS_PREFIX"],
            rate_limit_per_minute=0,
            seed_demo_catalog=False,
            max_seats_per_user=100000,
        )
        urls = service_main.ServiceUrls(env["DATABASE_URL"], env["REDIS_URL"], "http://127.0.0.1:9")
        secret = asyncio.run(service_main.prepare_database(settings, urls.database_url))

        def hold(i: int, pool: list[str] = seats) -> dict[str, Any]:
            return {
                "url": f"/HoldSeat/api/v0/{show.movie_id}",
                "headers": {"AuthorizationToken": tokens[i % len(tokens)]},
                "json": {
                    "movie_id": show.movie_id,
                    "theater_id": show.theater_id,
                    "event_id": show.show_id,
                    "selected_seat": [pool[i % len(pool)]],
                },
            }

        # Each service run holds seats of its own; the last 100 are for warming up.
        requests = min(args.requests, (len(seats) - 100) // (2 if args.rate_limit else 1))
        bare_seats = [f"{r}{n}" for r in ROWS for n in range(1, 1001)]
        print("bare FastAPI dict endpoint ...", flush=True)
        bare = asyncio.run(drive(bare_app.app, requests, args.concurrency, lambda i: hold(i, bare_seats)))
        print("service app (actor + PostgreSQL) ...", flush=True)
        app = service_main.build_app(settings, urls, secret)
        profiler = cProfile.Profile() if args.profile else None

        async def run_service() -> Cost:
            await drive(app, 50, 8, lambda i: hold(len(seats) - 1 - i))  # warm: actor, layout cache, tokens
            if profiler:
                profiler.enable()
            try:
                return await drive(app, requests, args.concurrency, hold)
            finally:
                if profiler:
                    profiler.disable()

        service = asyncio.run(with_lifespan(app, run_service))
        limited: Cost | None = None
        if args.rate_limit:
            print(f"service app, rate limiter at {args.rate_limit}/min ...", flush=True)
            limited_app = service_main.build_app(
                settings.model_copy(update={"rate_limit_per_minute": args.rate_limit}), urls, secret
            )

            async def run_limited() -> Cost:
                await drive(limited_app, 20, 4, lambda i: hold(len(seats) - 51 - i))
                return await drive(limited_app, requests, args.concurrency, lambda i: hold(requests + i))

            limited = asyncio.run(with_lifespan(limited_app, run_limited))
    if limited is not None:
        print(
            f"\nrate limiter on: service {limited.process * 1e3:.3f} ms per request against {service.process * 1e3:.3f}"
            f" ms off ({limited.process / service.process:.2f}x; the event loop's thread"
            f" {limited.loop / service.loop:.2f}x)"
        )
    print(
        f"\nCPU per request: bare {bare.process * 1e3:.3f} ms, service {service.process * 1e3:.3f} ms; "
        f"service / bare = {service.process / bare.process:.2f} (all threads of this process, client side included "
        "in both)"
        f"\n  the event loop's thread alone: bare {bare.loop * 1e3:.3f} ms, service {service.loop * 1e3:.3f} ms; "
        f"service / bare = {service.loop / bare.loop:.2f}"
    )
    if profiler:
        stats = pstats.Stats(profiler).sort_stats(args.sort)
        stats.print_stats(args.profile)
        if args.callers:
            stats.print_callers(args.callers)


if __name__ == "__main__":
    main()
