"""Retention against a real PostgreSQL (no Ray, no service): idempotency keys expire in the lookup, and the
pruning job deletes only what is past retention, batch by batch, one process at a time.

Rows are written straight into the tables with their timestamps set in the past ("time is data"), so no
test waits for anything to age.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from persistence import idempotency, migrate
from persistence.database import Database
from persistence.retention import ADVISORY_LOCK_KEY, Pruner, RetentionPolicy
from settings import libpq_url
from tests.services import provision_postgres

TTL = timedelta(hours=1)
POLICY = RetentionPolicy(
    idempotency_key_ttl=TTL, outbox=timedelta(days=7), delivery_ledger=timedelta(days=30), batch_size=5
)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, drop = provision_postgres(Path(tmp_path_factory.mktemp("retention")))
    migrate.upgrade(url)
    try:
        yield url
    finally:
        drop()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, timeout_seconds=10, pool_size=2)
    try:
        yield db
    finally:
        await db.dispose()


def sql(database_url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def add_key(database_url: str, user: str, key: str, age: timedelta, status: int | None = 201) -> None:
    response = json.dumps({"id": key}) if status is not None else None
    sql(
        database_url,
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, created_at) "
        "VALUES (%s, %s, 'h', %s, %s, now() - %s)",
        (user, key, status, response, age),
    )


def add_pending_payment(database_url: str, user: str, key: str) -> None:
    """A payment still pending for the request that used ``key``. Its show, account and holds do not matter
    here, so the row is written without them (replica mode skips the foreign-key checks, this session only)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "INSERT INTO payments (id, show_id, user_id, hold_ids, amount, status, request_key, request_hash) "
            "VALUES (%s, %s, %s, ARRAY['h1'], 10, 'pending', %s, 'h')",
            (f"pay_{secrets.token_hex(6)}", "no-show", user, key),
        )


def keys_of(database_url: str, user: str) -> set[str]:
    return {str(r[0]) for r in sql(database_url, "SELECT key FROM idempotency_keys WHERE user_id = %s", (user,))}


def add_event(database_url: str, outcome: str | None, settled_ago: timedelta, created_ago: timedelta) -> int:
    """An outbox event (relayed), finished with ``outcome`` that long ago (``None``: not finished)."""
    ((event_id,),) = sql(
        database_url,
        "INSERT INTO notification_outbox (kind, payload, created_at, relayed_at) "
        "VALUES ('booking.confirmed', '{}', now() - %s, now() - %s) RETURNING id",
        (created_ago, created_ago),
    )
    assert isinstance(event_id, int)
    if outcome is not None:
        sql(
            database_url,
            "INSERT INTO notification_outcomes (outbox_id, outcome, settled_at) VALUES (%s, %s, now() - %s)",
            (event_id, outcome, settled_ago),
        )
    return event_id


def add_delivery(database_url: str, event_id: int, target: str, age: timedelta) -> None:
    sql(
        database_url,
        "INSERT INTO notification_deliveries (outbox_id, channel, target, attempts, delivered_at, created_at) "
        "VALUES (%s, 'email', %s, 1, now() - %s, now() - %s)",
        (event_id, target, age, age),
    )


async def claim(database: Database, user: str, key: str, fingerprint: str = "h") -> idempotency.ClaimResult:
    async with database.session() as session:
        return await idempotency.claim(session, user, key, fingerprint, TTL)


async def test_a_key_past_its_lifetime_is_treated_as_never_used(database: Database, database_url: str) -> None:
    user = secrets.token_hex(8)
    add_key(database_url, user, "live", timedelta(minutes=59))
    add_key(database_url, user, "old", timedelta(minutes=61))
    add_key(database_url, user, "old-other-body", timedelta(minutes=61))

    # Within its lifetime the key answers as before: the first answer, or a refusal for another body.
    assert await claim(database, user, "live") == idempotency.Replay(201, {"id": "live"})
    assert await claim(database, user, "live", "another body") == idempotency.Mismatch()
    # Past it, the same key runs anew, whatever it was first used for; the pruner has not run.
    assert await claim(database, user, "old") == idempotency.Claimed()
    assert await claim(database, user, "old-other-body", "another body") == idempotency.Claimed()
    # ... and from then on it is that new request's key, with a lifetime of its own.
    assert await claim(database, user, "old") == idempotency.InProgress()
    async with database.session() as session:
        await idempotency.finish(session, user, "old", 200, {"id": "second"})
    assert await claim(database, user, "old") == idempotency.Replay(200, {"id": "second"})


async def test_a_key_whose_payment_is_pending_outlives_its_lifetime(database: Database, database_url: str) -> None:
    user = secrets.token_hex(8)
    add_key(database_url, user, "paying", timedelta(hours=5))
    add_pending_payment(database_url, user, "paying")

    assert await claim(database, user, "paying") == idempotency.Replay(201, {"id": "paying"})
    await Pruner(database, POLICY, interval_seconds=0).run_once()
    assert keys_of(database_url, user) == {"paying"}

    sql(database_url, "UPDATE payments SET status = 'captured' WHERE user_id = %s", (user,))
    await Pruner(database, POLICY, interval_seconds=0).run_once()
    assert keys_of(database_url, user) == set()


