"""Notification delivery against real PostgreSQL and Redis: outbox → relay → stream → e-mail and webhooks.

The machinery runs in-process (and, for the crash test, in a subprocess that is SIGKILLed), on a database
of its own (migrated like the service's) so that a running service's relay cannot take these rows, and on
Redis keys under a prefix of each test's own. Webhook receivers are small HTTP servers on 127.0.0.1 that
record every request, keyed by ``webhook-id`` (the delivery id); signatures are checked with the
``standardwebhooks`` library's own verifier. One test drives the real service over HTTP.

Run as ``python -m tests.integration.test_notifications '<json>'`` this module is the consumer process
the crash test kills.
"""

from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import hmac
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import text
from standardwebhooks import Webhook, WebhookVerificationError

from api import problems
from api.auth import TokenService
from api.routes import notifications as notification_routes
from notifications import NotificationConfig, NotificationService
from notifications.events import BOOKING_CONFIRMED, HOLD_EXPIRING, Notification
from notifications.mail import MailDirMailer, Recipient, SmtpMailer, render_email
from notifications.outbox import HoldReminderSweep
from notifications.secret_box import SecretBox
from notifications.signing import DELIVERY_HEADER, EVENT_HEADER, ID_HEADER
from persistence import migrate
from persistence.database import Database
from tests.api_client import admin_headers, new_user
from tests.conftest import ROOT, Backing, Service, _free_port
from tests.services import provision_postgres

# -- fixtures and helpers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for this module alone (on the same server as the rest of the suite)."""
    url, drop = provision_postgres(tmp_path_factory.mktemp("notifications-db"))
    migrate.upgrade(url)
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="module")
async def db(pipeline_url: str) -> AsyncIterator[Database]:
    database = Database(pipeline_url, 5.0, pool_size=4)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(autouse=True)
async def quiet_outbox(request: pytest.FixtureRequest) -> None:
    """Each test starts with no webhooks and nothing waiting or unfinished in the outbox (of this module's
    database)."""
    if "db" not in request.fixturenames:
        return
    database: Database = request.getfixturevalue("db")
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM notification_webhooks"))
        await conn.execute(text("UPDATE notification_outbox SET relayed_at = now() WHERE relayed_at IS NULL"))
        await conn.execute(
            text(
                "INSERT INTO notification_outcomes (outbox_id, outcome) "
                "SELECT id, 'delivered' FROM notification_outbox ON CONFLICT DO NOTHING"
            )
        )


@pytest.fixture(autouse=True)
async def report_a_hang() -> AsyncIterator[None]:
    """If a test runs for over a minute, print every asyncio task's stack (pytest-timeout only shows threads)."""

    def dump() -> None:
        print("=== asyncio tasks of a test that runs for over a minute", flush=True)
        for task in asyncio.all_tasks():
            task.print_stack(limit=25, file=sys.stdout)

    handle = asyncio.get_running_loop().call_later(60, dump)
    yield
    handle.cancel()


