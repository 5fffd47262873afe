"""Scenario 6: the PostgreSQL connection reset during commit, through a fault-injecting proxy.

What it promises: a commit whose answer is lost is an unknown outcome for the service, never a wrong one.
The show actor answers 503 and reloads from PostgreSQL; the client retries with the same
``Idempotency-Key``; if the transaction did commit, the answer stored with it is replayed, and if it did
not, the request runs again. Either way one hold, one booking, one charge.

How: the whole service (API process and show actors) reaches PostgreSQL through ``reliability.proxy``.
The proxy reads the wire protocol and, for a share of the transactions that insert holds or bookings,
resets both connections at the ``COMMIT``: *before* forwarding it (PostgreSQL rolls back) or *after* it
committed, swallowing the server's answer (the client never learns it committed). The payment gateway
keeps a direct connection: its ledger is the independent witness.

Figures: duplicate bookings (a seat, a customer or a hold in two bookings) from unknown outcomes; holds
charged twice; acknowledged holds and bookings lost; commits reset before / after (each must happen, or
the scenario proved nothing).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from reliability import faults
from reliability.core import SizedScenario
from reliability.env import Env
from reliability.faults import Calls
from reliability.figures import Figure, at_least, informational, zero
from reliability.proxy import CommitFault, FaultProxy


@dataclass(frozen=True)
class Size:
    buyers: int
    faults_each: int  # commits to reset, of each kind (before/after × holds/bookings)
    probability: float


SHORT = Size(buyers=60, faults_each=4, probability=0.25)
FULL = Size(buyers=400, faults_each=25, probability=0.25)


class CommitResets(SizedScenario[Size]):
    number = 6
    title = "PostgreSQL connection reset during commit"

    def measure(self, env: Env, size: Size) -> list[Figure]:
        n = self.number
        upstream = urlsplit(env.database_url)
        proxy = FaultProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432, seed=6).start()
        try:
            proxied = proxy.url(env.database_url)
            service = env.start_service(
                {"BOOKING_PAYMENT_SETTLE_AFTER_SECONDS": "5", "BOOKING_RECONCILE_INTERVAL_SECONDS": "1"},
                database_url=proxied,
                payment_gateway_url=env.gateway.base_url,
            )
            env.databases.remove(proxied)  # the same database: audit it once, directly
            show = faults.new_show(service.base_url, seats=size.buyers * 2)
            buyers = faults.buyers_for(show, faults.users(env, size.buyers), seats_each=2)
            for when in ("before", "after"):
                for table in (b"INSERT INTO holds", b"INSERT INTO bookings"):
                    proxy.fault_commits(CommitFault(when, size.faults_each, size.probability, only_if=table))
            calls = Calls()
            env.log(f"{size.buyers} buyers; resetting {size.faults_each} commits of each kind")
            done = asyncio.run(
                faults.crowd(service.base_url, show.show_id, buyers, calls, concurrency=12, give_up_after=90)
            )
            proxy.clear()
            stats = proxy.stats.snapshot()
            env.log(f"proxy {stats}; statuses {calls.statuses()}")
            retried = sum(1 for c in calls if c.status in (0, 503))
            figures = [
                zero(
                    n,
                    "duplicate bookings from unknown outcomes",
                    faults.duplicate_bookings(env.database_url, show.show_id),
                ),
                zero(n, "holds charged twice", faults.double_charges(env.database_url)),
                zero(n, "acknowledged bookings lost", faults.lost_bookings(env.database_url, done)),
                zero(n, "acknowledged holds lost", faults.lost_holds(env.database_url, done)),
                at_least(n, "commits reset before reaching PostgreSQL", stats["commits_reset_before"], 1),
                at_least(n, "commits reset after committing (answer lost)", stats["commits_reset_after"], 1),
                at_least(n, "buyers booked", sum(b.booking_id is not None for b in done), size.buyers * 9 // 10),
                informational(n, "unknown outcomes retried with the same key", retried),
                informational(n, "commits through the proxy", stats["commits_seen"]),
            ]
            # Reconcile while the service (and its reconciler) still runs, behind a proxy without faults.
            return figures + env.reconcile()
        finally:
            # Stop the service before the proxy, so it does not spend its last seconds reconnecting.
            for handle in env.services:
                handle.stop()
            proxy.stop()


SCENARIO = CommitResets(SHORT, FULL)
