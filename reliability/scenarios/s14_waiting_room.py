"""Scenario 14: an on-sale through a waiting room, with many more entrants than seats, while the show's
actor is killed every few seconds and Redis is restarted.

What it promises (``docs/waiting-room.md``): admission follows the queue number strictly; nobody is
admitted after the show sells out, and every waiting entry then reads ``sold_out`` within 5 s; a place,
once acknowledged, keeps its entry and its number whatever crashes (the queue's truth is PostgreSQL, so a
Redis restart costs it nothing); no seat is sold twice; the pre-queue's order is the revealed seed's.

How: entrants join before sales open (the pre-queue) and a few after; each then polls its entry and, once
admitted, holds two seats (the ones it wanted, or two the seat map shows free when those are gone) and
pays, retrying 503s and lost answers with its keys. Meanwhile the show's actor is killed every
``kill_every`` seconds and the env's own Redis is stopped for a few seconds and started again.

Figures: admissions out of order, admissions after sell-out, places lost or renumbered, seats sold twice,
entries still waiting at the end, the order against the seed (the public verifier's checks), holds
granted to accounts that were not admitted; the sell-out moment and how long the last waiter took to see
it.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from harness.client import admin_headers, create_show
from reliability import faults
from reliability.env import Env
from reliability.faults import Calls, Purchase
from reliability.figures import Figure, at_least, at_most, informational, zero
from settings import libpq_url
from waiting_room import verify


@dataclass(frozen=True)
class Size:
    seats: int
    entrants: int  # before the opening
    late: int  # after it
    kill_every: float


SHORT = Size(seats=40, entrants=70, late=10, kill_every=3.0)
FULL = Size(seats=400, entrants=1500, late=300, kill_every=3.0)
OPENS_IN_SECONDS = 6.0
WINDOW_SECONDS = 30
HOLD_TTL_SECONDS = 20
SOLD_OUT_SEEN_BOUND_SECONDS = 5.0


@dataclass
class Entrant:
    user_id: str
    token: str
    entry_id: str | None = None
    number: int | None = None  # as the service told it
    states: list[str] = field(default_factory=list)
    purchase: Purchase | None = None
    renumbered: bool = False
    sold_out_seen: float | None = None  # time.time() when it first read sold_out
    early_hold: int | None = None  # status of a hold tried before being admitted

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class WaitingRoomOnSale:
    number = 14
    title = "Waiting-room on-sale under actor kills and a Redis restart"
    own_redis = True

    def run(self, env: Env, full: bool) -> list[Figure]:
        size = FULL if full else SHORT
        n = self.number
        # A short admission window and hold: a buyer who gives up mid-way frees its share soon.
        service = env.start_service(
            {"BOOKING_QUEUE_ADMIT_PER_SECOND": "50", "BOOKING_QUEUE_ADMISSION_WINDOW_SECONDS": str(WINDOW_SECONDS)}
        )
        assert env.redis is not None
        rows = [{"row": chr(ord("A") + i), "seats": 20, "category": "standard"} for i in range(size.seats // 20)]
        with httpx.Client(base_url=service.base_url, timeout=60) as client:
            show = create_show(
                client,
                rows=rows,
                prices={"standard": 100.0},
                sales_open_at=datetime.now(UTC) + timedelta(seconds=OPENS_IN_SECONDS),
                hold_ttl_seconds=HOLD_TTL_SECONDS,
                waiting_room=True,
            )
            admin = admin_headers(client)
            opens = datetime.fromisoformat(
                client.get(f"/api/v1/shows/{show.show_id}/queue/fairness").json()["opens_at"]
            )
        people = [Entrant(u, t) for u, t in faults.users(env, size.entrants + size.late)]
        calls = Calls()
        kills: list[float] = []
        rng = random.Random(14)
        env.log(f"{len(people)} entrants for {size.seats} seats, a kill every {size.kill_every:.0f} s")

        async def call(client: httpx.AsyncClient, person: Entrant, method: str, url: str, **kw: Any) -> Any:
            for _ in range(60):
                r = await faults.call(client, calls, "queue", method, url, headers=person.headers, **kw)
                if r is not None and r.status_code == 200:
                    return r.json()
                await asyncio.sleep(0.5)
            return None

        async def take_place(client: httpx.AsyncClient, person: Entrant) -> None:
            body = await call(client, person, "POST", f"/api/v1/shows/{show.show_id}/queue")
            if body is not None:
                person.entry_id = body["entry_id"]

        async def free_seats(client: httpx.AsyncClient) -> list[str]:
            r = await faults.call(client, calls, "seats", "GET", f"/api/v1/shows/{show.show_id}/seats")
            if r is None or r.status_code != 200:
                return []
            return [s["id"] for s in r.json()["seats"] if s["status"] == "available"]

        async def wait_and_buy(client: httpx.AsyncClient, person: Entrant) -> None:
            deadline = time.monotonic() + (600 if full else 180)
            tried_early = False
            while time.monotonic() < deadline:
                body = await call(client, person, "GET", f"/api/v1/shows/{show.show_id}/queue")
                if body is None:
                    return
                if body["number"] is not None:
                    if person.number is not None and body["number"] != person.number:
                        person.renumbered = True
                    person.number = body["number"]
                if body["entry_id"] != person.entry_id:
                    person.renumbered = True
                person.states.append(body["state"])
                if body["state"] == "waiting" and body["number"] is not None and not tried_early:
                    tried_early = True  # a hold before admission: must be refused, and nothing held
                    r = await faults.call(
                        client,
                        calls,
                        "early",
                        "POST",
                        f"/api/v1/shows/{show.show_id}/holds",
                        json={"seats": [show.seats[0]]},
                        headers=person.headers,
                    )
                    person.early_hold = None if r is None else r.status_code
                if body["state"] == "sold_out":
                    person.sold_out_seen = time.time()
                    return
                if body["state"] == "closed":
                    return
                if body["state"] == "admitted":
                    for _ in range(4):
                        free = await free_seats(client)
                        if len(free) < 2:
                            break
                        pick = rng.sample(free[: 2 * 2 + 6], 2)
                        person.purchase = await faults.purchase(
                            client, calls, show.show_id, Purchase(person.user_id, person.token, pick), give_up_after=90
                        )
                        if person.purchase.outcome in ("booked", "declined"):
                            return
                    return
                await asyncio.sleep(0.5)

        async def killer(done: asyncio.Event) -> None:
            await asyncio.sleep(OPENS_IN_SECONDS + 1)
            restarted = False
            while not done.is_set():
                try:
                    await asyncio.to_thread(faults.kill_actor, env, show.show_id)
                    kills.append(time.time())
                except Exception as exc:  # no actor yet (nobody held): nothing to kill this time
                    env.log(f"kill skipped: {exc!r}")
                if not restarted and len(kills) >= 2:
                    restarted = True
                    env.log("stopping Redis for 3 s")
                    await asyncio.to_thread(env.redis.stop)  # type: ignore[union-attr]
                    await asyncio.sleep(3)
                    await asyncio.to_thread(env.redis.start)  # type: ignore[union-attr]
                await asyncio.sleep(size.kill_every)

        async def main() -> None:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(base_url=service.base_url, timeout=30, limits=limits) as client:
                await asyncio.gather(*(take_place(client, p) for p in people[: size.entrants]))
                await asyncio.sleep(max(0.0, (opens - datetime.now(UTC)).total_seconds()) + 0.2)
                for p in people[size.entrants :]:
                    await take_place(client, p)
                done = asyncio.Event()
                kill_task = asyncio.create_task(killer(done))
                semaphore = asyncio.Semaphore(48)

                async def one(p: Entrant) -> None:
                    async with semaphore:
                        await wait_and_buy(client, p)

                await asyncio.gather(*(one(p) for p in people))
                done.set()
                await kill_task
                # Everyone reads their entry once more after everything: the place must be unchanged.
                for p in people:
                    body = await call(client, p, "GET", f"/api/v1/shows/{show.show_id}/queue")
                    if body is None or body["entry_id"] != p.entry_id or (p.number and body["number"] != p.number):
                        p.renumbered = True

        asyncio.run(main())
        record, published = verify.fetch(service.base_url, show.show_id, progress=False)
        verdict = verify.check(record, published)
        with httpx.Client(base_url=service.base_url, timeout=30) as client:
            room = client.get(f"/api/v1/admin/shows/{show.show_id}/queue", headers=admin).json()
        audit = _audit(env.database_url, show.show_id)
        sold_out_at = room["sold_out_at"]
        seen_lags = [
            p.sold_out_seen - datetime.fromisoformat(sold_out_at).timestamp()
            for p in people
            if p.sold_out_seen is not None and sold_out_at
        ]
        booked = sum(1 for p in people if p.purchase is not None and p.purchase.outcome == "booked")
        statuses = calls.statuses()
        env.log(f"kills {len(kills)}, booked {booked}, room {room}, statuses {statuses}")
        return [
            zero(n, "admissions out of queue order", audit["out_of_order"]),
            zero(n, "admissions after sell-out", audit["after_sold_out"]),
            zero(n, "places lost or renumbered", sum(p.renumbered or p.entry_id is None for p in people)),
            zero(n, "entries acknowledged but not in PostgreSQL", sum(p.entry_id not in audit["ids"] for p in people)),
            zero(n, "seats sold twice", faults.duplicate_bookings(env.database_url, show.show_id)),
            zero(n, "entries still waiting at the end", audit["waiting"]),
            zero(n, "holds granted before admission", sum(p.early_hold in (200, 201) for p in people)),
            zero(n, "pre-queue order checks failed (the public verifier)", sum(not ok for _, ok, _ in verdict.checks)),
            at_least(n, "actor kills during the on-sale", len(kills), 2),
            at_least(n, "seats booked (of the show's)", audit["booked_seats"], size.seats),
            at_most(
                n,
                "last waiter's delay in reading sold_out (s)",
                round(max(seen_lags, default=0.0), 2),
                SOLD_OUT_SEEN_BOUND_SECONDS,
            ),
            informational(n, "entrants / admitted / booked", f"{len(people)} / {room['admitted']} / {booked}"),
            informational(n, "answers by status", " ".join(f"{s}:{c}" for s, c in statuses.items())),
        ]


def _audit(database_url: str, show_id: str) -> dict[str, Any]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        out_of_order = conn.execute(
            "SELECT count(*) FROM queue_entries a WHERE a.show_id = %s AND a.admitted_at IS NOT NULL AND EXISTS ("
            " SELECT 1 FROM queue_entries b WHERE b.show_id = a.show_id AND b.number < a.number"
            " AND (b.admitted_at IS NULL OR b.admitted_at > a.admitted_at))",
            (show_id,),
        ).fetchone()
        after = conn.execute(
            "SELECT count(*) FROM queue_entries q JOIN waiting_rooms r USING (show_id) "
            "WHERE q.show_id = %s AND q.admitted_at > r.sold_out_at",
            (show_id,),
        ).fetchone()
        waiting = conn.execute(
            "SELECT count(*) FROM queue_entries q JOIN waiting_rooms r USING (show_id) WHERE q.show_id = %s "
            "AND q.admitted_at IS NULL AND r.sold_out_at IS NULL AND r.closed_at IS NULL",
            (show_id,),
        ).fetchone()
        booked = conn.execute(
            "SELECT count(*) FROM seat_claims WHERE show_id = %s AND booking_id IS NOT NULL", (show_id,)
        ).fetchone()
        ids = {r[0] for r in conn.execute("SELECT id FROM queue_entries WHERE show_id = %s", (show_id,))}
    return {
        "out_of_order": int(out_of_order[0]) if out_of_order else -1,
        "after_sold_out": int(after[0]) if after else -1,
        "waiting": int(waiting[0]) if waiting else -1,
        "booked_seats": int(booked[0]) if booked else 0,
        "ids": ids,
    }


SCENARIO = WaitingRoomOnSale()
