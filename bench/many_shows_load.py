"""The load generator of ``bench.many_shows``: customers over many shows, from a process of its own.

    python -m bench.many_shows_load SPEC.json OUT.json

It runs apart from the benchmark's process (which owns the service, samples Ray, memory and PostgreSQL),
so the sampling never slows the load and the load never delays a sample. ``--concurrency`` customers loop
until the deadline, each with httpx's async client on one connection pool:

1. pick a show by a Zipf distribution over the shows (rank ``k`` has weight ``1 / k**s``; ranks are
   shuffled over the shows, so the hot ones are not simply the first created);
2. take 1 or 2 of that show's seats that no request of this run has asked for yet (seats are handed out
   here, in one event loop, so requests never race each other for a seat; a show whose seats are all
   handed out is sold out and the draw is repeated);
3. hold them (``POST /HoldSeat/api/v0/{movie}``) as one of the customer's own users (each user belongs to
   one customer, so a user never has two requests in flight), and pay for about ``pay_ratio`` of the holds
   (``POST /SubmitPayment/api/v0/{show}`` with the simulated gateway's success card). A user is chosen
   with no unpaid hold on that show, so a payment pays for that hold alone.

Every request carries an ``Idempotency-Key``. A 503 is retried after its ``Retry-After`` with the same key
(so a retry after a timeout whose outcome was unknown neither holds twice nor charges twice), up to
``max_retry_seconds`` of waiting; a request that then succeeds is a "503 then success", one that never
does is a failure. A 409 is counted (it should not happen: no two requests ask for the same seat); a 409
to a retry after a 503 is a failure: the retry lost its seats to its own first attempt, so the caller
holds seats it was told it does not have. Any other answer, a timeout or a broken connection is a
failure.

Every second a JSON line goes to stdout with what completed in that second (counts and hold latency
percentiles); at the end OUT gets the totals, HdrHistograms (encoded) and every granted seat for the
audit. Latency of a hold is per request sent (a retry is a request; its Retry-After wait is not in it), so
a cold activation is just a slow request; ``hold_e2e`` is from the first attempt to the final answer.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hdrh.histogram import HdrHistogram

SUCCESS_CARD = "4242424242424242"


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, 600_000_000, 3)  # microseconds, 1 µs .. 10 min, 3 significant digits


@dataclass
class Show:
    show_id: str
    movie_id: str
    theater_id: str
    free: list[str]  # seats no request has asked for yet, in a random order


@dataclass
class Second:
    """What completed in one second of the run."""

    holds: int = 0
    hold_requests: int = 0
    payments: int = 0
    conflicts: int = 0
    unavailable: int = 0  # 503 answers (each retried)
    failures: int = 0
    latency_us: list[int] = field(default_factory=list)


@dataclass
class Totals:
    holds: int = 0
    seats_held: int = 0
    payments: int = 0
    seats_paid: int = 0
    conflicts: int = 0
    conflicts_after_503: int = 0
    answers_503: int = 0
    succeeded_after_503: int = 0
    failures: int = 0
    sold_out_redraws: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failure_examples: list[str] = field(default_factory=list)


class Zipf:
    """Draws indexes 0..n-1 with P(rank k) proportional to 1 / k**s; ``order`` maps ranks to indexes."""

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        total = 0.0
        self.cdf: list[float] = []
        for k in range(1, n + 1):
            total += 1.0 / k**s
            self.cdf.append(total)
        self.total = total
        self.order = list(range(n))
        rng.shuffle(self.order)
        self.rng = rng

    def draw(self) -> int:
        rank = bisect.bisect_left(self.cdf, self.rng.random() * self.total)
        return self.order[min(rank, len(self.order) - 1)]

    def share(self, top: int) -> float:
        """The share of draws that go to the ``top`` hottest shows."""
        return self.cdf[min(top, len(self.cdf)) - 1] / self.total


class Load:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.rng = random.Random(spec.get("seed", 1))
        self.shows = [Show(s["show_id"], s["movie_id"], s["theater_id"], list(s["seats"])) for s in spec["shows"]]
        for show in self.shows:
            self.rng.shuffle(show.free)
        self.zipf = Zipf(len(self.shows), float(spec["zipf"]), self.rng)
        self.t0 = float(spec["t0"])
        self.deadline = self.t0 + float(spec["seconds"])
        self.pay_ratio = float(spec["pay_ratio"])
        self.max_retry_seconds = float(spec["max_retry_seconds"])
        self.seconds: dict[int, Second] = {}
        self.totals = Totals()
        self.granted: list[str] = []
        self.hold_hist, self.hold_e2e_hist, self.pay_hist = new_histogram(), new_histogram(), new_histogram()
        self.sold_out = 0
        self.reported = -1  # the last second written to stdout

    def second(self) -> Second:
        return self.seconds.setdefault(int(time.time() - self.t0), Second())

    def fail(self, what: str) -> None:
        self.totals.failures += 1
        self.second().failures += 1
        if len(self.totals.failure_examples) < 20:
            self.totals.failure_examples.append(what[:300])

    def pick(self) -> tuple[Show, list[str]] | None:
        """A show by Zipf and 1-2 of its seats nobody asked for yet; None when every show is sold out."""
        while self.sold_out < len(self.shows):
            show = self.shows[self.zipf.draw()]
            if not show.free:
                self.totals.sold_out_redraws += 1
                continue
            want = self.rng.choice((1, 2))
            seats = [show.free.pop() for _ in range(min(want, len(show.free)))]
            if not show.free:
                self.sold_out += 1
            return show, seats
        return None

    async def send(
        self, client: httpx.AsyncClient, kind: str, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[httpx.Response | None, bool]:
        """POST with 503 retries (same Idempotency-Key); the final answer (None after a failure) and
        whether a 503 came before it."""
        headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        first = time.perf_counter()
        waited = 0.0
        saw_503 = False
        while True:
            sent = time.perf_counter()
            try:
                response = await client.post(path, headers=headers, json=body)
            except httpx.HTTPError as error:
                self.fail(f"{kind}: {type(error).__name__}: {error}")
                return None, saw_503
            elapsed_us = max(int((time.perf_counter() - sent) * 1e6), 1)
            self.totals.statuses[f"{kind} {response.status_code}"] += 1
            if kind == "hold":
                self.hold_hist.record_value(elapsed_us)
                bucket = self.second()
                bucket.hold_requests += 1
                bucket.latency_us.append(elapsed_us)
            else:
                self.pay_hist.record_value(elapsed_us)
            if response.status_code != 503:
                if kind == "hold":
                    self.hold_e2e_hist.record_value(max(int((time.perf_counter() - first) * 1e6), 1))
                if saw_503 and response.status_code == 200:
                    self.totals.succeeded_after_503 += 1
                return response, saw_503
            saw_503 = True
            self.totals.answers_503 += 1
            self.second().unavailable += 1
            try:
                pause = float(response.headers.get("Retry-After", "1"))
            except ValueError:
                pause = 1.0
            if waited + pause > self.max_retry_seconds:
                self.fail(f"{kind}: still 503 after {waited:.0f}s of retries: {response.text}")
                return None, saw_503
            waited += pause
            await asyncio.sleep(pause)

    async def customer(self, client: httpx.AsyncClient, tokens: list[str]) -> None:
        unpaid: dict[str, set[str]] = {t: set() for t in tokens}  # user -> shows with an unpaid hold
        while time.time() < self.deadline:
            picked = self.pick()
            if picked is None:
                return
            show, seats = picked
            user = next((t for t in tokens if show.show_id not in unpaid[t]), None) or self.rng.choice(tokens)
            auth = {"AuthorizationToken": user}
            body = {
                "movie_id": show.movie_id,
                "theater_id": show.theater_id,
                "event_id": show.show_id,
                "selected_seat": seats,
            }
            held, retried = await self.send(client, "hold", f"/HoldSeat/api/v0/{show.movie_id}", auth, body)
            if held is None:
                continue
            if held.status_code == 409 and retried:
                # Nobody else asks for these seats: the retry lost them to its own first attempt, which
                # held them after its 503. The caller holds seats it was told it does not: a failure.
                self.totals.conflicts_after_503 += 1
                self.fail(f"hold: 409 on a retry after 503 (same Idempotency-Key): {held.text}")
                continue
            if held.status_code == 409:
                self.totals.conflicts += 1
                self.second().conflicts += 1
                continue
            if held.status_code != 200:
                self.fail(f"hold: {held.status_code} {held.text}")
                continue
            granted = held.json()["selected_seat"]
            self.granted.extend(f"{show.show_id}|{seat}" for seat in granted)
            self.totals.holds += 1
            self.totals.seats_held += len(granted)
            self.second().holds += 1
            unpaid[user].add(show.show_id)
            if self.rng.random() >= self.pay_ratio:
                continue
            pay = {"event_id": show.show_id, "paymentInfo": {"card_number": SUCCESS_CARD}}
            paid, _ = await self.send(client, "pay", f"/SubmitPayment/api/v0/{show.show_id}", auth, pay)
            if paid is None:
                continue
            if paid.status_code != 200:
                self.fail(f"pay: {paid.status_code} {paid.text}")
                continue
            unpaid[user].discard(show.show_id)
            self.totals.payments += 1
            self.totals.seats_paid += len(paid.json()["selected_seat"])
            self.second().payments += 1

    async def report(self) -> None:
        """Every second, one JSON line with the second that just ended."""
        while True:
            self.write_seconds(int(time.time() - self.t0))
            await asyncio.sleep(1.0 - (time.time() - self.t0) % 1.0 + 0.01)

    def write_seconds(self, until: int) -> None:
        """Write the seconds before ``until`` that are not written yet."""
        for k in range(self.reported + 1, until):
            print(json.dumps({"second": k, **summary_of(self.seconds.get(k, Second()))}), flush=True)
            self.reported = k

    async def run(self) -> dict[str, Any]:
        tokens: list[str] = self.spec["tokens"]
        concurrency = int(self.spec["concurrency"])
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        timeout = httpx.Timeout(float(self.spec["request_timeout"]))
        async with httpx.AsyncClient(base_url=self.spec["base_url"], limits=limits, timeout=timeout) as client:
            await asyncio.sleep(max(self.t0 - time.time(), 0))
            reporter = asyncio.create_task(self.report())
            mine = [tokens[i::concurrency] for i in range(concurrency)]
            await asyncio.gather(*(self.customer(client, t) for t in mine if t))
            reporter.cancel()
        self.write_seconds(max(self.seconds, default=-1) + 1)
        t = self.totals
        return {
            "ended": time.time(),
            "totals": {**{k: v for k, v in vars(t).items() if k != "statuses"}, "statuses": dict(t.statuses)},
            "sold_out_shows": self.sold_out,
            "hot_share": {str(n): self.zipf.share(n) for n in (1, 10, 100) if n <= len(self.shows)},
            "histograms": {
                "hold": self.hold_hist.encode().decode(),
                "hold_e2e": self.hold_e2e_hist.encode().decode(),
                "pay": self.pay_hist.encode().decode(),
            },
            "granted": self.granted,
        }


def summary_of(second: Second) -> dict[str, Any]:
    lat = sorted(second.latency_us)

    def pct(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(len(lat) * p))] / 1000 if lat else None

    return {
        "holds": second.holds,
        "hold_requests": second.hold_requests,
        "payments": second.payments,
        "conflicts": second.conflicts,
        "unavailable": second.unavailable,
        "failures": second.failures,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop

        result = uvloop.run(Load(spec).run())
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        result = asyncio.run(Load(spec).run())
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
