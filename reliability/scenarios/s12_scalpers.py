"""Scenario 12: scalpers — one account from many addresses, many accounts from one address.

How the service identifies a client (read from ``api/rate_limit.py`` and ``api/blocklist.py``): both use
the ASGI scope's client address, which uvicorn rewrites from ``X-Forwarded-For`` only when the
connection comes from an address in ``FORWARDED_ALLOW_IPS`` (uvicorn's default: ``127.0.0.1``, a proxy on
the same host). Accounts are identified by their token. So the attacks use both ways of changing
address: real distinct source addresses (127.0.0.x, all on the loopback interface) and forged
``X-Forwarded-For`` headers, both from the trusted 127.0.0.1 (which the service is configured to believe)
and from an untrusted address (which it must ignore).

- One scalper account spreads ~2.5× its per-minute budget of hold requests over 20 addresses: the
  per-account rate limit and the per-account seat cap (``BOOKING_MAX_SEATS_PER_USER``) must hold however
  many addresses it uses.
- Thirty scalper accounts share one untrusted address (forging a different ``X-Forwarded-For`` on each
  request): the per-address rate limit must count them as one client, and each account's seat cap holds.
- Meanwhile ordinary buyers, each from its own address and account, hold two seats nobody else asks for
  and pay. Their success rate is the collateral damage of the attack and of its defences.

The figures are counted from the answers and from PostgreSQL (seats held or booked per account).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from dataclasses import dataclass

import httpx
import psycopg

from harness.client import bulk_users, create_show
from reliability.env import Env
from reliability.figures import Figure, at_least, informational, zero
from settings import libpq_url

RATE = 60  # requests a minute per address and per account
CAP = 4  # seats per account per show
CARD = "4242424242424242"
SCALPER_ROWS = ("A", "B", "C")
BUYER_ROWS = ("D", "E")
BUYER_SUCCESS_BOUND = 0.95


@dataclass
class Answers:
    statuses: Counter[int]

    @property
    def admitted(self) -> int:
        """Requests the rate limiter let through (anything but 429)."""
        return sum(c for s, c in self.statuses.items() if s != 429)


def transport(source: str) -> httpx.AsyncHTTPTransport:
    return httpx.AsyncHTTPTransport(local_address=source)


async def hold_requests(
    base_url: str,
    show_id: str,
    plan: list[tuple[str, str, dict[str, str]]],
    seats: list[str],
    seed: int,
) -> Answers:
    """Send one hold request per (source address, token, extra headers), all at once; 2 random seats each."""
    rng = random.Random(seed)
    statuses: Counter[int] = Counter()
    clients: dict[str, httpx.AsyncClient] = {}
    try:
        for source, _, _ in plan:
            if source not in clients:
                clients[source] = httpx.AsyncClient(base_url=base_url, timeout=60, transport=transport(source))

        async def one(source: str, token: str, extra: dict[str, str]) -> None:
            response = await clients[source].post(
                f"/api/v1/shows/{show_id}/holds",
                headers={"Authorization": f"Bearer {token}", **extra},
                json={"seats": rng.sample(seats, 2)},
            )
            statuses[response.status_code] += 1

        await asyncio.gather(*(one(s, t, h) for s, t, h in plan))
    finally:
        for client in clients.values():
            await client.aclose()
    return Answers(statuses)


async def ordinary_buyers(base_url: str, show_id: str, buyers: list[tuple[str, str, list[str]]]) -> int:
    """Each buyer (own address, own account, own two seats) holds and pays; how many got a booking."""

    async def one(source: str, token: str, seats: list[str]) -> bool:
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, timeout=60, transport=transport(source)) as client:
            held = await client.post(f"/api/v1/shows/{show_id}/holds", headers=auth, json={"seats": seats})
            if held.status_code != 201:
                return False
            paid = await client.post(
                f"/api/v1/shows/{show_id}/holds/pay", headers=auth, json={"payment_info": {"card_number": CARD}}
            )
            return paid.status_code == 200

    results = await asyncio.gather(*(one(*b) for b in buyers))
    return sum(results)


def seats_beyond_cap(database_url: str, show_id: str, users: set[str]) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT user_id, count(*) FROM seat_claims WHERE show_id = %s GROUP BY user_id", (show_id,)
        ).fetchall()
    return sum(max(0, n - CAP) for user, n in rows if user in users)


async def forwarded_for_trusted(base_url: str, source: str) -> bool:
    """Does the service take ``X-Forwarded-For`` from ``source`` as the client's address? Sends more than
    the per-address budget of anonymous catalog reads, each with another forged address: no 429 means
    each request was counted against the forged address. More than twice the budget: while Redis is slow
    the limiter counts in-process for a while (api/rate_limit.py), so an address's requests may be split
    over two counters, the design's bound being both budgets; fewer requests let one such switch in the
    middle of the probe pass for a believed header (seen once in a full run, 2026-12-05)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30, transport=transport(source)) as client:
        statuses = Counter(
            [
                (
                    await client.get("/api/v1/movies", headers={"X-Forwarded-For": f"198.51.100.{i % 250 + 1}"})
                ).status_code
                for i in range(2 * RATE + 10)
            ]
        )
    return statuses[429] == 0


