"""``NotificationService``: the notification pipeline's stages as asyncio tasks in an API process.

``start`` runs the hold-reminder sweep, the outbox relay and a delivery consumer; ``stop`` ends them
(entries in flight stay pending in Redis, and another consumer takes them over). Every stage is safe to
run in several processes at once, so each API process simply runs all three. The admin API reaches the
webhook registry and the dead letters through this object too. ``main.py`` builds it from the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass, replace

import redis.asyncio as aioredis

from notifications.consumer import Consumer, ConsumerConfig
from notifications.dead_letters import DeadLetters
from notifications.ledger import DeliveryLedger
from notifications.mail import MailDirMailer, Mailer, SmtpMailer
from notifications.outage import Outage
from notifications.outbox import HoldReminderSweep, OutboxRelay
from notifications.retry import RetryPolicy
from notifications.secret_box import KEY_FILE_NAME, SecretBox, load_or_create_key_file, parse_keys
from notifications.streams import StreamNames
from notifications.webhooks import SealReport, WebhookSender, WebhookStore
from persistence.database import Database
from persistence.periodic import StopFlag, repeat
from settings import Settings

log = logging.getLogger("booking.notifications")


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class NotificationConfig:
    redis_prefix: str
    hold_reminder_seconds: float = 60.0
    sweep_interval_seconds: float = 5.0
    relay_interval_seconds: float = 0.5
    relay_batch_size: int = 500
    max_attempts: int = 6
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    retry_jitter: float = 0.2
    claim_idle_seconds: float = 120.0
    concurrency: int = 8
    webhook_timeout_seconds: float = 5.0
    mail_timeout_seconds: float = 10.0
    mail_from: str = "Seatwise <no-reply@seatwise.local>"
    lease_margin_seconds: float = 5.0
    block_ms: int = 1000
    # How far back events are relayed again when Redis turns out to have lost the stream.
    requeue_window_seconds: float = 24 * 3600.0
    # Which stages this process runs (all of them, unless notifications are switched off).
    run_sweep: bool = True
    run_relay: bool = True
    run_consumer: bool = True
    consumer_name: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> NotificationConfig:
        enabled = settings.notifications_enabled
        return cls(
            redis_prefix=settings.redis_prefix,
            hold_reminder_seconds=settings.hold_reminder_seconds,
            sweep_interval_seconds=settings.notification_sweep_interval_seconds,
            relay_interval_seconds=settings.notification_relay_interval_seconds,
            max_attempts=settings.notification_max_attempts,
            retry_base_seconds=settings.notification_retry_base_seconds,
            retry_max_seconds=max(settings.notification_retry_max_seconds, settings.notification_retry_base_seconds),
            claim_idle_seconds=settings.notification_claim_idle_seconds,
            concurrency=settings.notification_concurrency,
            webhook_timeout_seconds=settings.webhook_timeout_seconds,
            mail_timeout_seconds=settings.smtp_timeout_seconds,
            mail_from=settings.smtp_from,
            run_sweep=enabled,
            run_relay=enabled,
            run_consumer=enabled,
        )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.retry_base_seconds, self.retry_max_seconds, self.retry_jitter)


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when a host is configured; otherwise .eml files under ``mail_dir`` (default data_dir/mail)."""
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            settings.smtp_starttls,
            settings.smtp_timeout_seconds,
        )
    return MailDirMailer(settings.mail_dir or settings.data_dir / "mail")


def secret_box_from_settings(settings: Settings) -> SecretBox:
    """The keys webhook secrets are sealed with: ``BOOKING_WEBHOOK_SECRET_KEYS`` when set, else the key
    file in the data directory (generated on first use; see ``notifications.secret_box``)."""
    if settings.webhook_secret_keys is not None:
        return SecretBox(parse_keys(settings.webhook_secret_keys.get_secret_value()))
    return SecretBox(load_or_create_key_file(settings.data_dir / KEY_FILE_NAME))


async def seal_webhook_secrets(settings: Settings, database: Database) -> SealReport:
    """The start-up pass of ``WebhookStore.seal_secrets`` (``main.py`` runs it once, before serving), logged."""
    report = await WebhookStore(database, secret_box_from_settings(settings)).seal_secrets()
    if report.encrypted or report.reencrypted:
        log.info(
            "webhook secrets: %d encrypted at rest, %d re-encrypted under the first key",
            report.encrypted,
            report.reencrypted,
        )
    if report.unreadable:
        log.error(
            "%d webhook secrets cannot be decrypted with the configured keys (BOOKING_WEBHOOK_SECRET_KEYS or "
            "data_dir/webhook-secret-keys): deliveries to those webhooks fail until the key that sealed them is "
            "configured again (or the webhooks are registered anew)",
            report.unreadable,
        )
    return report