@pytest.fixture
async def prefix(backing: Backing) -> AsyncIterator[str]:
    """Redis keys of this test's own (removed afterwards: the server may be shared)."""
    value = f"{backing.redis_prefix}n-{secrets.token_hex(4)}:"
    yield value
    client = aioredis.Redis.from_url(backing.redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{value}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# The tests' webhook secret key: fixed, so that the crash test's consumer process opens what this one sealed.
TEST_KEY = base64.urlsafe_b64encode(b"seatwise notification tests key!").decode()


def pipeline(
    database_url: str,
    redis_url: str,
    prefix: str,
    mail_dir: Path,
    secret_keys: tuple[str, ...] = (TEST_KEY,),
    **overrides: Any,
) -> NotificationService:
    """A consumer-only service with test-sized timings (the tests relay and sweep by hand)."""
    config = NotificationConfig(
        redis_prefix=prefix,
        max_attempts=3,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        retry_jitter=0.0,
        claim_idle_seconds=1.0,
        concurrency=4,
        webhook_timeout_seconds=2.0,
        lease_margin_seconds=0.5,
        block_ms=200,
        run_sweep=False,
        run_relay=False,
    )
    database = Database(database_url, 5.0, pool_size=4)
    return NotificationService(
        replace(config, **overrides),
        database,
        redis_url,
        MailDirMailer(mail_dir),
        True,
        secret_box=SecretBox(secret_keys),
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Catalog:
    user_id: str
    email: str
    show_id: str
    title: str


async def make_catalog(database: Database) -> Catalog:
    """A customer and a show of a movie, written directly (the catalog API is not under test here)."""
    ids = {k: str(uuid4()) for k in ("user", "movie", "theater", "screen", "show")}
    email_address = f"fan-{secrets.token_hex(4)}@example.com"
    title = f"Notified {secrets.token_hex(3)}"
    async with database.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO users (id, email, name, password_hash, role) VALUES (:i, :e, 'Fan', 'x', 'customer')"),
            {"i": ids["user"], "e": email_address},
        )
        await conn.execute(
            text("INSERT INTO movies (id, title, duration_minutes) VALUES (:i, :t, 120)"),
            {"i": ids["movie"], "t": title},
        )
        await conn.execute(
            text("INSERT INTO theaters (id, name, city, address) VALUES (:i, 'Regal', 'Pune', '1 Main St')"),
            {"i": ids["theater"]},
        )
        await conn.execute(
            text("INSERT INTO screens (id, theater_id, name) VALUES (:i, :t, 'S1')"),
            {"i": ids["screen"], "t": ids["theater"]},
        )
        await conn.execute(
            text(
                "INSERT INTO shows (id, movie_id, theater_id, screen_id, starts_at, prices, hold_ttl_seconds, status) "
                "VALUES (:i, :m, :t, :s, now() + interval '1 day', '{\"standard\": \"250\"}', 600, 'on_sale')"
            ),
            {"i": ids["show"], "m": ids["movie"], "t": ids["theater"], "s": ids["screen"]},
        )
    return Catalog(ids["user"], email_address, ids["show"], title)


async def add_outbox(database: Database, catalog: Catalog, count: int, kind: str = BOOKING_CONFIRMED) -> list[int]:
    """Outbox rows shaped like the show actor's."""
    rows = []
    async with database.engine.begin() as conn:
        for n in range(count):
            payload = {
                "booking_id": f"b-{secrets.token_hex(4)}",
                "show_id": catalog.show_id,
                "user_id": catalog.user_id,
                "seat_ids": [f"A{n % 10 + 1}"],
                "amount": "250.00",
            }
            result = await conn.execute(
                text(
                    "INSERT INTO notification_outbox (kind, user_id, show_id, payload) "
                    "VALUES (:k, :u, :s, CAST(:p AS jsonb)) RETURNING id"
                ),
                {"k": kind, "u": catalog.user_id, "s": catalog.show_id, "p": json.dumps(payload)},
            )
            rows.append(result.scalar_one())
    return rows


async def relay_all(service: NotificationService) -> int:
    total = 0
    while moved := await service.relay.run_once():
        total += moved
    return total


async def delivered(database: Database, channel: str, outbox_ids: list[int]) -> dict[int, int]:
    """How many delivered ledger rows each outbox id has on ``channel``."""
    async with database.engine.begin() as conn:
        rows = await conn.execute(
            text(
                "SELECT outbox_id, count(*) FROM notification_deliveries "
                "WHERE channel = :c AND outbox_id = ANY(:ids) AND delivered_at IS NOT NULL GROUP BY outbox_id"
            ),
            {"c": channel, "ids": outbox_ids},
        )
        return {int(r[0]): int(r[1]) for r in rows}


@dataclass
class Receipt:
    headers: dict[str, str]
    body: bytes

    @property
    def delivery(self) -> str:
        return self.headers.get(ID_HEADER, "")

    @property
    def event(self) -> str:
        return self.headers.get(EVENT_HEADER.lower(), "")


def verified(secret: str, receipt: Receipt) -> bool:
    """The receiver's check, with the ``standardwebhooks`` library's own verifier (nothing of ours)."""
    try:
        Webhook(secret).verify(receipt.body, receipt.headers)
    except WebhookVerificationError:
        return False
    return True


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records every request; answers ``status`` after ``delay``."""

    status: int = 200
    delay: float = 0.0
    receipts: list[Receipt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def deliveries(self) -> list[str]:
        with self.lock:
            return [r.delivery for r in self.receipts]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.receipts.append(Receipt({k.lower(): v for k, v in self.headers.items()}, body))
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def eml_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


def eml_files(directory: Path) -> int:
    return len(eml_paths(directory))


def redelivered(deliveries: list[str]) -> dict[str, int]:
    """The once-only check: delivery ids a receiver got more than once."""
    return {delivery: n for delivery, n in Counter(deliveries).items() if n > 1}


async def pending(service: NotificationService) -> int:
    summary = await service.redis.xpending(service.names.stream, service.names.group)
    return int(summary["pending"])


# -- (a) a consumer killed mid-stream ---------------------------------------------------------------------


async def test_a_consumer_killed_mid_stream_loses_nothing_and_delivers_once_per_target(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, receivers: Callable[..., Receiver], tmp_path: Path
) -> None:
    receiver = receivers(delay=0.03)
    catalog = await make_catalog(db)
    survivor = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path)
    await survivor.webhooks.register(receiver.url, ["*"], "crash test", None)
    outbox_ids = await add_outbox(db, catalog, 40)
    await survivor.consumer.ensure_group()
    assert await relay_all(survivor) == 40
    expected = {str(i) for i in outbox_ids}

    worker_config = {
        "database_url": pipeline_url,
        "redis_url": backing.redis_url,
        "prefix": prefix,
        "mail": str(tmp_path),
    }
    doomed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.test_notifications",
        json.dumps(worker_config),
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:

        async def midway() -> bool:
            assert doomed.returncode is None, "the consumer process exited by itself"
            return len(receiver.deliveries()) >= 12

        await eventually(midway, what="the doomed consumer to deliver a dozen")
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
    await asyncio.sleep(0.5)  # requests it sent just before dying reach the receiver's threads
    at_kill = set(receiver.deliveries())
    recorded_at_kill = {str(i) for i in await delivered(db, "webhook", outbox_ids)}
    # Received but not recorded when the process died: those may arrive again (same delivery id).
    in_flight = at_kill - recorded_at_kill
    assert 12 <= len(at_kill) < 40, "the kill must land mid-stream"
    assert len(in_flight) <= 4, "at most the dead consumer's concurrency was in flight"
    assert await pending(survivor) > 0, "the dead consumer left entries pending"

    await survivor.start()
    try:

        async def all_done() -> bool:
            return (
                set(receiver.deliveries()) == expected
                and len(await delivered(db, "webhook", outbox_ids)) == 40
                and len(await delivered(db, "email", outbox_ids)) == 40
                and await pending(survivor) == 0
            )

        await eventually(all_done, what="every event to be delivered after the crash")
        duplicates = redelivered(receiver.deliveries())
        print(
            f"crash test: {len(at_kill)} delivered before the kill, {len(in_flight)} in flight, "
            f"{sum(duplicates.values()) - len(duplicates)} redelivered"
        )
        assert set(duplicates) <= in_flight
        assert all(n == 2 for n in duplicates.values())
        assert set((await delivered(db, "webhook", outbox_ids)).values()) == {1}
        assert eml_files(tmp_path) == 40  # one file per event, whatever was redelivered
        assert await survivor.redis.xlen(survivor.names.stream) == 0

        # A duplicate stream entry (the relay crashed after XADD) is absorbed by the delivery ledger.
        settled = sorted(expected - in_flight)
        absorbed, forgotten = int(settled[0]), int(settled[1])
        entry = await _entry_for(survivor, db, absorbed)
        await survivor.redis.xadd(survivor.names.stream, entry)  # type: ignore[arg-type]
        await eventually(lambda: _drained(survivor), what="the duplicate entry to be consumed")
        assert str(absorbed) not in redelivered(receiver.deliveries())

        # Negative control: with the ledger's record of one delivery removed, the duplicate entry is sent
        # again, and the once-only check catches it.
        async with db.engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM notification_deliveries WHERE outbox_id = :o AND channel = 'webhook'"),
                {"o": forgotten},
            )
        await survivor.redis.xadd(survivor.names.stream, await _entry_for(survivor, db, forgotten))  # type: ignore[arg-type]
        await eventually(lambda: _drained(survivor), what="the control entry to be consumed")
        caught = redelivered(receiver.deliveries())
        assert caught.get(str(forgotten)) == 2
        assert not set(caught) <= in_flight, "the check must fail on a duplicate outside the crash window"
    finally:
        await survivor.stop()


async def _entry_for(service: NotificationService, database: Database, outbox_id: int) -> dict[str, str]:
    async with database.engine.begin() as conn:
        row = (
            await conn.execute(
                text("SELECT id, kind, user_id, show_id, payload, created_at FROM notification_outbox WHERE id = :i"),
                {"i": outbox_id},
            )
        ).one()
    return Notification(row.id, row.kind, row.user_id, row.show_id, row.payload, row.created_at).stream_fields()


async def _drained(service: NotificationService) -> bool:
    return await service.redis.xlen(service.names.stream) == 0 and await pending(service) == 0


async def unrelayed(database: Database, outbox_ids: list[int]) -> list[int]:
    async with database.engine.begin() as conn:
        rows = await conn.execute(
            text("SELECT id FROM notification_outbox WHERE id = ANY(:ids) AND relayed_at IS NULL"), {"ids": outbox_ids}
        )
        return [int(r[0]) for r in rows]


async def finished(database: Database, outbox_ids: list[int]) -> dict[int, str]:
    async with database.engine.begin() as conn:
        rows = await conn.execute(
            text("SELECT outbox_id, outcome FROM notification_outcomes WHERE outbox_id = ANY(:ids)"),
            {"ids": outbox_ids},
        )
        return {int(r[0]): str(r[1]) for r in rows}


async def test_events_a_redis_restart_lost_are_relayed_again_and_delivered_once(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, receivers: Callable[..., Receiver], tmp_path: Path
) -> None:
    receiver = receivers()
    catalog = await make_catalog(db)
    first = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path, run_relay=True)
    await first.webhooks.register(receiver.url, ["*"], "", None)
    earlier = await add_outbox(db, catalog, 3)
    await first.start()
    try:

        async def earlier_finished() -> bool:
            # The consumer settles the outbox row before it deletes the stream entry: wait for both, or
            # the entry still in the stream is counted below with the ones relayed next. And the relay
            # marks rows relayed in the transaction after its XADD, which the consumer may outrun: a stop
            # before that commit leaves a delivered row unrelayed, relayed again below (seen in CI).
            settled = await finished(db, earlier) == dict.fromkeys(earlier, "delivered")
            return settled and await first.redis.xlen(first.names.stream) == 0 and not await unrelayed(db, earlier)

        await eventually(earlier_finished, what="the first events")
    finally:
        await first.stop()

    relay_only = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path)
    try:
        lost = await add_outbox(db, catalog, 2)
        assert await relay_all(relay_only) == 2
        assert await relay_only.redis.xlen(relay_only.names.stream) == 2
        # Redis restarts empty (the embedded one keeps nothing): the relayed events are gone from it.
        await relay_only.redis.delete(relay_only.names.stream)
    finally:
        await relay_only.stop()

    second = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path, run_relay=True)
    await second.start()
    try:

        async def all_finished() -> bool:
            return await finished(db, earlier + lost) == dict.fromkeys(earlier + lost, "delivered")

        await eventually(all_finished, what="the lost events to be relayed again and delivered")
        assert sorted(receiver.deliveries()) == sorted(str(i) for i in earlier + lost)
        assert redelivered(receiver.deliveries()) == {}
    finally:
        await second.stop()


# -- (b) retries, dead letters, replay; (f) the admin API ---------------------------------------------------


def admin_app(service: NotificationService, tokens: TokenService) -> FastAPI:
    """Only the notification routes, wired like ``api.app.create_app`` wires them."""
    app = FastAPI()
    app.state.tokens = tokens
    app.state.notifications = service
    problems.install(app)
    app.include_router(notification_routes.admin)
    return app


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(secrets.token_urlsafe(32), 3600)


def bearer(tokens: TokenService, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(str(uuid4()), role)}"}


async def test_a_failing_webhook_is_dead_lettered_after_its_attempts_and_a_replay_delivers_it_once(
    backing: Backing,
    pipeline_url: str,
    db: Database,
    prefix: str,
    receivers: Callable[..., Receiver],
    tmp_path: Path,
    tokens: TokenService,
) -> None:
    healthy, broken = receivers(), receivers(status=500)
    catalog = await make_catalog(db)
    service = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path)
    admin = bearer(tokens, "admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=admin_app(service, tokens)), base_url="http://t"
    ) as api:
        registered = await api.post("/api/v1/admin/webhooks", headers=admin, json={"url": healthy.url})
        assert registered.status_code == 201, registered.text
        failing = await api.post(
            "/api/v1/admin/webhooks", headers=admin, json={"url": broken.url, "events": [BOOKING_CONFIRMED]}
        )
        assert failing.status_code == 201, failing.text
        [outbox_id] = await add_outbox(db, catalog, 1)
        await service.start()
        try:
            await relay_all(service)

            async def dead_lettered() -> bool:
                return bool((await api.get("/api/v1/admin/dead-letters", headers=admin)).json()["items"])

            await eventually(dead_lettered, what="the dead letter")
            page = (await api.get("/api/v1/admin/dead-letters", headers=admin)).json()
            [letter] = page["items"]
            assert page["total"] == 1
            assert page["next_after"] is None
            assert letter["outbox_id"] == outbox_id
            assert letter["kind"] == BOOKING_CONFIRMED
            assert "HTTP 500" in letter["reason"]
            assert letter["payload"]["user_id"] == catalog.user_id
            assert letter["failures"] == [
                {"target": f"webhook:{failing.json()['id']}", "attempts": 3, "error": "answered HTTP 500"}
            ]
            assert broken.deliveries() == [str(outbox_id)] * 3, "exactly the configured attempts"
            assert healthy.deliveries() == [str(outbox_id)], "the healthy webhook got it once"
            assert await _drained(service), "a dead-lettered entry is acknowledged"

            broken.status = 200
            replay = await api.post(f"/api/v1/admin/dead-letters/{letter['id']}/replay", headers=admin)
            assert replay.status_code == 202, replay.text
            await eventually(lambda: _count_delivered_is(db, outbox_id, 3), what="the replayed delivery")
            await eventually(lambda: _drained(service), what="the replayed entry to be acknowledged")
            assert broken.deliveries() == [str(outbox_id)] * 4
            assert healthy.deliveries() == [str(outbox_id)], "a replay skips targets that had it"
            assert eml_files(tmp_path) == 1
            assert (await api.get("/api/v1/admin/dead-letters", headers=admin)).json()["items"] == []
            again = await api.post(f"/api/v1/admin/dead-letters/{letter['id']}/replay", headers=admin)
            assert again.status_code == 404
        finally:
            await service.stop()


async def _count_delivered(database: Database, outbox_id: int) -> int:
    async with database.engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM notification_deliveries WHERE outbox_id = :o AND delivered_at IS NOT NULL"
                    ),
                    {"o": outbox_id},
                )
            ).scalar_one()
        )


async def test_an_entry_waiting_out_its_back_off_does_not_hold_up_the_others(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, receivers: Callable[..., Receiver], tmp_path: Path
) -> None:
    broken, healthy = receivers(status=503), receivers()
    catalog = await make_catalog(db)
    service = pipeline(
        pipeline_url, backing.redis_url, prefix, tmp_path, concurrency=1, retry_base_seconds=5.0, retry_max_seconds=5.0
    )
    await service.webhooks.register(broken.url, ["booking.cancelled"], "", None)
    await service.webhooks.register(healthy.url, [BOOKING_CONFIRMED], "", None)
    [stuck] = await add_outbox(db, catalog, 1, kind="booking.cancelled")
    later = await add_outbox(db, catalog, 3)
    await service.start()
    try:
        await relay_all(service)
        started = time.monotonic()

        async def others_delivered() -> bool:
            return sorted(healthy.deliveries()) == sorted(str(i) for i in later)

        await eventually(others_delivered, within=4.0, what="the other events while one backs off")
        assert time.monotonic() - started < 4.0
        assert broken.deliveries() == [str(stuck)], "the failing one is still waiting for its second attempt"
    finally:
        await service.stop()


async def test_admin_routes_refuse_non_admins_and_bad_input(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, tmp_path: Path, tokens: TokenService
) -> None:
    service = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path)
    admin, customer = bearer(tokens, "admin"), bearer(tokens, "customer")
    transport = httpx.ASGITransport(app=admin_app(service, tokens))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            created = await api.post(
                "/api/v1/admin/webhooks",
                headers=admin,
                json={"url": "https://hooks.example.com/seatwise", "events": ["hold.expiring"], "description": "ops"},
            )
            assert created.status_code == 201, created.text
            hook = created.json()
            assert hook["secret"].startswith("whsec_")
            assert hook["events"] == ["hold.expiring"]
            hook_id = hook["id"]

            routes = [
                ("POST", "/api/v1/admin/webhooks", {"url": "https://example.com/x"}),
                ("GET", "/api/v1/admin/webhooks", None),
                ("DELETE", f"/api/v1/admin/webhooks/{hook_id}", None),
                ("GET", "/api/v1/admin/dead-letters", None),
                ("POST", "/api/v1/admin/dead-letters/1-0/replay", None),
            ]
            for method, path, body in routes:
                for headers, status in (({}, 401), (customer, 403)):
                    answer = await api.request(method, path, headers=headers, json=body)
                    assert answer.status_code == status, (method, path, answer.text)
                    assert answer.headers["content-type"] == "application/problem+json"

            listed = (await api.get("/api/v1/admin/webhooks", headers=admin)).json()
            assert [h["id"] for h in listed] == [hook_id]
            assert "secret" not in listed[0]

            bad_bodies: list[Any] = [
                {"url": "ftp://example.com/x"},
                {"url": "not a url"},
                {"url": "https://example.com/" + "x" * 2100},
                {"url": "https://example.com/x", "events": []},
                {"url": "https://example.com/x", "events": ["booking.exploded"]},
                {"url": "https://example.com/x", "events": ["*"] * 6},
                {"url": "https://example.com/x", "surprise": True},
                {"url": "https://example.com/x", "description": "bell\x07"},
                {},
            ]
            for bad in bad_bodies:
                answer = await api.post("/api/v1/admin/webhooks", headers=admin, json=bad)
                assert answer.status_code == 422, (bad, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
            malformed = await api.post(
                "/api/v1/admin/webhooks", headers={**admin, "content-type": "application/json"}, content=b"{"
            )
            assert malformed.status_code == 400

            bad_requests = [
                ("DELETE", "/api/v1/admin/webhooks/not-a-uuid", 404),  # a path id of another shape names nothing
                ("DELETE", f"/api/v1/admin/webhooks/{'0' * 8}-0000-0000-0000-{'0' * 12}", 404),
                ("GET", "/api/v1/admin/dead-letters?limit=0", 422),
                ("GET", "/api/v1/admin/dead-letters?limit=201", 422),
                ("GET", "/api/v1/admin/dead-letters?after=latest", 422),
                ("POST", "/api/v1/admin/dead-letters/99999999999999999999-0/replay", 404),
                ("POST", "/api/v1/admin/dead-letters/abc/replay", 404),
                ("POST", "/api/v1/admin/dead-letters/1-0/replay", 404),
            ]
            for method, path, status in bad_requests:
                answer = await api.request(method, path, headers=admin)
                assert answer.status_code == status, (method, path, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"

            assert (await api.get("/api/v1/admin/dead-letters?after=0-1", headers=admin)).status_code == 200
            assert (await api.delete(f"/api/v1/admin/webhooks/{hook_id}", headers=admin)).status_code == 204
            assert (await api.delete(f"/api/v1/admin/webhooks/{hook_id}", headers=admin)).status_code == 404
            assert (await api.get("/api/v1/admin/webhooks", headers=admin)).json() == []
    finally:
        await service.stop()


async def test_dead_letters_page_in_order(backing: Backing, pipeline_url: str, prefix: str, tmp_path: Path) -> None:
    service = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path)
    try:
        for n in range(5):
            await service.redis.xadd(service.names.dead, {"outbox_id": str(n), "kind": "k", "reason": f"r{n}"})
        seen: list[int | None] = []
        after: str | None = None
        while True:
            letters, after = await service.dead_letters.page(2, after)
            seen += [d.outbox_id for d in letters]
            if after is None:
                break
        assert seen == [0, 1, 2, 3, 4]
    finally:
        await service.stop()


# -- (c) signatures -----------------------------------------------------------------------------------------


async def test_webhook_signatures_verify_with_the_standard_library_and_the_webhooks_secret_only(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, receivers: Callable[..., Receiver], tmp_path: Path
) -> None:
    first, second = receivers(), receivers()
    catalog = await make_catalog(db)
    service = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path)
    hook_a = await service.webhooks.register(first.url, ["*"], "", None)
    hook_b = await service.webhooks.register(second.url, [BOOKING_CONFIRMED], "", None)
    assert hook_a.secret is not None
    assert hook_b.secret is not None
    [outbox_id] = await add_outbox(db, catalog, 1)
    await service.start()
    try:
        await relay_all(service)
        await eventually(lambda: _count_delivered_is(db, outbox_id, 3), what="both webhooks and the e-mail")
        [got_a], [got_b] = first.receipts, second.receipts
        for got in (got_a, got_b):
            assert got.delivery == str(outbox_id)
            assert got.event == BOOKING_CONFIRMED
            assert json.loads(got.body)["data"]["user_id"] == catalog.user_id
            assert "x-seatwise-signature" not in got.headers  # the old scheme is for old secrets only
        assert verified(hook_a.secret, got_a)
        assert verified(hook_b.secret, got_b)
        assert not verified(hook_b.secret, got_a)
        assert not verified(hook_a.secret, got_b)
        assert not verified(hook_a.secret, Receipt(got_a.headers, got_a.body.replace(b"250.00", b"0.01")))
    finally:
        await service.stop()


async def _stored_secrets(database: Database) -> dict[str, tuple[str | None, str | None, str]]:
    """Each webhook's ``secret`` and ``secret_ciphertext`` columns, and its whole row as text, read with SQL."""
    async with database.engine.begin() as conn:
        rows = await conn.execute(
            text("SELECT id, secret, secret_ciphertext, w::text FROM notification_webhooks w ORDER BY id")
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


async def test_a_registered_secret_is_stored_only_encrypted(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, tmp_path: Path
) -> None:
    service = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path)
    try:
        hook = await service.webhooks.register("https://hooks.example.com/x", ["*"], "", None)
        assert hook.secret is not None
        plain, sealed, row = (await _stored_secrets(db))[hook.id]
        assert plain is None
        assert sealed is not None
        for fragment in (hook.secret, hook.secret.removeprefix("whsec_")):
            assert fragment not in row
        assert SecretBox([TEST_KEY]).open(sealed) == hook.secret
        [found] = await service.webhooks.matching(BOOKING_CONFIRMED)
        assert found.secret == hook.secret
    finally:
        await service.stop()


async def test_start_up_encrypts_old_plain_secrets_and_reencrypts_under_a_rotated_key_and_deliveries_still_verify(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, receivers: Callable[..., Receiver], tmp_path: Path
) -> None:
    """Upgrade and rotation: a plain secret from before 0010 (of the old form) and a secret sealed under the
    old key; the key list becomes [new, old]; the start-up pass leaves both sealed under the new key alone,
    and deliveries, made with the new key only, verify with the secrets the admins were given."""
    old_key, new_key = TEST_KEY, Fernet.generate_key().decode()
    by_plain, by_sealed = receivers(), receivers()
    before = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path, secret_keys=(old_key,))
    try:
        sealed_hook = await before.webhooks.register(by_sealed.url, ["*"], "", None)
    finally:
        await before.stop()
    # The library reads this old-form secret (see the unit tests): it also gets the standard headers.
    legacy_secret = "whsec_" + "Ab9" * 13 + "-_-_"
    legacy_id = str(uuid4())
    async with db.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO notification_webhooks (id, url, events, secret) VALUES (:id, :url, '{*}', :s)"),
            {"id": legacy_id, "url": by_plain.url, "s": legacy_secret},
        )

    rotated = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path, secret_keys=(new_key, old_key))
    try:
        report = await rotated.webhooks.seal_secrets()
        assert (report.encrypted, report.reencrypted, report.unreadable) == (1, 1, 0)
        stored = await _stored_secrets(db)
        new_only = SecretBox([new_key])
        for hook_id, secret in ((legacy_id, legacy_secret), (sealed_hook.id, sealed_hook.secret)):
            plain, sealed, row = stored[hook_id]
            assert plain is None
            assert sealed is not None
            assert secret is not None
            assert secret not in row
            assert new_only.open(sealed) == secret
        again = await rotated.webhooks.seal_secrets()
        assert (again.encrypted, again.reencrypted, again.unreadable) == (0, 0, 0)
        assert await _stored_secrets(db) == stored
        unconfigured = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path, secret_keys=(old_key,))
        try:
            assert (await unconfigured.webhooks.seal_secrets()).unreadable == 2
        finally:
            await unconfigured.stop()
    finally:
        await rotated.stop()

    catalog = await make_catalog(db)
    [outbox_id] = await add_outbox(db, catalog, 1)
    service = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path, secret_keys=(new_key,))
    await service.start()
    try:
        await relay_all(service)
        await eventually(lambda: _count_delivered_is(db, outbox_id, 3), what="both webhooks and the e-mail")
        [got_sealed], [got_plain] = by_sealed.receipts, by_plain.receipts
        assert sealed_hook.secret is not None
        assert verified(sealed_hook.secret, got_sealed)
        assert verified(legacy_secret, got_plain)
        assert not verified(sealed_hook.secret, got_plain)
        timestamp = got_plain.headers["webhook-timestamp"]
        digest = hmac.new(legacy_secret.encode(), f"{timestamp}.".encode() + got_plain.body, hashlib.sha256)
        assert got_plain.headers["x-seatwise-signature"] == f"t={timestamp},v1={digest.hexdigest()}"
        assert got_plain.headers["x-seatwise-delivery"] == str(outbox_id)
    finally:
        await service.stop()


