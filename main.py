"""Composition root: settings → services (embedded or given) → migrations → Ray → stores → app → server.

``python main.py [--host H] [--port P]`` serves the whole system. With no ``DATABASE_URL`` / ``REDIS_URL``
it starts an embedded PostgreSQL and Redis under ``BOOKING_DATA_DIR``; with no ``RAY_ADDRESS`` it starts a
local Ray instance; with no ``PAYMENT_GATEWAY_URL`` it starts the simulated payment gateway
(``payments.simulator``) as a child process. Ctrl-C stops everything this process started; the next start
on the same data dir finds every account, show, hold and booking as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Protocol

import psutil
import ray
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI

from actors.show_entity import ActorConfig
from actors.show_host import HOST_BASE_MEMORY_MB, HostConfig, derived_max_shows
from api.app import create_app
from api.auth import TokenService, hash_password
from api.observability import configure_logging, ray_dashboard_sign_in
from api.problems import status_of
from api.rate_limit import RateLimiter
from api.routes import catalog as catalog_routes
from booking.door import DoorService
from booking.records import SqlRecords
from booking.service import BookingService
from cluster import topology
from cluster.embedded import EmbeddedPostgres, EmbeddedRedis
from notifications import NotificationService
from notifications.service import seal_webhook_secrets
from payments.http_gateway import HttpGateway
from payments.reconciler import Reconciler
from payments.simulator import SimulatorProcess
from persistence import catalog, demo, migrate
from persistence.database import Database
from persistence.journals import PostgresJournals
from persistence.retention import Pruner, RetentionPolicy
from persistence.ticket_keys import SqlKeyStore
from routing.prewarm import Prewarmer
from routing.show_router import ShowActors, ensure_ray
from seat_views.reader import SeatMapReader
from seat_views.stream import SeatMapStream
from settings import Settings
from tickets.issuer import TicketIssuer
from waiting_room.rounds import Admitter, RoundRules
from waiting_room.service import WaitingRooms
from waiting_room.waiting_list import WaitingLists

log = logging.getLogger("booking")


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str
    payment_gateway_url: str


class _Server(Protocol):
    def start(self) -> str: ...

    def stop(self) -> None: ...


def _started(server: _Server, stack: ExitStack, what: str) -> str:
    """Start ``server`` for ``stack`` to stop; its URL (logged without the credentials)."""
    url = server.start()
    stack.callback(server.stop)
    log.info("%s at %s", what, url.split("@")[-1])
    return url


def start_services(settings: Settings, stack: ExitStack) -> ServiceUrls:
    """Use the configured PostgreSQL, Redis and payment gateway, or start embedded ones (the simulated
    gateway, with its ledger in the same database) that ``stack`` will stop."""
    database_url, redis_url, gateway_url = settings.database_url, settings.redis_url, settings.payment_gateway_url
    if database_url is None:
        database_url = _started(EmbeddedPostgres(settings.data_dir / "postgres"), stack, "embedded PostgreSQL")
    if redis_url is None:
        redis_url = _started(EmbeddedRedis(settings.data_dir / "redis"), stack, "embedded Redis")
    if gateway_url is None:
        gateway = SimulatorProcess(database_url, settings.data_dir / "payment-gateway.log")
        gateway_url = _started(gateway, stack, "simulated payment gateway")
    return ServiceUrls(database_url, redis_url, gateway_url)


async def prepare_database(settings: Settings, database_url: str) -> str:
    """Admin account, demo catalog, token secret, webhook secrets encrypted under the first key. Returns the
    token signing secret."""
    database = Database(database_url, settings.db_timeout_seconds, pool_size=2)
    try:
        async with database.session() as session:
            secret = (
                settings.secret_key.get_secret_value()
                if settings.secret_key
                else await catalog.service_secret(session, "token-signing-key")
            )
            if settings.admin_email and settings.admin_password:
                await catalog.upsert_admin(
                    session, settings.admin_email, hash_password(settings.admin_password.get_secret_value())
                )
        if settings.seed_demo_catalog and await demo.seed_if_empty(database, settings.hold_ttl_seconds):
            log.info("empty database: created the demo catalog")
        await seal_webhook_secrets(settings, database)
        return secret
    finally:
        await database.dispose()


def build_app(settings: Settings, urls: ServiceUrls, secret: str) -> FastAPI:
    database = Database(urls.database_url, settings.db_timeout_seconds)
    redis = aioredis.Redis.from_url(urls.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    actor_config = ActorConfig.from_settings(
        settings,
        journals=PostgresJournals(urls.database_url, settings.db_timeout_seconds),
        redis_url=urls.redis_url,
    )
    host_config = show_host_config(settings)
    actors = ShowActors(
        actor_config,
        namespace=settings.ray_namespace,
        call_timeout_seconds=settings.actor_call_timeout_seconds,
        batch_max_size=settings.batch_max_size,
        num_cpus=settings.show_actor_num_cpus,
        memory_mb=settings.show_actor_memory_mb,
        scheduling=settings.show_actor_scheduling,
        max_in_flight=settings.batch_max_in_flight,
        pipeline_min_pending=settings.batch_pipeline_min_pending,
        placement=settings.show_placement,
        hosts=settings.show_hosts,
        host_config=host_config,
        host_memory_mb=int(HOST_BASE_MEMORY_MB + host_config.max_shows * settings.show_memory_mb),
    )
    seatmaps = SeatMapReader(
        database, redis, settings.redis_prefix, settings.seatmap_max_staleness_seconds - catalog_routes.RENDER_TTL
    )
    seat_stream = SeatMapStream(seatmaps, database, redis, urls.redis_url, settings.redis_prefix)
    gateway = HttpGateway(urls.payment_gateway_url, settings.payment_timeout_seconds, settings.payment_attempts)
    reconciler = Reconciler(
        database,
        gateway,
        actors.submit,
        settle_after_seconds=settings.payment_settle_after_seconds,
        interval_seconds=settings.reconcile_interval_seconds,
    )
    waiting_rooms = WaitingRooms(database, refresh_seconds=settings.queue_round_seconds)
    admitter = Admitter(
        database,
        RoundRules(
            admission_window_seconds=settings.queue_admission_window_seconds,
            admit_per_second=settings.queue_admit_per_second,
            interval_seconds=settings.queue_round_seconds,
        ),
    )
    waiting_lists = WaitingLists(
        database, actors.submit, settings.waiting_list_offer_seconds, settings.queue_round_seconds
    )
    booking = BookingService(
        SqlRecords(database),
        actors,
        seatmaps,
        gateway,
        reconciler,
        status_of,
        idempotency_key_ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
        admission=waiting_rooms,
    )
    tokens = TokenService(secret, settings.token_ttl_seconds)
    limiter = RateLimiter(
        settings.rate_limit_per_minute,
        urls.redis_url,
        settings.redis_prefix,
        tokens,
        window_seconds=settings.rate_limit_window_seconds,
        login_per_account=settings.login_attempts_per_account,
        login_account_window_seconds=settings.login_account_window_seconds,
        login_per_address=settings.login_attempts_per_address,
        login_address_window_seconds=settings.login_address_window_seconds,
    )
    notifications = NotificationService.from_settings(settings, urls.database_url, urls.redis_url)
    prewarmer = Prewarmer(database, actors, settings.prewarm_lead_seconds, settings.prewarm_interval_seconds)
    pruner = Pruner(
        database,
        RetentionPolicy(
            idempotency_key_ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
            outbox=timedelta(days=settings.outbox_retention_days),
            delivery_ledger=timedelta(days=settings.delivery_ledger_retention_days),
            batch_size=settings.retention_batch_size,
        ),
        settings.retention_interval_seconds,
    )

    async def startup() -> None:
        await notifications.start()
        prewarmer.start()
        pruner.start()
        admitter.start()
        waiting_lists.start()

    async def shutdown() -> None:
        await admitter.aclose()
        await waiting_lists.aclose()
        await pruner.aclose()
        await prewarmer.aclose()
        await notifications.stop()
        await reconciler.aclose()
        await seat_stream.aclose()
        await gateway.aclose()
        await redis.aclose()
        await database.dispose()

    app = create_app(
        settings,
        database,
        booking,
        tokens,
        limiter,
        seatmaps=seatmaps,
        reconciler=reconciler,
        waiting_rooms=waiting_rooms,
        on_shutdown=shutdown,
        on_startup=startup,
    )
    app.state.seat_stream = seat_stream
    app.state.notifications = notifications
    app.state.waiting_lists = waiting_lists
    app.state.tickets = tickets = TicketIssuer(SqlKeyStore(database))
    app.state.door = DoorService(actors, seatmaps, tickets)
    return app


def show_host_config(settings: Settings) -> HostConfig:
    """The hosts' live-show budget: the setting, or what this node's memory allows."""
    max_shows = settings.show_host_max_shows or derived_max_shows(
        psutil.virtual_memory().total, settings.show_hosts, settings.show_memory_mb
    )
    return HostConfig(
        max_shows=max_shows,
        idle_seconds=settings.show_idle_seconds,
        db_connections=settings.show_host_db_connections,
        recycle_seconds=settings.show_host_recycle_seconds,
        promote_rate=settings.show_promote_rate,
    )


def placement_line(settings: Settings) -> str:
    """Where shows live and how many may be live, for the start banner."""
    if settings.show_placement == "dedicated":
        return f"one Ray actor each ({settings.show_actor_memory_mb} MB reserved per show)"
    host = show_host_config(settings)
    return (
        f"{settings.show_hosts} host actors x {host.max_shows} live shows, passivated after "
        f"{settings.show_idle_seconds:g} s idle, {host.db_connections} PostgreSQL connections per host"
        + (f"; a show above {host.promote_rate:g} commands/s gets an actor of its own" if host.promote_rate else "")
    )


def join_ray(settings: Settings, address: str | None, **init_kwargs: Any) -> Any:
    """Start or join Ray as a driver (``ensure_ray``) in the service's namespace; Ray's context, or None if
    this process is a driver already. With JSON logs stdout carries JSON only: the actors' own logs stay in
    each node's Ray log files."""
    return ensure_ray(
        address,
        settings.ray_namespace,
        logging_level=logging.WARNING,
        log_to_driver=settings.log_format != "json",
        **init_kwargs,
    )


