"""A 100,000-place stadium sold out through HTTP with the waiting room in front, on one node.

    python -m bench.stadium_sellout [--sessions 600] [--admit-per-second 400] [--poll 2] [--max-seconds 1200]

The show (``harness.stadium``: 80 blocks of 25 x 40 seats and a 20,000-place standing zone) is created
through the admin API with ``waiting_room: true`` and on sale at once. A crowd of accounts
(``harness.client.bulk_users``) comes ``--sessions`` at a time: each joins the room
(``POST …/queue``), polls its entry every ``--poll`` seconds (jittered) until it is admitted or told
``sold_out``, then holds 1-6 places, best-available in a random block (``{"count", "section"}``) or, one time
in five, in the standing zone, and pays (``POST …/holds/pay``). A size a section refused is not asked of it
again (places only ever leave the sale here); a buyer whose size fits nowhere asks for fewer. A finished
account is replaced by a new one until the show is sold out (or ``--max-seconds``).

Reported: the sale's duration (first hold to last payment), holds/s and payments/s per second (peak and
median), hold latency p50/p99, and the truth in PostgreSQL at the end: every place booked exactly once
(``bookings`` unnested, ``seat_claims``), the standing zone's ``show_zones.taken`` at its capacity. Then the
sold-out show's activation: its host killed, the time the next ``ping`` reports, the host's memory, and the
journal's load alone (``ShowStore.activate``). The admission rate is the room's ``BOOKING_QUEUE_ADMIT_PER_SECOND``
(default 20/s: 100,000 places at 3.5 a buyer would take at least 24 minutes at that pace).
Picture: ``docs/img/stadium-sellout.png``. Uses DATABASE_URL / REDIS_URL when set, else embedded services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import psutil
import psycopg

from bench.harness import ROOT, running_service
from harness.client import bearer, bulk_users
from harness.placement import ShowPlacement
from harness.stadium import Stadium, create_stadium_show
from settings import libpq_url

CARD = {"payment_info": {"card_number": "4242424242424242"}}
PICTURE = ROOT / "docs" / "img" / "stadium-sellout.png"


@dataclass
class Sale:
    """What the crowd saw, in the client's clock (seconds from the start of the crowd)."""

    stadium: Stadium
    standing_share: float
    rng: random.Random
    # Largest block each section may still have (a refused size n proves it has none of n).
    room: dict[str, int] = field(default_factory=dict)
    holds: list[tuple[float, float, int]] = field(default_factory=list)  # (answered at, latency, places)
    refused_holds: list[float] = field(default_factory=list)  # latencies of 409s
    payments: list[tuple[float, float, int]] = field(default_factory=list)
    paid_seats: list[str] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    joined: int = 0
    max_group: int = 6  # a buyer wants 1 to this many places
    started: float = field(default_factory=time.perf_counter)

    def now(self) -> float:
        return time.perf_counter() - self.started

    def sold_out_here(self) -> bool:
        return not any(self.room.values())

    def pick(self, want: int) -> tuple[str, int] | None:
        """A section and a size to ask for: ``want`` if some section may still have it, else the
        largest size any may have; standing one time in ``1 / standing_share``."""
        code = self.stadium.standing_code
        if self.room.get(code, 0) >= want and self.rng.random() < self.standing_share:
            return code, want
        fits = [c for c, n in self.room.items() if n >= want and c != code]
        if fits:
            return self.rng.choice(fits), want
        if self.room.get(code, 0) >= want:
            return code, want
        best = max(self.room.values(), default=0)
        if best == 0:
            return None
        return self.rng.choice([c for c, n in self.room.items() if n == best]), best


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: Any

    def json(self) -> Any:
        return self.body


async def request(client: aiohttp.ClientSession, sale: Sale, method: str, url: str, **kw: Any) -> Answer:
    """One request, retried after a 429/503's ``Retry-After`` or a transport error (counted). The crowd
    speaks aiohttp: on two cores the load generator shares the machine with the service, and httpx cost it
    several times the CPU per request (a crowd of httpx clients was the busiest process of the box)."""
    for _ in range(20):
        try:
            async with client.request(method, url, **kw) as r:
                body = await r.json(content_type=None) if r.status != 204 else None
                status, retry_after = r.status, r.headers.get("Retry-After", "1")
        except (aiohttp.ClientError, TimeoutError) as exc:
            sale.errors[type(exc).__name__] += 1
            await asyncio.sleep(1)
            continue
        if status in (429, 503):
            sale.errors[str(status)] += 1
            await asyncio.sleep(float(retry_after))
            continue
        return Answer(status, body)
    raise RuntimeError(f"{method} {url}: no answer after 20 tries")