async def test_a_secret_no_configured_key_opens_fails_its_deliveries_with_the_reason(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, receivers: Callable[..., Receiver], tmp_path: Path
) -> None:
    receiver = receivers()
    before = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path)
    try:
        await before.webhooks.register(receiver.url, ["*"], "", None)
    finally:
        await before.stop()
    catalog = await make_catalog(db)
    [outbox_id] = await add_outbox(db, catalog, 1)
    service = pipeline(pipeline_url, backing.redis_url, prefix, tmp_path, secret_keys=(Fernet.generate_key().decode(),))
    await service.start()
    try:
        await relay_all(service)

        async def dead_lettered() -> bool:
            return await service.dead_letters.count() == 1

        await eventually(dead_lettered, what="the delivery to run out of attempts")
        [letter], _ = await service.dead_letters.page(10, None)
        assert letter.outbox_id == outbox_id
        assert any("cannot be decrypted" in failure.error for failure in letter.failures), letter.failures
        assert receiver.receipts == []
    finally:
        await service.stop()


async def _count_delivered_is(database: Database, outbox_id: int, n: int) -> bool:
    return await _count_delivered(database, outbox_id) == n


# -- (d) e-mail ---------------------------------------------------------------------------------------------


async def test_without_an_smtp_host_e_mail_lands_as_eml_files(
    backing: Backing, pipeline_url: str, db: Database, prefix: str, tmp_path: Path
) -> None:
    catalog = await make_catalog(db)
    mail_dir = tmp_path / "mail"
    service = pipeline(pipeline_url, backing.redis_url, prefix, mail_dir)
    [confirmed] = await add_outbox(db, catalog, 1)
    await service.start()
    try:
        await relay_all(service)
        await eventually(lambda: _count_delivered_is(db, confirmed, 1), what="the e-mail")
        [path] = eml_paths(mail_dir)
        assert path.name == f"{confirmed:012d}-booking.confirmed.eml"
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        assert message["To"] == catalog.email
        assert message["Subject"] == f"Your booking for {catalog.title} is confirmed"
        assert message[DELIVERY_HEADER] == str(confirmed)
        body = message.get_content()
        assert "Regal, Pune" in body
        assert "Seats: A1" in body
        assert "250.00" in body
    finally:
        await service.stop()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        parsed = email.message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


