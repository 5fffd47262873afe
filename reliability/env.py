"""One scenario's world: a fresh database, a Redis namespace, a Ray namespace, services, a gateway, and
the reconciliation that closes every scenario.

``Env`` owns the lifecycle of everything a scenario starts, so a scenario only says what it needs and the
context manager tears it all down in reverse order (services, gateways, the scenario's show actors, its
Redis keys, its database, any throwaway servers, the temp dir). It reuses what the tests use rather than
copying it: ``harness.backing.provision_postgres`` for a fresh database on a shared server,
``harness.service.Service`` for ``python main.py`` as a subprocess (``ServiceHandle`` extends it), and
``payments.simulator.SimulatorProcess`` for the gateway.

Where the services come from:

- PostgreSQL: ``Env(own_postgres=True)``, or no ``DATABASE_URL``: a throwaway ``EmbeddedPostgres`` on a
  fixed port (so a stop/start keeps the URL the service was given), exposed as ``env.postgres`` for
  scenarios that stop it. Otherwise a fresh database on ``DATABASE_URL``'s server and ``env.postgres`` is
  None: a shared server is never stopped.
- Redis: the same with ``own_redis`` / ``REDIS_URL``; on a shared Redis the scenario's keys carry a unique
  ``BOOKING_REDIS_PREFIX`` and are deleted at the end.
- Ray: one local Ray for the whole suite process (``ensure_ray``), joined by every service through
  ``RAY_ADDRESS``, so a scenario can reach and kill show actors (``env.placement()``: which Ray actor runs
  a show, its own ``show:<id>`` or, under the default hosted placement, its host ``shows:<n>``); each env
  has its own Ray namespace, and its named actors are killed at teardown.

``reconcile()`` is the suite's closing audit, run against every database the env used: per show,
available + held + booked + blocked = capacity with every seat claim matching an active hold or a
confirmed booking; every booking has a captured charge in the gateway's ledger; every captured charge
has a booking or was refunded in full. It first waits (bounded) for open payments to settle, because the
service's reconciler may legitimately still be working on them.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import httpx
import psycopg
from psycopg import sql

from cluster.embedded import EmbeddedPostgres, EmbeddedRedis
from harness.backing import query_int
from harness.placement import ShowPlacement
from harness.service import GATEWAY_HANG_SECONDS, GATEWAY_SLOW_SECONDS, Backing, Service
from payments.simulator import SimulatorProcess
from reliability.figures import Figure, informational, zero
from settings import libpq_url

__all__ = [
    "Env",
    "OwnedPostgres",
    "OwnedRedis",
    "ServiceControl",
    "ServiceHandle",
    "ensure_ray",
    "free_port",
]

log = logging.getLogger("reliability")
KEEP = bool(os.environ.get("RELIABILITY_KEEP"))  # keep temp dirs (logs) after the run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- Ray: one per suite process ---------------------------------------------------------------------------


def ensure_ray() -> str:
    """Start a local Ray for this process once (or reuse one already initialised); its GCS address."""
    import ray

    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            namespace="reliability",
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
        atexit.register(ray.shutdown)
    address: str = ray.get_runtime_context().gcs_address
    return address


# -- throwaway servers the suite owns ---------------------------------------------------------------------


class ServiceControl(Protocol):
    """A backing server the suite owns and may stop and start again (same port, same data)."""

    url: str

    @property
    def pid(self) -> int | None: ...

    def stop(self) -> None: ...

    def start(self) -> None: ...


class OwnedPostgres:
    """A throwaway ``EmbeddedPostgres`` on a fixed port: ``stop()`` is a fast shutdown, ``start()`` brings
    it back on the same URL with its data (crash recovery if it was killed)."""

    def __init__(self, data_dir: Path) -> None:
        self.server = EmbeddedPostgres(data_dir, port=free_port())
        self.url = self.server.start()

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        try:
            return int((self.server.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()

    def kill(self) -> None:
        """SIGKILL the postmaster (no shutdown checkpoint); ``start()`` then does crash recovery."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class OwnedRedis:
    """A throwaway ``EmbeddedRedis`` on a fixed port; nothing persisted, so ``start()`` after ``stop()``
    is an empty Redis on the same URL (as after a real Redis restart without persistence)."""

    def __init__(self, data_dir: Path) -> None:
        self.server = EmbeddedRedis(data_dir, port=free_port())
        self.url = self.server.start()

    @property
    def pid(self) -> int | None:
        return self.server.pid

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()


# -- the service ------------------------------------------------------------------------------------------


@dataclass
class ServiceHandle(Service):
    """``python main.py`` as a subprocess (``harness.service.Service``), with its pid and a restart."""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def restart(self, timeout: float = 90.0) -> None:
        """Stop (SIGTERM) if running, then start on the same port, database and settings."""
        self.stop()
        self.start(timeout)

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)