async def attack(
    base_url: str,
    show_id: str,
    seats: list[str],
    one_account: list[tuple[str, str, dict[str, str]]],
    one_address: list[tuple[str, str, dict[str, str]]],
    buyers: list[tuple[str, str, list[str]]],
    seed: int,
) -> tuple[Answers, Answers, int]:
    """Both attacks and the ordinary buyers, all at once."""
    lone, crowd, ok = await asyncio.gather(
        hold_requests(base_url, show_id, one_account, seats, seed=seed),
        hold_requests(base_url, show_id, one_address, seats, seed=100 + seed),
        ordinary_buyers(base_url, show_id, buyers),
    )
    return lone, crowd, ok


def limiter_fallbacks(log: str) -> int:
    """How often the service's limiter fell back from Redis to in-process counting (its log says so)."""
    return log.count("rate limiter falls back")


class Scalpers:
    number = 12
    title = "scalpers: one account many IPs, many accounts one IP"

    def run(self, env: Env, full: bool) -> list[Figure]:
        n = self.number
        service = env.start_service(
            {
                "BOOKING_RATE_LIMIT_PER_MINUTE": str(RATE),
                "BOOKING_RATE_LIMIT_WINDOW_SECONDS": "60",
                "BOOKING_MAX_SEATS_PER_USER": str(CAP),
            }
        )
        env.log("service up")
        rounds = 3 if full else 1
        figures: list[Figure] = []
        over_cap = over_account_limit = over_address_limit = 0
        fallbacks_before = 0
        bought = buyers_total = 0
        for r in range(rounds):
            with service.client() as client:
                rows = [{"row": row, "seats": 20, "category": "standard"} for row in SCALPER_ROWS + BUYER_ROWS]
                show = create_show(client, rows=rows)
            scalper_seats = [s for s in show.seats if s[0] in SCALPER_ROWS]
            lone, *crowd = bulk_users(env.database_url, 31)
            buyers = bulk_users(env.database_url, 20)
            buyer_seats = [s for s in show.seats if s[0] in BUYER_ROWS]
            base = 10 + 60 * (r % 3)  # fresh source addresses per round: each round starts a new window
            # One account, 20 addresses: 10 real source addresses, 10 forged X-Forwarded-For from 127.0.0.1.
            one_account = [
                (
                    f"127.0.0.{base + i % 10}" if i % 2 else "127.0.0.1",
                    lone[1],
                    {} if i % 2 else {"X-Forwarded-For": f"203.0.113.{r * 20 + i % 10 + 1}"},
                )
                for i in range(int(RATE * 2.5))
            ]
            # Thirty accounts, one untrusted address forging X-Forwarded-For on every request.
            crowd_source = f"127.0.0.{base + 20}"
            one_address = [
                (crowd_source, crowd[i % len(crowd)][1], {"X-Forwarded-For": f"192.0.2.{i % 250 + 1}"})
                for i in range(int(RATE * 2.5))
            ]
            buyer_plan = [
                (f"127.0.0.{base + 30 + i}", token, buyer_seats[2 * i : 2 * i + 2])
                for i, (_, token) in enumerate(buyers)
            ]
            env.log(f"round {r + 1}/{rounds}: {len(one_account)} + {len(one_address)} scalper requests, "
                    f"{len(buyer_plan)} ordinary buyers")  # fmt: skip

            lone_answers, crowd_answers, ok = asyncio.run(
                attack(service.base_url, show.show_id, scalper_seats, one_account, one_address, buyer_plan, r)
            )
            env.log(f"one account: {dict(lone_answers.statuses)}; one address: {dict(crowd_answers.statuses)}")
            users = {lone[0], *(u for u, _ in crowd)}
            over_cap += seats_beyond_cap(env.database_url, show.show_id, users)
            # While Redis is slower than the limiter's 0.5 s timeout, each process counts on its own for
            # 5 s (api/rate_limit.py): the budget is then the shared one plus one in-process budget.
            fallbacks = limiter_fallbacks(service.log_tail(100_000))
            budget = RATE * (2 if fallbacks > fallbacks_before else 1)
            fallbacks_before = fallbacks
            over_account_limit += max(0, lone_answers.admitted - budget)
            over_address_limit += max(0, crowd_answers.admitted - budget)
            bought += ok
            buyers_total += len(buyer_plan)
        env.log("probing which addresses X-Forwarded-For is believed from")
        trusted_local = asyncio.run(forwarded_for_trusted(service.base_url, "127.0.0.1"))
        untrusted = f"127.0.0.{240 + secrets.randbelow(10)}"
        trusted_other = asyncio.run(forwarded_for_trusted(service.base_url, untrusted))
        rate = bought / buyers_total if buyers_total else 0.0
        figures += [
            zero(n, f"seats beyond the per-account cap ({CAP})", over_cap),
            zero(n, f"requests admitted for one account beyond {RATE}/min (20 addresses)¹", over_account_limit),
            zero(n, f"requests admitted from one address beyond {RATE}/min (30 accounts)¹", over_address_limit),
            informational(n, "¹ rate-limiter fallbacks to in-process counting (Redis > 0.5 s)", fallbacks_before),
            zero(n, "X-Forwarded-For believed from an untrusted address", int(trusted_other)),
            # The control: from 127.0.0.1 (uvicorn's default trusted proxy) the header is believed, so the
            # probe that finds it believed nowhere else can find it at all.
            at_least(n, "control: X-Forwarded-For found believed from 127.0.0.1 (trusted proxy)",
                     int(trusted_local), 1),
            at_least(n, "ordinary buyers who booked during the attack", round(rate, 3), BUYER_SUCCESS_BOUND),
        ]  # fmt: skip
        return figures


SCENARIO = Scalpers()