async def test_with_an_smtp_host_e_mail_goes_to_the_server() -> None:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = SmtpMailer("127.0.0.1", port, None, None, False, 5.0)
        n = Notification(7, HOLD_EXPIRING, "u", "s", {"expires_at": "2026-12-01T18:10:00Z"}, datetime.now(UTC))
        await mailer.send(render_email(n, Recipient("u", "fan@example.com"), None, "Seatwise <no-reply@x.test>"))
        [received] = inbox.messages
        assert received["To"] == "fan@example.com"
        assert received[DELIVERY_HEADER] == "7"
        assert "held until" in received["Subject"]
    finally:
        controller.stop()


# -- (e) hold reminders -------------------------------------------------------------------------------------


async def test_concurrent_sweeps_write_one_reminder_per_hold_and_deadline(pipeline_url: str, db: Database) -> None:
    catalog = await make_catalog(db)
    holds = {"due": 30, "later": 600, "expired": -5, "released": 30}
    ids = {name: str(uuid4()) for name in holds}
    async with db.engine.begin() as conn:
        for name, seconds in holds.items():
            await conn.execute(
                text(
                    "INSERT INTO holds (id, show_id, user_id, seat_ids, amount, created_at, expires_at, status, epoch) "
                    "VALUES (:i, :s, :u, ARRAY['A1', 'A2'], 500, now(), now() + make_interval(secs => :t), :st, 1)"
                ),
                {
                    "i": ids[name],
                    "s": catalog.show_id,
                    "u": catalog.user_id,
                    "t": seconds,
                    "st": "released" if name == "released" else "active",
                },
            )
    databases = [Database(pipeline_url, 5.0, pool_size=2) for _ in range(4)]
    sweeps = [HoldReminderSweep(d, lead_seconds=60) for d in databases]
    try:
        for _ in range(5):
            await asyncio.gather(*(s.run_once() for s in sweeps))

        async def reminders() -> list[dict[str, Any]]:
            async with db.engine.begin() as conn:
                rows = await conn.execute(
                    text("SELECT payload FROM notification_outbox WHERE kind = :k AND payload->>'hold_id' = ANY(:h)"),
                    {"k": HOLD_EXPIRING, "h": list(ids.values())},
                )
                return [r[0] for r in rows]

        [reminder] = await reminders()
        assert reminder["hold_id"] == ids["due"]
        assert reminder["seat_ids"] == ["A1", "A2"]
        assert reminder["user_id"] == catalog.user_id
        assert reminder["show_id"] == catalog.show_id
        expires = datetime.fromisoformat(reminder["expires_at"])
        assert timedelta(seconds=0) < expires - datetime.now(UTC) <= timedelta(seconds=30)

        # An extension is a new deadline, and earns one new reminder.
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE holds SET expires_at = expires_at + interval '20 seconds' WHERE id = :i"),
                {"i": ids["due"]},
            )
        for _ in range(3):
            await asyncio.gather(*(s.run_once() for s in sweeps))
        assert len(await reminders()) == 2
    finally:
        for database in databases:
            await database.dispose()