async def buyer(client: aiohttp.ClientSession, sale: Sale, show_id: str, token: str, poll: float) -> None:
    headers = bearer(token)
    queue = f"/api/v1/shows/{show_id}/queue"
    r = await request(client, sale, "POST", queue, headers=headers)
    sale.joined += 1
    entry = r.json()
    while entry.get("state") == "waiting":
        await asyncio.sleep(poll * sale.rng.uniform(0.5, 1.5))
        entry = (await request(client, sale, "GET", queue, headers=headers)).json()
    sale.states[entry.get("state", f"http {r.status_code}")] += 1
    if entry.get("state") != "admitted":
        return
    want = sale.rng.randint(1, sale.max_group)
    while (choice := sale.pick(want)) is not None:
        code, want = choice
        t0 = time.perf_counter()
        r = await request(
            client,
            sale,
            "POST",
            f"/api/v1/shows/{show_id}/holds",
            # A key per attempt: a retry after a lost answer replays it instead of asking again.
            headers=headers | {"Idempotency-Key": secrets.token_hex(12)},
            json={"count": want, "section": code},
        )
        latency = time.perf_counter() - t0
        if r.status_code == 201:
            sale.holds.append((sale.now(), latency, want))
            break
        if r.status_code == 409:
            sale.refused_holds.append(latency)
            sale.room[code] = min(sale.room[code], want - 1)
            continue
        sale.errors[f"hold {r.status_code}"] += 1
        return
    else:
        return
    t0 = time.perf_counter()
    paying = headers | {"Idempotency-Key": secrets.token_hex(12)}
    r = await request(client, sale, "POST", f"/api/v1/shows/{show_id}/holds/pay", headers=paying, json=CARD)
    if r.status_code == 200:
        body = r.json()
        seats = body.get("selected_seat") or []
        sale.payments.append((sale.now(), time.perf_counter() - t0, len(seats)))
        sale.paid_seats.extend(seats)
    else:
        sale.errors[f"pay {r.status_code}"] += 1


async def crowd(base_url: str, show_id: str, tokens: list[str], sale: Sale, args: argparse.Namespace) -> None:
    connector = aiohttp.TCPConnector(limit=args.sessions)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base_url=base_url, connector=connector, timeout=timeout) as client:
        running: set[asyncio.Task[None]] = set()
        accounts = iter(tokens)
        deadline = time.monotonic() + args.max_seconds
        last_report = 0.0
        sale.started = time.perf_counter()
        while time.monotonic() < deadline:
            stop = sale.sold_out_here() or sale.states["sold_out"] > 0
            while not stop and len(running) < args.sessions:
                token = next(accounts, None)
                if token is None:
                    stop = True
                    break
                task = asyncio.create_task(buyer(client, sale, show_id, token, args.poll))
                running.add(task)
                task.add_done_callback(running.discard)
            if stop and not running:
                break
            await asyncio.sleep(0.05)
            if sale.now() - last_report >= 5:
                last_report = sale.now()
                recent = sum(n for t, _, n in sale.holds if t > last_report - 5) / 5
                print(
                    f"  {sale.now():6.0f} s: joined {sale.joined:,}, admitted {sale.states['admitted']:,},"
                    f" places held {sum(n for *_, n in sale.holds):,}, booked {len(sale.paid_seats):,},"
                    f" {recent:.0f} places/s held (last 5 s), {len(running)} sessions, errors {dict(sale.errors)}",
                    flush=True,
                )
        for task in list(running):
            task.cancel()


def per_second(events: list[tuple[float, float, int]], start: float, end: float) -> list[int]:
    seconds = [0] * (int(end - start) + 1)
    for t, _, _ in events:
        if start <= t <= end:
            seconds[int(t - start)] += 1
    return seconds


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def truth(database_url: str, show_id: str) -> dict[str, Any]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        sold = conn.execute(
            "SELECT count(*), count(DISTINCT s) FROM bookings, unnest(seat_ids) s "
            "WHERE show_id = %s AND status = 'confirmed'",
            (show_id,),
        ).fetchone()
        claims = conn.execute(
            "SELECT count(*) FILTER (WHERE booking_id IS NOT NULL), count(*) FILTER (WHERE hold_id IS NOT NULL), "
            "count(DISTINCT seat_id) FROM seat_claims WHERE show_id = %s",
            (show_id,),
        ).fetchone()
        zones = conn.execute("SELECT zone, capacity, taken FROM show_zones WHERE show_id = %s", (show_id,)).fetchall()
        bookings = conn.execute(
            "SELECT count(*) FROM bookings WHERE show_id = %s AND status = 'confirmed'", (show_id,)
        ).fetchone()
    assert sold is not None
    assert claims is not None
    assert bookings is not None
    return {
        "booked_places": sold[0],
        "distinct_booked_places": sold[1],
        "bookings": bookings[0],
        "claims_booked": claims[0],
        "claims_held": claims[1],
        "claims_distinct": claims[2],
        "zones": [{"zone": z, "capacity": c, "taken": t} for z, c, t in zones],
    }


