"""Delivery: a member of the Redis consumer group that turns stream entries into e-mails and webhook POSTs.

For each entry the consumer works out the targets (the account's e-mail address, every webhook whose
filter matches) and, in rounds, attempts each target not yet delivered, all at once. The delivery ledger
decides who may send (``notifications.ledger``): a target delivered before, whichever entry or process
did it, is skipped. When every target is delivered the entry is acknowledged (and deleted: the stream only
holds work not yet done). A failed attempt is retried after an exponential back-off; once a target is out
of attempts and nothing else is pending, the entry goes to the dead letters with the reason, atomically
with its acknowledgement.

Crashes: an entry stays in the group's pending list until acknowledged. While it works on an entry the
consumer keeps the entry's idle time low (``XCLAIM … JUSTID`` to itself between rounds); an entry idle
longer than ``claim_idle_seconds`` belongs to a consumer that died, and any consumer takes it over with
``XAUTOCLAIM``. Redis or PostgreSQL being down delays delivery and loses nothing. A finished entry is
recorded in ``notification_outcomes`` before it is acknowledged; if the consumer finds its group missing
(Redis restarted empty), it tells the service, whose relay sends the unfinished events again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import partial

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from notifications import streams
from notifications.dead_letters import DeadLetters, Failure
from notifications.events import MalformedEntry, Notification
from notifications.ledger import ClaimState, DeliveryLedger
from notifications.mail import Mailer, Recipient, ShowDetails, render_email
from notifications.outage import Outage
from notifications.retry import RetryPolicy
from notifications.streams import StreamNames
from notifications.webhooks import WebhookSender, WebhookStore
from persistence.database import Database
from persistence.periodic import StopFlag, repeat

log = logging.getLogger("booking.notifications")

HELD_PER_SLOT = 16

RECIPIENT = text(
    """
    SELECT u.email, u.name, u.role, m.title, t.name AS theater, t.city, s.starts_at
    FROM users u
    LEFT JOIN shows s ON s.id = :show_id
    LEFT JOIN movies m ON m.id = s.movie_id
    LEFT JOIN theaters t ON t.id = s.theater_id
    WHERE u.id = :user_id
    """
)


class Outcome(Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # this attempt failed (counted)
    PENDING = "pending"  # not decided here: an attempt in flight elsewhere, or the ledger was unreachable


@dataclass(frozen=True, slots=True)
class TargetResult:
    label: str
    outcome: Outcome
    attempts: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    channel: str  # "email" | "webhook"
    key: str  # a user id | a webhook id
    send: Callable[[], Awaitable[None]]
    timeout_seconds: float

    @property
    def label(self) -> str:
        return f"{self.channel}:{self.key}"


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    name: str
    concurrency: int  # delivery rounds in flight at once
    claim_idle_seconds: float
    webhook_timeout_seconds: float
    mail_timeout_seconds: float
    mail_from: str
    lease_margin_seconds: float = 5.0
    block_ms: int = 1000


@dataclass(eq=False)
class Consumer:
    """One member of the group: reads new entries, delivers them, takes over abandoned ones."""

    redis: aioredis.Redis
    database: Database
    names: StreamNames
    config: ConsumerConfig
    policy: RetryPolicy
    webhooks: WebhookStore
    sender: WebhookSender
    mailer: Mailer
    on_stream_lost: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self._ledger = DeliveryLedger(self.database)
        self._dead = DeadLetters(self.redis, self._ledger, self.names)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Rounds in flight are bounded by ``concurrency``; an entry waiting out its back-off holds no slot,
        # so a webhook that keeps failing does not hold up everyone else's e-mail. The entries one consumer
        # holds (in rounds or waiting) are bounded too, leaving the rest of the stream to other consumers.
        self._rounds = asyncio.Semaphore(self.config.concurrency)
        self._max_held = self.config.concurrency * HELD_PER_SLOT
        self._busy = 0  # entries in a round or about to start one (not waiting out a back-off)
        self._slot_freed = asyncio.Event()
        self._stopping = StopFlag()
        self._redis_outage = Outage(log, "notification stream (Redis)")
        self._db_outage = Outage(log, "notification delivery (PostgreSQL)")

    # -- the group ---------------------------------------------------------------------------------------

    async def ensure_group(self) -> bool:
        """Create the consumer group if it is missing; True if it was (a new or an emptied Redis)."""
        try:
            await self.redis.xgroup_create(self.names.stream, self.names.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        if self.on_stream_lost is not None:
            self.on_stream_lost()
        return True

    async def run(self) -> None:
        """Read new entries and take over abandoned ones until ``stop`` is called."""
        while not self._stopping.is_set():
            try:
                await self.ensure_group()
                self._redis_outage.ok()
                break
            except (RedisError, OSError) as exc:
                await self._stopping.pause(self._redis_outage.failed(exc))
        async with asyncio.TaskGroup() as group:
            group.create_task(self._read_loop())
            group.create_task(self._claim_loop())

    def stop(self) -> None:
        """Ask every loop and delivery to end at its next step (entries not finished stay pending).

        A flag, not cancellation (``persistence.periodic.StopFlag``)."""
        self._stopping.set()

    async def close(self, grace_seconds: float = 2.0) -> None:
        """Stop; let in-flight deliveries finish for a moment; the rest stay pending for another consumer."""
        self.stop()
        tasks = list(self._tasks.values())
        if tasks:
            _, unfinished = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in unfinished:
                task.cancel()
            if unfinished:
                _, stuck = await asyncio.wait(unfinished, timeout=grace_seconds)
                if stuck:
                    log.error("%d notification deliveries did not stop", len(stuck))
        try:
            pending = await self.redis.xpending_range(
                self.names.stream, self.names.group, "-", "+", 1, consumername=self.config.name
            )
            if not pending:
                await self.redis.xgroup_delconsumer(self.names.stream, self.names.group, self.config.name)
        except (RedisError, OSError) as exc:
            log.debug("could not retire consumer %s: %r", self.config.name, exc)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _free(self) -> int:
        return max(0, min(self.config.concurrency - self._busy, self._max_held - len(self._tasks)))

    def _spawn(self, entry_id: str, fields: Mapping[str, str]) -> None:
        if entry_id in self._tasks:
            return
        task = asyncio.create_task(self._handle(entry_id, dict(fields)), name=f"notification {entry_id}")
        self._tasks[entry_id] = task
        self._busy += 1  # until it finishes or backs off; counted now, so the next read asks for less
        task.add_done_callback(lambda t: self._done(entry_id, t))

    def _done(self, entry_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.pop(entry_id, None)
        self._busy -= 1
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery of stream entry %s failed unexpectedly", entry_id, exc_info=task.exception())

    async def _read_loop(self) -> None:
        await repeat(
            self._read_round,
            self._redis_outage.failed,
            stop=self._stopping,
            errors=(RedisError, OSError),
            fatal=(ResponseError,),
        )

    async def _read_round(self) -> float:
        """Read as many new entries as there are free slots (waiting a moment for one if there are none)."""
        self._slot_freed.clear()
        if self._free() <= 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self._slot_freed.wait()
            return 0.0
        try:
            response = await self.redis.xreadgroup(
                self.names.group,
                self.config.name,
                {self.names.stream: ">"},
                count=self._free(),
                block=self.config.block_ms,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._recreate_group(exc)  # Redis lost the stream (restarted empty): start again
            return 0.0
        self._redis_outage.ok()
        for entry_id, fields in streams.read_entries(response):
            self._spawn(entry_id, fields)
        return 0.0

    async def _recreate_group(self, exc: BaseException) -> None:
        try:
            await self.ensure_group()
        except (RedisError, OSError) as again:
            await self._stopping.pause(self._redis_outage.failed(again))
        else:
            log.warning("notification consumer group was missing (%r); created it again", exc)

    def _claim_interval(self) -> float:
        return min(30.0, max(0.1, self.config.claim_idle_seconds / 4))

    async def _claim_loop(self) -> None:
        await repeat(
            self._claim_round,
            self._claim_failed,
            stop=self._stopping,
            errors=(RedisError, OSError),
            fatal=(ResponseError,),
            first_pause=self._claim_interval(),
        )

    async def _claim_round(self) -> float:
        try:
            await self.claim_abandoned()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._recreate_group(exc)
        return self._claim_interval()

    def _claim_failed(self, exc: Exception) -> float:
        """Redis down: the back-off, then the usual interval."""
        return self._redis_outage.failed(exc) + self._claim_interval()

    async def claim_abandoned(self) -> int:
        """Take over entries pending longer than the idle timeout at any consumer; returns how many."""
        start, claimed = "0-0", 0
        while self._free() > 0 and not self._stopping.is_set():
            reply = await self.redis.xautoclaim(
                self.names.stream,
                self.names.group,
                self.config.name,
                int(self.config.claim_idle_seconds * 1000),
                start,
                count=self._free(),
            )
            next_start = streams.ids(reply[:1])[0]
            deleted = streams.ids(reply[2]) if len(reply) > 2 else []
            if deleted:  # trimmed away before anyone finished them: nothing left to deliver
                await self.redis.xack(self.names.stream, self.names.group, *deleted)
            for entry_id, fields in streams.entries(reply[1]):
                if fields:
                    claimed += entry_id not in self._tasks
                    self._spawn(entry_id, fields)
            if next_start in ("0-0", start):
                break
            start = next_start
        return claimed

    async def _keep(self, entry_id: str) -> None:
        """Reset the entry's idle time, so that nobody takes over an entry this consumer is working on."""
        try:
            await self.redis.xclaim(self.names.stream, self.names.group, self.config.name, 0, [entry_id], justid=True)
        except (RedisError, OSError) as exc:
            log.debug("could not refresh stream entry %s: %r", entry_id, exc)

    # -- one entry ---------------------------------------------------------------------------------------

    async def _back_off(self, entry_id: str, seconds: float) -> bool:
        """Wait before the next round without counting as busy (another entry may use the slot).
        False if the consumer is stopping (the entry stays pending)."""
        self._busy -= 1
        self._slot_freed.set()
        try:
            deadline = asyncio.get_running_loop().time() + seconds
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                await self._keep(entry_id)  # however long the back-off, nobody takes the entry over meanwhile
                if await self._stopping.pause(min(left, self.config.claim_idle_seconds / 3)):
                    return False
            return not self._stopping.is_set()
        finally:
            self._busy += 1

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            notification = Notification.from_stream_fields(fields)
        except MalformedEntry as exc:
            await self._bury(entry_id, fields, str(exc), [])
            return
        while not self._stopping.is_set():
            try:
                async with self._rounds:
                    results = await self.deliver(notification)
                self._db_outage.ok()
            except IntegrityError:
                await self._bury(entry_id, fields, f"outbox row {notification.outbox_id} does not exist", [])
                return
            except Exception as exc:  # PostgreSQL unreachable while finding the targets: try again later
                if not await self._back_off(entry_id, self._db_outage.failed(exc)):
                    return
                continue
            failed = [r for r in results if r.outcome is Outcome.FAILED]
            retrying = [r for r in failed if not self.policy.exhausted(r.attempts)]
            waiting = any(r.outcome is Outcome.PENDING for r in results)
            if not retrying and not waiting:
                if failed:
                    failures = [Failure(r.label, r.attempts, r.error) for r in failed]
                    reason = "; ".join(f"{f.target}: {f.error} after {f.attempts} attempts" for f in failures)
                    await self._bury(entry_id, fields, reason, failures, notification.outbox_id)
                else:
                    await self._ack(entry_id, notification.outbox_id)
                return
            attempts = max((r.attempts for r in retrying), default=1)
            if not await self._back_off(entry_id, self.policy.delay(attempts)):
                return

    async def _settle(self, outbox_id: int | None, outcome: str) -> None:
        if outbox_id is None:
            return
        try:
            await self._ledger.settle(outbox_id, outcome)
        except Exception as exc:  # only costs a needless requeue should Redis ever lose the stream
            log.warning("could not record outbox %s as %s: %r", outbox_id, outcome, exc)

    async def _ack(self, entry_id: str, outbox_id: int) -> None:
        await self._settle(outbox_id, "delivered")
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(self.names.stream, self.names.group, entry_id)
                pipe.xdel(self.names.stream, entry_id)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # Still pending: whoever takes it over finds every target delivered and acknowledges it.
            log.warning("could not acknowledge stream entry %s: %r", entry_id, exc)

    async def _bury(
        self,
        entry_id: str,
        fields: Mapping[str, str],
        reason: str,
        failures: list[Failure],
        outbox_id: int | None = None,
    ) -> None:
        await self._settle(outbox_id, "dead")
        try:
            dead_id = await self._dead.bury(entry_id, fields, reason, failures)
        except (RedisError, OSError) as exc:
            log.warning("could not dead-letter stream entry %s: %r", entry_id, exc)
            return
        log.warning("notification %s dead-lettered as %s: %s", fields.get("outbox_id", "?"), dead_id, reason)

    async def deliver(self, notification: Notification) -> list[TargetResult]:
        """One round: attempt every target of the event that is not delivered yet, concurrently."""
        targets = await self.targets(notification)
        return list(await asyncio.gather(*(self._attempt(notification, t) for t in targets)))

    async def targets(self, notification: Notification) -> list[Target]:
        targets: list[Target] = []
        if notification.is_moot(datetime.now(UTC)):
            return targets
        user_id = notification.recipient_id()
        if user_id is not None:
            async with self.database.engine.begin() as conn:
                row = (
                    await conn.execute(RECIPIENT, {"user_id": user_id, "show_id": notification.about_show() or ""})
                ).first()
            # A box-office desk sells to walk-in customers: its account is not the one to tell.
            if row is not None and row.role != "box_office":
                recipient = Recipient(user_id, row.email, row.name)
                show = ShowDetails(row.title, row.theater, row.city, row.starts_at) if row.title is not None else None
                message = render_email(notification, recipient, show, self.config.mail_from)
                send_mail = partial(self.mailer.send, message)
                targets.append(Target("email", user_id, send_mail, self.config.mail_timeout_seconds))
        for hook in await self.webhooks.matching(notification.kind):
            post = partial(self.sender.send, hook, notification)
            targets.append(Target("webhook", hook.id, post, self.config.webhook_timeout_seconds))
        return targets

    async def _attempt(self, notification: Notification, target: Target) -> TargetResult:
        lease = target.timeout_seconds + self.config.lease_margin_seconds
        try:
            claim = await self._ledger.claim(
                notification.outbox_id, target.channel, target.key, lease, self.policy.max_attempts
            )
        except IntegrityError:
            raise
        except Exception as exc:
            log.debug("delivery ledger unavailable for outbox %s: %r", notification.outbox_id, exc)
            return TargetResult(target.label, Outcome.PENDING)
        if claim.state is ClaimState.DELIVERED:
            return TargetResult(target.label, Outcome.DELIVERED, claim.attempts)
        if claim.state is ClaimState.BUSY:
            return TargetResult(target.label, Outcome.PENDING, claim.attempts)
        if claim.state is ClaimState.EXHAUSTED:
            return TargetResult(target.label, Outcome.FAILED, claim.attempts, claim.last_error or "out of attempts")
        try:
            async with asyncio.timeout(target.timeout_seconds):
                await target.send()
        except Exception as exc:
            error = getattr(exc, "reason", None) or (
                "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"[:500]
            )
            try:
                await self._ledger.failed(notification.outbox_id, target.channel, target.key, error)
            except Exception as ledger_exc:
                log.debug("could not record a failed attempt: %r", ledger_exc)
            return TargetResult(target.label, Outcome.FAILED, claim.attempts, error)
        try:
            await self._ledger.succeeded(notification.outbox_id, target.channel, target.key)
        except Exception as exc:
            # Sent but not recorded: the lease runs out and a later attempt sends again (same delivery id).
            log.warning("delivered outbox %s to %s but could not record it: %r", notification.outbox_id, target, exc)
            return TargetResult(target.label, Outcome.PENDING, claim.attempts)
        return TargetResult(target.label, Outcome.DELIVERED, claim.attempts)