# -- the environment --------------------------------------------------------------------------------------


Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    log.info(message)


class Env:
    """Everything one scenario runs on; a context manager that tears it all down."""

    database_url: str
    redis_url: str
    redis_prefix: str
    ray_address: str
    ray_namespace: str
    tmp: Path
    postgres: OwnedPostgres | None
    redis: OwnedRedis | None

    def __init__(
        self,
        number: int,
        own_postgres: bool = False,
        own_redis: bool = False,
        progress: Progress = _quiet,
        reuse_services: bool = False,
    ) -> None:
        self.number = number
        # Shared mode (``python -m reliability --shared``, the CI test): several scenarios run in one env,
        # and a service asked for with the same settings as a running one is that one.
        self.reuse_services = reuse_services
        self._by_settings: dict[tuple[object, ...], ServiceHandle] = {}
        self.own_postgres = own_postgres or not os.environ.get("DATABASE_URL")
        self.own_redis = own_redis or not os.environ.get("REDIS_URL")
        self.progress = progress
        self.reconciled = False
        self.services: list[ServiceHandle] = []
        self.gateways: dict[str, SimulatorProcess] = {}  # by the database its ledger lives in
        self.databases: list[str] = []
        self._stack = ExitStack()
        self._started = time.monotonic()

    # ---- lifecycle

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()

    def _start(self) -> None:
        from persistence import migrate

        tag = f"s{self.number:02d}-{secrets.token_hex(3)}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"reliability-{tag}-"))
        if not KEEP:
            self._stack.callback(shutil.rmtree, self.tmp, True)
        self.postgres = None
        self.redis = None
        if self.own_postgres:
            self.postgres = OwnedPostgres(self.tmp / "pg")
            self._stack.callback(self.postgres.stop)
            self.database_url = self.postgres.url
        else:
            self.database_url = self._provision_shared_database()
        self.databases.append(self.database_url)
        if self.own_redis:
            self.redis = OwnedRedis(self.tmp / "redis")
            self._stack.callback(self.redis.stop)
            self.redis_url = self.redis.url
        else:
            self.redis_url = os.environ["REDIS_URL"]
        self.redis_prefix = f"rel-{tag}:"
        if not self.own_redis:
            self._stack.callback(self._delete_redis_keys)
        migrate.upgrade(self.database_url)
        self.ray_address = ensure_ray()
        self.ray_namespace = f"reliability-{tag}"
        self._stack.callback(self._kill_actors)

    def _provision_shared_database(self) -> str:
        from harness.backing import provision_postgres

        url, drop = provision_postgres(self.tmp)
        self._stack.callback(drop)
        return url

    def new_database(self) -> str:
        """Another fresh, migrated database on the env's server (dropped at teardown)."""
        from persistence import migrate

        if self.postgres is None:
            url = self._provision_shared_database()
        else:
            name = f"extra_{secrets.token_hex(4)}"
            with psycopg.connect(libpq_url(self.postgres.url), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            url = self.postgres.url.rsplit("/", 1)[0] + "/" + name
        migrate.upgrade(url)
        self.databases.append(url)
        return url

    def _delete_redis_keys(self) -> None:
        import redis

        with contextlib.suppress(redis.RedisError), redis.Redis.from_url(self.redis_url) as client:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"{self.redis_prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.delete(*batch)
                    batch.clear()
            if batch:
                client.delete(*batch)

    def _kill_actors(self) -> None:
        """Kill the named (detached) actors of this env's namespaces (its own, and those of its services with
        settings of their own, ``Service.ray_namespace``): show actors and hosts outlive the service."""
        import ray
        from ray.util import list_named_actors

        with contextlib.suppress(Exception):
            for entry in list_named_actors(all_namespaces=True):
                namespace = entry.get("namespace") or ""
                if namespace == self.ray_namespace or namespace.startswith(self.ray_namespace + "-"):
                    with contextlib.suppress(Exception):
                        ray.kill(ray.get_actor(entry["name"], namespace=namespace))

    # ---- what scenarios start

    def start_gateway(
        self,
        slow_seconds: float = GATEWAY_SLOW_SECONDS,
        hang_seconds: float = GATEWAY_HANG_SECONDS,
        database_url: str | None = None,
    ) -> SimulatorProcess:
        """A simulated payment gateway (its ledger in ``database_url``, default the env's database).
        The first one per database is the one ``start_service`` pays through; ``base_url`` reaches
        ``/v1/faults`` and ``/v1/ledger``."""
        database_url = database_url or self.database_url
        label = f"gateway-{len(self.gateways) + 1}-{secrets.token_hex(2)}"
        process = SimulatorProcess(
            database_url, self.tmp / label / "gateway.log", slow_seconds=slow_seconds, hang_seconds=hang_seconds
        )
        process.start()
        self._stack.callback(process.stop)
        self.gateways.setdefault(database_url, process)
        return process

    @property
    def gateway(self) -> SimulatorProcess:
        """The gateway of the env's database, started on first use."""
        return self.gateways.get(self.database_url) or self.start_gateway()

    def start_service(
        self,
        extra_env: dict[str, str] | None = None,
        database_url: str | None = None,
        payment_gateway_url: str | None = None,
        start: bool = True,
    ) -> ServiceHandle:
        """``python main.py`` on this env (or on ``database_url``), paying through that database's gateway
        unless ``payment_gateway_url`` names another. Rate limits are off unless ``extra_env`` sets them.
        ``start=False`` returns the handle unstarted (call ``start()``)."""
        database_url = database_url or self.database_url
        if database_url not in self.databases:
            self.databases.append(database_url)
        settings = (tuple(sorted((extra_env or {}).items())), database_url, payment_gateway_url)
        if self.reuse_services and start and settings in self._by_settings:
            reused = self._by_settings[settings]
            if not reused.running:
                reused.start()
            return reused
        if payment_gateway_url is None:
            gateway = self.gateways.get(database_url) or self.start_gateway(database_url=database_url)
            payment_gateway_url = gateway.base_url
        backing = Backing(database_url, self.redis_url, self.redis_prefix, self.ray_address, self.ray_namespace)
        handle = ServiceHandle(
            backing=backing,
            port=free_port(),
            extra_env=dict(extra_env or {}),
            payment_gateway_url=payment_gateway_url,
        )
        handle.log_path = self.tmp / f"service-{len(self.services) + 1}" / "service.log"
        handle.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.services.append(handle)
        self._stack.callback(handle.stop)
        if start:
            handle.start()
            self._by_settings[settings] = handle
        return handle

    def placement(self) -> ShowPlacement:
        """Where this env's services run their shows: its own actor ``show:<id>`` per show, or hosts
        ``shows:<n>`` (the default), as their environment says. Services of one env share its Ray
        namespace, so they must agree (one that does not is refused here rather than guessed at)."""
        found = {ShowPlacement.of(service) for service in self.services}
        if not found:  # no service yet: what one started now would use
            return ShowPlacement.from_env(os.environ, self.ray_namespace)
        if len(found) > 1:
            raise ValueError(f"this env's services place shows differently: {sorted(map(str, found))}")
        return found.pop()

    def log(self, message: str) -> None:
        """Progress output for long scenarios."""
        self.progress(f"     s{self.number:02d} +{time.monotonic() - self._started:.0f}s: {message}")

    # ---- the closing audit

    def reconcile(self, settle_timeout: float = 60.0) -> list[Figure]:
        """The reconciliation figures over every database this env used (see the module docstring)."""
        self.reconciled = True
        n = self.number
        if self.postgres is not None:
            self.postgres.start()  # a scenario may have left it stopped
        unsettled = self._wait_settled(settle_timeout)
        totals: dict[str, int] = defaultdict(int)
        for url in self.databases:
            for key, value in reconcile_database(url).items():
                totals[key] += value
        return [
            zero(n, "reconcile: shows where available+held+booked+blocked ≠ capacity", totals["bad_shows"]),
            zero(n, "reconcile: seat claims not matching an active hold or a booking", totals["bad_claims"]),
            zero(n, "reconcile: bookings without a captured payment", totals["unpaid_bookings"]),
            zero(n, "reconcile: captured charges without a booking or a refund", totals["orphan_charges"]),
            zero(n, f"reconcile: payments unsettled after {settle_timeout:.0f} s", unsettled),
            informational(
                n,
                "reconcile: checked (shows / seats / bookings / charges)",
                f"{totals['shows']} / {totals['seats']} / {totals['bookings']} / {totals['charges']}",
            ),
        ]

    def _wait_settled(self, timeout: float) -> int:
        """Open payments (pending, refund_pending) left after waiting up to ``timeout`` for a running
        service's reconciler to settle them (no wait when no service runs: nothing would settle them)."""
        deadline = time.monotonic() + timeout
        while True:
            open_payments = 0
            for url in self.databases:
                with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                    open_payments += query_int(
                        conn, "SELECT count(*) FROM payments WHERE status IN ('pending', 'refund_pending')"
                    )
            running = any(s.running for s in self.services)
            if open_payments == 0 or not running or time.monotonic() >= deadline:
                return open_payments
            time.sleep(0.5)


def reconcile_database(url: str) -> dict[str, int]:
    """The audit of one database: counts of bad shows, bad claims, unpaid bookings, orphan charges, and
    of what was checked."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        capacity: dict[str, set[str]] = defaultdict(set)
        for show_id, seat_id in conn.execute(
            "SELECT s.id, ss.seat_id FROM shows s JOIN screen_seats ss ON ss.screen_id = s.screen_id"
        ):
            capacity[show_id].add(seat_id)
        shows = {r[0] for r in conn.execute("SELECT id FROM shows")}
        blocked: dict[str, set[str]] = defaultdict(set)
        for show_id, seat_id in conn.execute("SELECT show_id, seat_id FROM blocked_seats"):
            blocked[show_id].add(seat_id)
        holds: dict[str, tuple[str, list[str]]] = {
            hold_id: (show_id, list(seats))
            for hold_id, show_id, seats in conn.execute(
                "SELECT id, show_id, seat_ids FROM holds WHERE status = 'active'"
            )
        }
        bookings = conn.execute("SELECT id, show_id, seat_ids, status, amount, payment_ref FROM bookings").fetchall()
        claims = conn.execute("SELECT show_id, seat_id, hold_id, booking_id FROM seat_claims").fetchall()
        has_gateway = conn.execute("SELECT to_regclass('gateway.charges') IS NOT NULL").fetchone()
        charges: list[tuple[str, Decimal, Decimal]] = []
        if has_gateway and has_gateway[0]:
            charges = [
                (r[0], Decimal(r[1]), Decimal(r[2]))
                for r in conn.execute(
                    "SELECT charge_id, amount, refunded FROM gateway.charges WHERE status = 'captured'"
                )
            ]

    # Seats each show's holds and bookings say they own, counted with multiplicity.
    held: dict[str, list[str]] = defaultdict(list)
    for show_id, seats in holds.values():
        held[show_id].extend(seats)
    booked: dict[str, list[str]] = defaultdict(list)
    confirmed: dict[str, tuple[str, set[str]]] = {}
    for booking_id, show_id, seats, status, _, _ in bookings:
        if status == "confirmed":
            booked[show_id].extend(seats)
            confirmed[booking_id] = (show_id, set(seats))
    claimed: dict[str, set[str]] = defaultdict(set)
    bad_claims = 0
    claim_owner: set[tuple[str, str, str]] = set()
    for show_id, seat_id, hold_id, booking_id in claims:
        claimed[show_id].add(seat_id)
        if booking_id is not None:
            owner = confirmed.get(booking_id)
            ok = owner is not None and owner[0] == show_id and seat_id in owner[1]
            claim_owner.add((show_id, seat_id, booking_id))
        else:
            hold = holds.get(hold_id)
            ok = hold is not None and hold[0] == show_id and seat_id in hold[1]
            claim_owner.add((show_id, seat_id, hold_id))
        bad_claims += 0 if ok and seat_id in capacity[show_id] and seat_id not in blocked[show_id] else 1
    # The other direction: every seat an active hold or a confirmed booking names has its claim.
    for hold_id, (show_id, hold_seats) in holds.items():
        bad_claims += sum((show_id, s, hold_id) not in claim_owner for s in hold_seats)
    for booking_id, (show_id, booking_seats) in confirmed.items():
        bad_claims += sum((show_id, s, booking_id) not in claim_owner for s in booking_seats)

    bad_shows = 0
    for show_id in shows:
        screen = capacity[show_id]
        available = len(screen - claimed[show_id] - blocked[show_id])
        total = available + len(held[show_id]) + len(booked[show_id]) + len(blocked[show_id] & screen)
        bad_shows += total != len(screen)

    captured = {charge_id for charge_id, _, _ in charges}
    unpaid = sum(
        1 for _, _, _, status, amount, ref in bookings if Decimal(amount) > 0 and (ref is None or ref not in captured)
    )
    booked_refs = {ref for *_, ref in bookings if ref is not None}
    orphans = sum(1 for charge_id, amount, refunded in charges if charge_id not in booked_refs and refunded < amount)
    return {
        "bad_shows": bad_shows,
        "bad_claims": bad_claims,
        "unpaid_bookings": unpaid,
        "orphan_charges": orphans,
        "shows": len(shows),
        "seats": sum(len(s) for s in capacity.values()),
        "bookings": len(bookings),
        "charges": len(charges),
    }


@contextlib.contextmanager
def env_for(number: int, **kwargs: Any) -> Iterator[Env]:
    """``with env_for(3, own_postgres=True) as env:`` for ad-hoc runs and tests."""
    with Env(number, **kwargs) as env:
        yield env


if __name__ == "__main__":  # pragma: no cover - a smoke check: python -m reliability.env
    with Env(0, progress=lambda m: print(m, file=sys.stderr)) as _env:
        _svc = _env.start_service()
        print(_svc.base_url, _env.reconcile())