WORKER_CONFIG_ENV = "SEATWISE_WORKER_CONFIG"


def worker_app() -> FastAPI:
    """The app of one of several API worker processes (``BOOKING_API_WORKERS`` > 1, run by uvicorn's
    supervisor). The parent already started the services, applied migrations, prepared the database and
    started (or joined) Ray; each worker reads what it found from the environment, joins the same Ray
    cluster as a driver of its own, and builds its own app: the show actors are shared, everything else in
    the API process (pools, lanes, caches, the reconciler, the notification loops) is per process and was
    made to run side by side."""
    config = json.loads(os.environ[WORKER_CONFIG_ENV])
    settings = Settings()
    configure_logging(settings.log_format, config["log_level"])
    join_ray(settings, config["ray_address"])
    return build_app(settings, ServiceUrls(**config["urls"]), config["secret"])


def addresses_work_everywhere(settings: Settings, urls: ServiceUrls) -> bool:
    """False (and why, logged) if show actors on other machines of the Ray cluster could not reach
    PostgreSQL or Redis at the URLs this process would give them (``cluster/topology.py``)."""
    actor_urls = {"DATABASE_URL": urls.database_url, "REDIS_URL": urls.redis_url}
    problems = topology.unreachable_from_cluster(actor_urls, topology.ray_node_hosts())
    for problem in problems:
        log.error("%s", problem)
    if not problems and settings.ray_address:
        for name, url in actor_urls.items():
            reason = topology.machine_local(url)
            if reason is not None:
                log.warning(
                    "%s points at %s: fine while every Ray node is this machine, not after others join", name, reason
                )
    return not problems


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the booking service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = Settings()
    configure_logging(settings.log_format, args.log_level.upper())
    with ExitStack() as stack:
        urls = start_services(settings, stack)
        migrate.upgrade(urls.database_url)
        secret = asyncio.run(prepare_database(settings, urls.database_url))
        ray_init: dict[str, Any] = {"include_dashboard": True, "dashboard_host": "127.0.0.1"}
        if settings.ray_address:
            ray_init = {}
        context = join_ray(settings, settings.ray_address, **ray_init)
        stack.callback(ray.shutdown)
        if not addresses_work_everywhere(settings, urls):
            return 2
        dashboard = getattr(context, "dashboard_url", None) if context is not None else None
        dashboard_line = f"http://{dashboard}" if dashboard else "not started (external Ray cluster)"
        sign_in = ray_dashboard_sign_in() if dashboard else None
        if sign_in:
            dashboard_line += f" ({sign_in})"
        data_line = "(external services)" if settings.database_url else str(settings.data_dir.resolve())
        base = f"http://{args.host}:{args.port}"
        shows_line = placement_line(settings)
        if settings.log_format == "json":  # the console carries JSON lines only
            log.info(
                "starting on %s; Ray dashboard %s; %d API processes; shows: %s",
                base,
                dashboard_line,
                settings.api_workers,
                shows_line,
            )
        else:
            print(
                f"\nSeatwise is starting on {base}\n"
                f"  API docs:        {base}/docs\n"
                f"  health:          {base}/healthz\n"
                f"  payment gateway: {urls.payment_gateway_url}\n"
                f"  Ray dashboard:   {dashboard_line}\n"
                f"  data dir:        {data_line}\n"
                f"  API processes:   {settings.api_workers}\n"
                f"  shows:           {shows_line}\n"
                "Press Ctrl-C to stop.\n",
                flush=True,
            )
        server: dict[str, Any] = {
            "host": args.host,
            "port": args.port,
            "loop": "uvloop",
            "http": "httptools",
            "log_level": args.log_level,
            "access_log": False,
        }
        if settings.log_format == "json":
            server["log_config"] = None  # uvicorn's loggers propagate to the JSON root handler
        if settings.api_workers == 1:
            uvicorn.run(build_app(settings, urls, secret), **server)
        else:
            os.environ[WORKER_CONFIG_ENV] = json.dumps(
                {
                    "urls": asdict(urls),
                    "secret": secret,
                    "ray_address": ray.get_runtime_context().gcs_address,
                    "log_level": args.log_level.upper(),
                }
            )
            uvicorn.run("main:worker_app", factory=True, workers=settings.api_workers, **server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
