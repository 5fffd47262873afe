"""Every setting of the service, read from the environment once by ``main.py`` and passed down.

Names follow the pinned contract: ``DATABASE_URL``, ``REDIS_URL``, ``RAY_ADDRESS`` and
``PAYMENT_GATEWAY_URL`` choose real services (unset means: start embedded ones under ``BOOKING_DATA_DIR``,
or the simulated payment gateway), and every other knob is a ``BOOKING_*`` variable. Nothing else in the
code base reads the environment.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Re-exported: tools and tests take the URL forms from here; show actors import persistence.urls directly.
from persistence.urls import libpq_url as libpq_url
from persistence.urls import sqlalchemy_url as sqlalchemy_url

# The API process's share of a node's CPU per hold on the hot path, measured on a 2-core node (issue 16,
# docs/measurements.md): API ~0.50 ms, the show's actor ~0.52 ms, PostgreSQL ~0.18 ms of CPU per hold.
API_CPU_SHARE = 0.42


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform says, else the machine's)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def api_workers_for(cores: int) -> int:
    """API processes for a node of ``cores`` cores: a second process pays only once one API process is the
    node's wall, that is once the node has more than 1 / ``API_CPU_SHARE`` (~2.4) cores to feed; rounded
    down, since each API process has a lane of its own per show and so splits a hot show's batches (two
    processes on 2 cores: 0.73x one). 2 to 4 cores: 1; 5 to 7: 2; 8: 3; 16: 6."""
    return max(1, int(cores * API_CPU_SHARE))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKING_", extra="ignore", frozen=True)

    # Services. Unset URLs mean "embedded": main.py starts them under data_dir.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL"))
    ray_address: str | None = Field(default=None, validation_alias=AliasChoices("RAY_ADDRESS"))
    payment_gateway_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PAYMENT_GATEWAY_URL"),
        description="Base URL of the payment gateway service; unset: main.py starts the simulated one.",
    )
    data_dir: Path = Path(".data")

    # Accounts.
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    secret_key: SecretStr | None = Field(
        default=None, description="Signs access tokens; generated once and kept in data_dir when unset."
    )
    token_ttl_seconds: int = Field(default=3600, ge=60)

    # Booking rules.
    hold_ttl_seconds: int = Field(default=600, ge=1)
    max_seats_per_user: int = Field(default=10, ge=1)
    max_seats_per_request: int = Field(default=10, ge=1)
    max_hold_extensions: int = Field(default=2, ge=0)
    payment_window_seconds: float = Field(
        default=120.0, gt=0, le=3600, description="extra time a hold gets while it is being paid for (bounded)"
    )
    convenience_fee_per_ticket: Decimal = Field(
        default=Decimal(0), ge=0, le=100_000, description="added to each ticket's price, shown in the breakdown"
    )
    cancellation_cutoff_minutes: int = Field(
        default=60, ge=0, description="customers may cancel a booking until this long before the show"
    )
    cancellation_fee_percent: Decimal = Field(
        default=Decimal(10), ge=0, le=100, description="share of the seats' price kept when a customer cancels"
    )
    sales_cutoff_minutes: int = Field(
        default=0, ge=0, description="sales of a show stop this long before it starts (unless the show sets a time)"
    )
    payment_settle_after_seconds: float = Field(
        default=30.0, gt=0, description="a payment still pending this long is settled by the reconciler"
    )
    reconcile_interval_seconds: float = Field(default=5.0, gt=0, description="how often the reconciler runs")
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_window_seconds: int = Field(
        default=60, ge=1, le=3600, description="sliding window the per-minute rate is counted over"
    )
    # Login limits (api/rate_limit.py), against credential stuffing: far tighter than the general limit,
    # counted in Redis like it, on only while it is (BOOKING_RATE_LIMIT_PER_MINUTE > 0); 0 turns one off.
    login_attempts_per_account: int = Field(
        default=10,
        ge=0,
        description="login attempts per account (the form's username) per window; a correct password clears it",
    )
    login_account_window_seconds: int = Field(
        default=900, ge=1, le=86_400, description="window the per-account login attempts are counted over"
    )
    login_attempts_per_address: int = Field(
        default=30, ge=0, description="login attempts per client address per window, successful ones included"
    )
    login_address_window_seconds: int = Field(
        default=60, ge=1, le=86_400, description="window the per-address login attempts are counted over"
    )

    # Runtime.
    api_workers: int = Field(
        default_factory=lambda: api_workers_for(usable_cores()),
        ge=1,
        le=64,
        description=(
            "API processes serving the port, each a Ray driver; by default one per 1/API_CPU_SHARE cores the "
            "process may use, at least one (api_workers_for, docs/measurements.md)"
        ),
    )
    gc_freeze: bool = Field(
        default=True,
        description=(
            "move everything alive after start-up out of the garbage collector's reach (gc.freeze): the "
            "collector then stops rescanning Ray's, SQLAlchemy's and FastAPI's long-lived objects on every "
            "full collection under load (docs/measurements.md)"
        ),
    )
    fast_holds: bool = Field(
        default=True,
        description=(
            "answer hold requests (v1 holds, v0 HoldSeat) before routing, with the routes' own validation, "
            "auth and answers (api/fast_holds.py); false: every hold walks the FastAPI route"
        ),
    )
    ray_namespace: str = "booking"
    redis_prefix: str = "booking:"
    seed_demo_catalog: bool = True
    batch_max_size: int = Field(default=256, ge=1)
    batch_max_in_flight: int = Field(
        default=2,
        ge=1,
        le=16,
        description="actor calls per show an API process keeps in flight (batches pipeline with commits)",
    )
    batch_pipeline_min_pending: int = Field(
        default=8,
        ge=1,
        description=(
            "requests that must be waiting in a show's lane before a second (or later) actor call starts "
            "while one is in flight; fewer wait for the call in flight and travel together in the next, so a "
            "show with a few requests at a time makes one commit for them, not one each (docs/measurements.md)"
        ),
    )
    db_timeout_seconds: float = Field(default=5.0, gt=0)
    actor_call_timeout_seconds: float = Field(default=10.0, gt=0)
    seatmap_publish_interval_seconds: float = Field(default=0.2, gt=0)
    seatmap_max_staleness_seconds: float = Field(default=2.0, gt=0)
    show_actor_num_cpus: float = Field(default=0.0, ge=0)
    show_actor_memory_mb: int = Field(
        default=96,
        ge=0,
        le=65536,
        description=(
            "memory Ray reserves on a node for each show actor (its `memory=` request; 0 = none): the measured "
            "private memory of one actor is ~64 MiB (docs/measurements.md), plus headroom for big shows"
        ),
    )
    show_actor_niceness: int | None = Field(
        default=0,
        ge=-20,
        le=19,
        description=(
            "CPU priority (nice) a show actor asks for; Ray starts workers at 15 so background tasks yield, "
            "but a show actor is on every booking's path (docs/measurements.md). Unset keeps Ray's."
        ),
    )
    prewarm_lead_seconds: float = Field(
        default=120.0,
        ge=0,
        description=(
            "activate the actors of shows whose sales open within this many seconds, so the first buyer "
            "after on-sale time does not pay the actor's cold start (routing/prewarm.py); 0 turns it off"
        ),
    )
    prewarm_interval_seconds: float = Field(
        default=10.0, gt=0, description="how often each API process looks for shows about to go on sale"
    )
    # Waiting rooms (waiting_room/, docs/waiting-room.md).
    queue_admission_window_seconds: int = Field(
        default=600, ge=10, description="how long an admitted account has to hold seats before its pass lapses"
    )
    queue_admit_per_second: float = Field(
        default=20.0, gt=0, description="the most accounts a waiting room admits per second (the actor's pace)"
    )
    waiting_list_offer_seconds: float = Field(
        default=300.0, ge=1, description="how long seats offered to the next on a waiting list are kept for them"
    )
    queue_round_seconds: float = Field(
        default=1.0, gt=0, le=2.0, description="how often each API process runs the admission rounds it can lock"
    )
    # Where shows live (actors/show_host.py, docs/architecture.md).
    show_placement: Literal["dedicated", "hosted"] = Field(
        default="hosted",
        description=(
            "hosted (default): shows are virtual actors in BOOKING_SHOW_HOSTS shared host actors, activated "
            "on demand and passivated when idle; dedicated: every show a Ray actor (process) of its own"
        ),
    )
    show_hosts: int = Field(default=2, ge=1, le=4096, description="host actors (hosted placement)")
    show_idle_seconds: float = Field(
        default=120.0, gt=0, description="a hosted show with no command for this long is passivated"
    )
    show_host_max_shows: int | None = Field(
        default=None,
        ge=1,
        description=(
            "live-show budget of one host; unset: derived from the node's memory (show_memory_mb per show, "
            "a quarter of the node for all hosts) and reported at start"
        ),
    )
    show_memory_mb: float = Field(
        default=4.0, gt=0, description="memory one hosted show may take (a 6,000-seat map with holds: ~3 MiB)"
    )
    show_host_db_connections: int = Field(
        default=4, ge=1, le=100, description="PostgreSQL connections one host's shows share"
    )
    show_host_recycle_seconds: float = Field(
        default=30.0,
        ge=0,
        description=(
            "a host with no live show and no call for this long exits, giving its memory back; the next call "
            "for one of its shows starts a fresh one (0: hosts never exit)"
        ),
    )
    show_promote_rate: float = Field(
        default=200.0,
        ge=0,
        description=(
            "hosted placement: a show above this many commands/s (over a 2 s sliding window) moves from its "
            "host to a Ray actor of its own, and back when idle for show_idle_seconds (0: never)"
        ),
    )
    show_actor_scheduling: Literal["SPREAD", "DEFAULT"] = Field(
        default="SPREAD",
        description="Ray scheduling strategy of show actors: SPREAD places them over the nodes, best effort",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text lines for humans, or one JSON object per line with the request id (api/observability.py)",
    )
    payment_timeout_seconds: float = Field(
        default=5.0, gt=0, description="timeout of one request to the payment gateway (each attempt)"
    )
    payment_attempts: int = Field(
        default=3, ge=1, le=10, description="tries per payment gateway call (transport errors, timeouts, 5xx)"
    )

    # Notifications (notifications/): outbox → Redis Stream → e-mail and webhooks.
    notifications_enabled: bool = Field(
        default=True, description="run the hold-reminder sweep, the outbox relay and delivery in this process"
    )
    hold_reminder_seconds: float = Field(
        default=60.0, gt=0, description="send `hold.expiring` this long before a hold expires"
    )
    notification_sweep_interval_seconds: float = Field(
        default=5.0, gt=0, description="how often the hold-reminder sweep runs"
    )
    notification_relay_interval_seconds: float = Field(
        default=0.5, gt=0, description="how often the relay looks for outbox rows to move to the Redis Stream"
    )
    notification_max_attempts: int = Field(
        default=6, ge=1, le=100, description="delivery attempts per target before the event is dead-lettered"
    )
    notification_retry_base_seconds: float = Field(
        default=1.0, gt=0, description="first retry delay; doubles after each failed attempt"
    )
    notification_retry_max_seconds: float = Field(default=60.0, gt=0, description="longest retry delay")
    notification_claim_idle_seconds: float = Field(
        default=120.0, gt=0, description="an entry pending this long at a silent consumer is taken over"
    )
    notification_concurrency: int = Field(
        default=8, ge=1, le=256, description="stream entries one process delivers at once"
    )
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, description="bound on one webhook POST")
    # Webhook signing secrets are kept encrypted (notifications/secret_box.py). The first key encrypts,
    # every key decrypts; at start-up secrets sealed by a later key are re-encrypted under the first.
    webhook_secret_keys: SecretStr | None = Field(
        default=None,
        description="comma-separated Fernet keys for webhook secrets, newest first; unset: a key generated "
        "once in data_dir/webhook-secret-keys (mode 0600). Set it, the same everywhere, when API processes "
        "run on several machines",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mail; unset: messages are written as .eml files to mail_dir"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="port of the SMTP server")
    smtp_username: str | None = Field(default=None, description="SMTP login; unset: send without logging in")
    smtp_password: SecretStr | None = Field(default=None, description="password of the SMTP login")
    smtp_from: str = Field(default="Seatwise <no-reply@seatwise.local>", description="the From: of every e-mail")
    smtp_starttls: bool = Field(default=True, description="upgrade the SMTP connection with STARTTLS")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, description="bound on sending one e-mail")
    mail_dir: Path | None = Field(
        default=None, description="where .eml files go when no SMTP host is set; default data_dir/mail"
    )

    # Retention (persistence/retention.py): how long rows that would otherwise pile up forever are kept.
    # The seat ledger is never pruned (it is the audit trail); dead-lettered events stay until replayed.
    idempotency_key_ttl_hours: float = Field(
        default=24.0, gt=0, description="an Idempotency-Key is remembered this long; then the same key runs anew"
    )
    outbox_retention_days: float = Field(
        default=7.0, gt=0, description="a notification event delivered to every target is deleted this long after"
    )
    delivery_ledger_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="delivery-ledger rows (who was sent what) are kept this long, and never "
        "before their event is deleted",
    )
    retention_interval_seconds: float = Field(
        default=600.0, ge=0, description="how often each API process prunes what is past retention; 0 turns it off"
    )
    retention_batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="rows one pruning statement deletes (and commits) at most"
    )