async def test_pruning_removes_only_what_is_past_retention(
    database: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    user = secrets.token_hex(8)
    old_keys = {f"old-{i}" for i in range(2 * POLICY.batch_size + 1)}  # more than two batches
    for key in old_keys:
        add_key(database_url, user, key, timedelta(hours=2))
    add_key(database_url, user, "unfinished-old", timedelta(hours=2), status=None)
    add_key(database_url, user, "live", timedelta(minutes=30))

    day = timedelta(days=1)
    delivered_old = add_event(database_url, "delivered", settled_ago=8 * day, created_ago=40 * day)
    delivered_recent = add_event(database_url, "delivered", settled_ago=6 * day, created_ago=40 * day)
    dead_old = add_event(database_url, "dead", settled_ago=40 * day, created_ago=40 * day)
    unfinished_old = add_event(database_url, None, settled_ago=day, created_ago=40 * day)
    # Ledger rows: old ones of the pruned event go; a recent one of it stays, and so do old ones of events
    # still kept (a dead letter needs to know who already got it when it is replayed).
    add_delivery(database_url, delivered_old, "old@x", 31 * day)
    add_delivery(database_url, delivered_old, "recent@x", 29 * day)
    add_delivery(database_url, delivered_recent, "old@x", 31 * day)
    add_delivery(database_url, dead_old, "old@x", 31 * day)
    add_delivery(database_url, unfinished_old, "old@x", 31 * day)
    events = [delivered_old, delivered_recent, dead_old, unfinished_old]

    caplog.set_level(logging.INFO, logger="booking.retention")
    report = await Pruner(database, POLICY, interval_seconds=0).run_once()

    assert keys_of(database_url, user) == {"live"}
    assert report.idempotency_keys >= len(old_keys) + 1  # (other tests' expired keys may go too)
    left = {r[0] for r in sql(database_url, "SELECT id FROM notification_outbox WHERE id = ANY(%s)", (events,))}
    assert left == {delivered_recent, dead_old, unfinished_old}
    outcomes = {
        r[0]
        for r in sql(database_url, "SELECT outbox_id FROM notification_outcomes WHERE outbox_id = ANY(%s)", (events,))
    }
    assert outcomes == {delivered_recent, dead_old}
    ledger = set(
        sql(database_url, "SELECT outbox_id, target FROM notification_deliveries WHERE outbox_id = ANY(%s)", (events,))
    )
    assert ledger == {
        (delivered_old, "recent@x"),
        (delivered_recent, "old@x"),
        (dead_old, "old@x"),
        (unfinished_old, "old@x"),
    }
    assert (report.outbox_events, report.delivery_ledger) == (1, 1)
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]  # one line per round
    assert line.startswith(
        f"retention: pruned {report.idempotency_keys} idempotency keys, 1 delivered notification events, "
        "1 delivery-ledger rows in "
    )

    caplog.clear()
    again = await Pruner(database, POLICY, interval_seconds=0).run_once()
    assert again.total == 0
    assert not [r for r in caplog.records if r.levelno == logging.INFO]  # a round with nothing to do is quiet


async def test_batches_delete_everything_past_retention(database: Database, database_url: str) -> None:
    user = secrets.token_hex(8)
    policy = replace(POLICY, batch_size=3, pause_seconds=0)
    for i in range(10):
        add_key(database_url, user, f"k{i}", timedelta(hours=3))
    report = await Pruner(database, policy, interval_seconds=0).run_once()
    assert keys_of(database_url, user) == set()
    assert report.idempotency_keys >= 10


async def test_only_one_process_prunes_at_a_time(database: Database, database_url: str) -> None:
    user = secrets.token_hex(8)
    add_key(database_url, user, "old", timedelta(hours=2))
    with psycopg.connect(libpq_url(database_url), autocommit=True) as other_process:
        other_process.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        report = await Pruner(database, POLICY, interval_seconds=0).run_once()
        assert report.skipped
        assert report.total == 0
        assert keys_of(database_url, user) == {"old"}
        # Released here, not by closing: a closed connection's server process may still hold the lock
        # for a moment after close() returns (a clean-clone CI run saw the next round skipped).
        other_process.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    report = await Pruner(database, POLICY, interval_seconds=0).run_once()
    assert not report.skipped
    assert keys_of(database_url, user) == set()


class _FailedRounds(logging.Handler):
    """Counts the pruner's failed rounds; ``twice`` is set at the second (the loop outlived the first)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.twice = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "pruning round failed" in record.getMessage():
            self.count += 1
            if self.count >= 2:
                self.twice.set()


async def test_a_database_error_is_logged_and_the_job_keeps_running() -> None:
    # Nothing listens on port 1: every round fails to connect.
    unreachable = Database("postgresql://postgres@127.0.0.1:1/none", timeout_seconds=1, pool_size=1)
    pruner = Pruner(unreachable, POLICY, interval_seconds=0.05)
    failures = _FailedRounds()
    logging.getLogger("booking.retention").addHandler(failures)
    pruner.start()
    try:
        async with asyncio.timeout(30):
            await failures.twice.wait()
        assert pruner.running  # the failed rounds did not end the job
    finally:
        logging.getLogger("booking.retention").removeHandler(failures)
        await pruner.aclose()
        await unreachable.dispose()
