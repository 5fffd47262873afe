"""Fixtures for the integration tests: real PostgreSQL, Redis and Ray, and the real service over HTTP.

PostgreSQL and Redis are those named by ``DATABASE_URL`` / ``REDIS_URL`` (a fresh database and a unique
key prefix per run), or throwaway embedded ones, which are then named in those variables for the rest of
the session. Ray is a local instance started by this test process,
which the service under test joins through ``RAY_ADDRESS``; so tests can reach and kill show actors
(``ShowPlacement.of(service)``: which Ray actor runs a show, its own or its host, ``harness/placement.py``).
The service itself runs as ``python main.py`` in a subprocess, exactly as users start it (``Service``,
from the packaged ``harness`` the tools share, re-exported here with the other names tests import), and pays
through the ``gateway`` fixture: the simulated payment gateway (``payments.simulator``) in a subprocess
against the same database, so tests can read its ledger and inject faults on the gateway the service uses.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from actors.show_entity import ActorConfig
from harness.placement import ShowPlacement as ShowPlacement
from harness.service import GATEWAY_HANG_SECONDS as GATEWAY_HANG_SECONDS
from harness.service import GATEWAY_SLOW_SECONDS as GATEWAY_SLOW_SECONDS
from harness.service import SERVICE_PAYMENT_TIMEOUT_SECONDS as SERVICE_PAYMENT_TIMEOUT_SECONDS
from harness.service import Backing as Backing
from harness.service import Service as Service
from harness.service import free_port
from harness.service import gateway_ledger as gateway_ledger
from payments.simulator import SimulatorProcess
from persistence.journals import PostgresJournals
from tests import quality_checks

ROOT = Path(__file__).resolve().parent.parent
_free_port = free_port  # the name the tests import


def pytest_collection_finish(session: pytest.Session) -> None:
    """The linters of ``tests/test_quality.py`` start now, in the background (``tests/quality_checks.py``)."""
    if any(item.path.name == "test_quality.py" for item in session.items):
        quality_checks.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    quality_checks.stop()


@pytest.fixture(scope="session")
def backing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backing]:
    import ray

    from harness.backing import provision_postgres, provision_redis
    from persistence import migrate

    root = tmp_path_factory.mktemp("services")
    database_url, drop_database = provision_postgres(root)
    redis_url, stop_redis = provision_redis(root)
    # Servers this session started itself are named to everything the tests run from here on (the
    # reliability suite's envs, the load harness), which then make databases and key prefixes of their own
    # on them instead of starting servers of their own: one initdb per session, not one per env.
    exported = {
        name: url
        for name, url in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url))
        if not os.environ.get(name)
    }
    os.environ.update(exported)
    migrate.upgrade(database_url)
    namespace = f"booking-test-{secrets.token_hex(4)}"
    ray.init(num_cpus=2, namespace=namespace, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield Backing(
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=f"test-{secrets.token_hex(4)}:",
            ray_address=ray.get_runtime_context().gcs_address,
            ray_namespace=namespace,
        )
    finally:
        ray.shutdown()
        for name in exported:
            os.environ.pop(name, None)
        stop_redis()
        drop_database()


@pytest.fixture(scope="session")
def gateway(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    """The simulated payment gateway, its ledger in the ``backing`` database. ``gateway.base_url`` reaches
    ``/v1/ledger`` and ``/v1/faults``; a test that injects faults clears them when it is done."""
    process = SimulatorProcess(
        backing.database_url,
        tmp_path_factory.mktemp("gateway") / "gateway.log",
        slow_seconds=GATEWAY_SLOW_SECONDS,
        hang_seconds=GATEWAY_HANG_SECONDS,
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def service(backing: Backing, gateway: SimulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # Pre-warming off in the shared service: it would wake the shows of every test in the shared database
    # (tests/integration/test_prewarm.py starts services of its own, with it on and off).
    with serving(backing, tmp_path_factory, "service", {"BOOKING_PREWARM_LEAD_SECONDS": "0"}, gateway) as svc:
        yield svc


@contextmanager
def serving(
    backing: Backing,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    env: dict[str, str],
    gateway: SimulatorProcess | None = None,
) -> Iterator[Service]:
    """A service on a free port with the settings ``env``, its log and data in a fresh temporary folder
    ``name``, stopped when the block ends: the shared one, or one a test module starts with settings of its
    own. It pays through ``gateway``, or without one through a simulated gateway of its own."""
    svc = Service(
        backing=backing,
        port=_free_port(),
        payment_gateway_url=gateway.base_url if gateway is not None else None,
        extra_env=env,
    )
    with svc.serving(tmp_path_factory.mktemp(name)):
        yield svc


@pytest.fixture
def live_service(service: Service) -> Service:
    """The shared service, restarted first if an earlier test killed it."""
    if service.process is None or service.process.poll() is not None:
        service.start()
    return service


def actor_config(backing: Backing) -> ActorConfig:
    """The configuration of show actors and hosts that tests create themselves (unnamed, beside the
    service's own), on the session's PostgreSQL and Redis."""
    return ActorConfig(
        journals=PostgresJournals(backing.database_url, 5),
        redis_url=backing.redis_url,
        redis_prefix=backing.redis_prefix,
        max_seats_per_user=10,
        max_seats_per_request=10,
        max_extensions=2,
        db_timeout_seconds=5,
        publish_interval_seconds=0.2,
    )