class NotificationService:
    def __init__(
        self,
        config: NotificationConfig,
        database: Database,
        redis_url: str,
        mailer: Mailer,
        owns_database: bool = False,
        *,
        secret_box: SecretBox,
    ) -> None:
        self.config = replace(config, consumer_name=config.consumer_name or consumer_name())
        self._tasks: list[asyncio.Task[None]] = []
        self._relay_wakeup = asyncio.Event()
        self._stopping = StopFlag()
        self._requeue_due = False
        self.database = database
        self._owns_database = owns_database
        # Its own connection: XREADGROUP blocks for block_ms, longer than the API's short socket timeout.
        self.redis = aioredis.Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_timeout=config.block_ms / 1000 + 5,
            socket_connect_timeout=2,
        )
        self.names = StreamNames.for_prefix(config.redis_prefix)
        self.ledger = DeliveryLedger(database)
        self.webhooks = WebhookStore(database, secret_box)
        self.dead_letters = DeadLetters(self.redis, self.ledger, self.names)
        self.sweep = HoldReminderSweep(database, config.hold_reminder_seconds)
        self.relay = OutboxRelay(database, self.redis, self.names.stream, config.relay_batch_size)
        self.mailer = mailer
        self.sender = WebhookSender(config.webhook_timeout_seconds)
        assert self.config.consumer_name is not None
        self.consumer = Consumer(
            self.redis,
            database,
            self.names,
            ConsumerConfig(
                name=self.config.consumer_name,
                concurrency=config.concurrency,
                claim_idle_seconds=config.claim_idle_seconds,
                webhook_timeout_seconds=config.webhook_timeout_seconds,
                mail_timeout_seconds=config.mail_timeout_seconds,
                mail_from=config.mail_from,
                lease_margin_seconds=config.lease_margin_seconds,
                block_ms=config.block_ms,
            ),
            config.retry_policy(),
            self.webhooks,
            self.sender,
            mailer,
            on_stream_lost=self._stream_lost,
        )

    @classmethod
    def from_settings(cls, settings: Settings, database_url: str, redis_url: str) -> NotificationService:
        database = Database(database_url, settings.db_timeout_seconds, pool_size=4)
        return cls(
            NotificationConfig.from_settings(settings),
            database,
            redis_url,
            mailer_from_settings(settings),
            owns_database=True,
            secret_box=secret_box_from_settings(settings),
        )

    async def start(self) -> None:
        if self._tasks:
            return
        if self.config.run_sweep:
            self._tasks.append(asyncio.create_task(self._sweep_loop(), name="notifications: reminder sweep"))
        if self.config.run_relay:
            self._tasks.append(asyncio.create_task(self._relay_loop(), name="notifications: relay"))
        if self.config.run_consumer:
            self._tasks.append(asyncio.create_task(self.consumer.run(), name="notifications: consumer"))

    async def stop(self, grace_seconds: float = 2.0) -> None:
        """Ask the loops to end (a flag: see ``Consumer.stop``), wait for them, cancel what is left."""
        loops, self._tasks = self._tasks, []
        self._stopping.set()
        self._relay_wakeup.set()
        self.consumer.stop()
        if loops:
            done, unfinished = await asyncio.wait(loops, timeout=self.config.block_ms / 1000 + grace_seconds)
            for task in unfinished:
                task.cancel()
            if unfinished:
                _, stuck = await asyncio.wait(unfinished, timeout=grace_seconds)
                if stuck:  # stopping must never hang the process's shutdown
                    log.error("notification tasks did not stop: %s", ", ".join(t.get_name() for t in stuck))
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s had failed", task.get_name(), exc_info=task.exception())
        await self.consumer.close(grace_seconds)
        await self.sender.aclose()
        await self.redis.aclose()
        if self._owns_database:
            await self.database.dispose()

    def wake_relay(self) -> None:
        self._relay_wakeup.set()

    def _stream_lost(self) -> None:
        """The consumer group had to be created: Redis is new or lost its data, and with it possibly
        events that were relayed but never delivered. The relay sends those again."""
        self._requeue_due = True
        self.wake_relay()

    async def requeue_unfinished(self) -> int:
        requeued = await self.relay.requeue_unfinished(self.config.requeue_window_seconds)
        if requeued:
            log.warning("Redis had no notification stream: relaying %d unfinished events again", requeued)
        return requeued

    async def _sweep_loop(self) -> None:
        outage = Outage(log, "hold-reminder sweep")

        async def sweep() -> float:
            written = await self.sweep.run_once()
            outage.ok()
            if written:
                self.wake_relay()
            return self.config.sweep_interval_seconds

        await repeat(sweep, outage.failed, stop=self._stopping)

    async def _relay_loop(self) -> None:
        outage = Outage(log, "notification relay")  # Redis or PostgreSQL down: the rows wait in the outbox
        group_checked = False

        async def relay() -> float:
            nonlocal group_checked
            if not group_checked:
                # Before the first batch: if Redis lost the stream, requeue before relaying anything new.
                await self.consumer.ensure_group()
                group_checked = True
            if self._requeue_due:
                await self.requeue_unfinished()
                self._requeue_due = False
            moved = await self.relay.run_once()
            outage.ok()
            if moved < self.relay.batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.relay_interval_seconds):
                        await self._relay_wakeup.wait()
                self._relay_wakeup.clear()
            return 0.0

        await repeat(relay, outage.failed, stop=self._stopping)