def reactivation(rig: Any, show_id: str) -> dict[str, Any]:
    """Kill the sold-out show's actor, then time the activation the next ping does, and the journal's
    load on its own."""
    from persistence.show_store import ShowStore

    placement = ShowPlacement.from_env(rig.env, rig.namespace)
    before = placement.wait_ping(show_id, timeout=120)
    placement.kill(show_id)
    t0 = time.perf_counter()
    info = placement.wait_ping(show_id, timeout=300, not_pid=before["pid"])
    wall = time.perf_counter() - t0
    uss = psutil.Process(info["pid"]).memory_full_info().uss / 2**20

    async def load() -> tuple[float, int]:
        store = ShowStore(rig.database_url, 60)
        try:
            t = time.perf_counter()
            stored = await store.activate(show_id)
            return time.perf_counter() - t, len(stored.bookings)
        finally:
            await store.close()

    load_s, bookings = asyncio.run(load())
    return {
        "activation_seconds": info["activation_seconds"],
        "ping_wall_seconds": wall,
        "actor": placement.actor_name(show_id),
        "uss_mib": uss,
        "journal_load_seconds": load_s,
        "bookings_loaded": bookings,
        "counts": info["counts"],
    }


def picture(holds_s: list[int], pays_s: list[int], places_s: list[int], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(range(len(holds_s)), holds_s, label="holds/s", lw=1.2)
    ax.plot(range(len(pays_s)), pays_s, label="payments/s", lw=1.0, alpha=0.8)
    ax.plot(range(len(places_s)), places_s, label="places held/s", lw=0.8, alpha=0.6)
    ax.set_xlabel("seconds from the first hold")
    ax.set_ylabel("per second")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    PICTURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PICTURE, dpi=110)
    print(f"picture: {PICTURE.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=600, help="accounts in the crowd at once")
    parser.add_argument("--admit-per-second", type=float, default=400.0, help="BOOKING_QUEUE_ADMIT_PER_SECOND")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between a waiting account's polls")
    parser.add_argument("--standing-share", type=float, default=0.2)
    parser.add_argument("--accounts", type=int, default=40_000)
    parser.add_argument("--max-seconds", type=float, default=1200.0)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--no-picture", action="store_true")
    parser.add_argument("--blocks", type=int, default=80, help="a smaller venue for a smoke run")
    parser.add_argument("--standing", type=int, default=20_000)
    parser.add_argument("--max-group", type=int, default=6, help="a buyer wants 1 to this many places (<= 10)")
    args = parser.parse_args()
    stadium = Stadium(blocks=args.blocks, standing=args.standing)
    env = {"BOOKING_QUEUE_ADMIT_PER_SECOND": str(args.admit_per_second)}
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with running_service("bench-stadium", env) as rig:
        with httpx.Client(base_url=rig.base_url, timeout=300) as client:
            t0 = time.perf_counter()
            show = create_stadium_show(client, stadium, waiting_room=True)
            print(f"stadium show {show.show_id}: {len(show.seats):,} places, made in {time.perf_counter() - t0:.1f} s")
        print(f"making {args.accounts:,} accounts ...", flush=True)
        tokens = [t for _, t in bulk_users(rig.database_url, args.accounts)]
        sale = Sale(stadium, args.standing_share, random.Random(args.seed), max_group=args.max_group)
        sale.room = {code: args.max_group for code in stadium.block_codes()} | {stadium.standing_code: args.max_group}
        print(f"crowd: {args.sessions} accounts at a time, admitted at most {args.admit_per_second:g}/s", flush=True)
        asyncio.run(crowd(rig.base_url, show.show_id, tokens, sale, args))
        print("reading PostgreSQL ...", flush=True)
        checked = truth(rig.database_url, show.show_id)
        print("re-activating the sold-out show ...", flush=True)
        react = reactivation(rig, show.show_id)

    holds, pays = sale.holds, sale.payments
    start = min(t for t, *_ in holds) if holds else 0.0
    end = max(t for t, *_ in pays) if pays else 0.0
    holds_s, pays_s = per_second(holds, start, end), per_second(pays, start, end)
    places_s = [0] * len(holds_s)
    for t, _, n in holds:
        if start <= t <= end:
            places_s[int(t - start)] += n
    latencies = [lat for _, lat, _ in holds]
    paid = len(sale.paid_seats)
    result = {
        "duration_s": end - start,
        "holds": len(holds),
        "refused_holds": len(sale.refused_holds),
        "payments": len(pays),
        "places_paid": paid,
        "paid_distinct": len(set(sale.paid_seats)),
        "holds_per_s": {"peak": max(holds_s, default=0), "median": statistics.median(holds_s) if holds_s else 0},
        "payments_per_s": {"peak": max(pays_s, default=0), "median": statistics.median(pays_s) if pays_s else 0},
        "places_per_s": {"peak": max(places_s, default=0), "median": statistics.median(places_s) if places_s else 0},
        "hold_ms": {"p50": pct(latencies, 0.5) * 1000, "p99": pct(latencies, 0.99) * 1000},
        "refused_hold_ms": {"p50": pct(sale.refused_holds, 0.5) * 1000, "p99": pct(sale.refused_holds, 0.99) * 1000},
        "pay_ms": {"p50": pct([x for _, x, _ in pays], 0.5) * 1000, "p99": pct([x for _, x, _ in pays], 0.99) * 1000},
        "joined": sale.joined,
        "states": dict(sale.states),
        "errors": dict(sale.errors),
        "postgres": checked,
        "reactivation": react,
        "sessions": args.sessions,
        "admit_per_second": args.admit_per_second,
        "per_second": {"holds": holds_s, "payments": pays_s, "places": places_s},
    }
    print(f"\nsell-out of {stadium.capacity:,} places through HTTP, waiting room in front, one node")
    print(f"duration (first hold to last payment): {result['duration_s']:.0f} s; {sale.joined:,} accounts joined")
    for what in ("holds_per_s", "payments_per_s", "places_per_s"):
        print(f"{what:<16} peak {result[what]['peak']:>6,}   median {result[what]['median']:>8,.0f}")
    print(
        f"hold latency p50 {result['hold_ms']['p50']:.0f} ms, p99 {result['hold_ms']['p99']:.0f} ms;"
        f" refused holds {len(sale.refused_holds):,} (p50 {result['refused_hold_ms']['p50']:.0f} ms);"
        f" pay p50 {result['pay_ms']['p50']:.0f} ms, p99 {result['pay_ms']['p99']:.0f} ms"
    )
    print(f"entries' last states: {dict(sale.states)}; errors {dict(sale.errors)}")
    print(f"paid places seen by the crowd: {paid:,} ({len(set(sale.paid_seats)):,} distinct)")
    print(
        f"PostgreSQL: {checked['booked_places']:,} places in {checked['bookings']:,} bookings,"
        f" {checked['distinct_booked_places']:,} distinct; seat_claims booked {checked['claims_booked']:,},"
        f" held {checked['claims_held']:,}; zones {checked['zones']}"
    )
    ok = (
        checked["booked_places"] == checked["distinct_booked_places"] == stadium.capacity
        and all(z["taken"] == z["capacity"] for z in checked["zones"])
        and paid == len(set(sale.paid_seats)) == stadium.capacity
    )
    print(f"sold out, each place once: {'yes' if ok else 'NO'}")
    print(
        f"sold-out show re-activated in {react['activation_seconds']:.2f} s (ping after the kill:"
        f" {react['ping_wall_seconds']:.1f} s; journal load alone {react['journal_load_seconds']:.2f} s for"
        f" {react['bookings_loaded']:,} bookings); {react['actor']} USS {react['uss_mib']:.0f} MiB"
    )
    if not args.no_picture and holds_s:
        picture(
            holds_s,
            pays_s,
            places_s,
            f"Stadium on-sale through HTTP with the waiting room, one node (2 cores):\n{checked['booked_places']:,}"
            f" of {stadium.capacity:,} places booked in {result['duration_s']:.0f} s"
            + ("" if ok else f" (stopped at --max-seconds {args.max_seconds:g})"),
        )
    print(json.dumps(result))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