# -- the service itself ---------------------------------------------------------------------------------------


async def test_the_service_delivers_outbox_rows_to_webhooks_registered_over_http(
    live_service: Service, receivers: Callable[..., Receiver]
) -> None:
    """The wiring: the API process runs the relay and a consumer, and serves the admin routes."""
    receiver = receivers()
    async with httpx.AsyncClient(base_url=live_service.base_url, timeout=30) as client:
        with httpx.Client(base_url=live_service.base_url, timeout=30) as sync_client:
            admin = admin_headers(sync_client)
            _, customer_token = new_user(sync_client, "webhook-tourist")
        refused = await client.post(
            "/api/v1/admin/webhooks", headers={"Authorization": f"Bearer {customer_token}"}, json={"url": receiver.url}
        )
        assert refused.status_code == 403
        created = await client.post(
            "/api/v1/admin/webhooks", headers=admin, json={"url": receiver.url, "events": ["booking.refunded"]}
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        try:
            database = Database(live_service.backing.database_url, 5.0, pool_size=1)
            try:
                async with database.engine.begin() as conn:
                    outbox_id = (
                        await conn.execute(
                            text(
                                "INSERT INTO notification_outbox (kind, payload) "
                                'VALUES (\'booking.refunded\', \'{"booking_id": "b-e2e", "amount": "1.00"}\') '
                                "RETURNING id"
                            )
                        )
                    ).scalar_one()
            finally:
                await database.dispose()

            async def arrived() -> bool:
                return str(outbox_id) in receiver.deliveries()

            await eventually(arrived, what="the service to deliver the outbox row")
            got = next(r for r in receiver.receipts if r.delivery == str(outbox_id))
            assert got.event == "booking.refunded"
            assert verified(hook["secret"], got)
            assert not verified(hook["secret"], Receipt(got.headers, got.body + b" "))
        finally:
            deleted = await client.delete(f"/api/v1/admin/webhooks/{hook['id']}", headers=admin)
            assert deleted.status_code == 204


# -- the consumer process the crash test kills --------------------------------------------------------------------


def _worker(config: dict[str, str]) -> None:
    async def run() -> None:
        service = pipeline(
            config["database_url"], config["redis_url"], config["prefix"], Path(config["mail"]), consumer_name="doomed"
        )
        await service.start()
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
