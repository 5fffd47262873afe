"""Fixtures for the integration tests: real PostgreSQL, Redis and Ray, and the real service over HTTP.

PostgreSQL and Redis are those named by ``DATABASE_URL`` / ``REDIS_URL`` (a fresh database and a unique
key prefix per run), or throwaway embedded ones. Ray is a local instance started by this test process,
which the service under test joins through ``RAY_ADDRESS``; so tests can reach and kill show actors.
The service itself runs as ``python main.py`` in a subprocess, exactly as users start it, and pays
through the ``gateway`` fixture: the simulated payment gateway (``payments.simulator``) in a subprocess
against the same database, so tests can read its ledger and inject faults on the gateway the service uses.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from payments.simulator import SimulatorProcess
from tests.api_client import ADMIN_EMAIL, ADMIN_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
# Short enough to keep tests fast; the charge-then-timeout card hangs longer than the service waits.
GATEWAY_SLOW_SECONDS = 0.5
GATEWAY_HANG_SECONDS = 4.0
SERVICE_PAYMENT_TIMEOUT_SECONDS = 2.0


@dataclass
class Backing:
    database_url: str
    redis_url: str
    redis_prefix: str
    ray_address: str
    ray_namespace: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def backing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backing]:
    import ray

    from persistence import migrate
    from tests.services import provision_postgres, provision_redis

    root = tmp_path_factory.mktemp("services")
    database_url, drop_database = provision_postgres(root)
    redis_url, stop_redis = provision_redis(root)
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


def gateway_ledger(gateway: SimulatorProcess) -> dict[str, Any]:
    """Every charge and refund the gateway has, and its totals (``GET /v1/ledger``)."""
    response = httpx.get(gateway.base_url + "/v1/ledger", timeout=10)
    response.raise_for_status()
    ledger: dict[str, Any] = response.json()
    return ledger


@dataclass
class Service:
    """``python main.py`` in a subprocess, restartable on the same port and data.

    Without ``payment_gateway_url`` the service starts a simulated gateway of its own."""

    backing: Backing
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    payment_gateway_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        chosen = {"DATABASE_URL", "REDIS_URL", "RAY_ADDRESS", "PAYMENT_GATEWAY_URL"}
        env = {k: v for k, v in os.environ.items() if k not in chosen}
        env.update(
            DATABASE_URL=self.backing.database_url,
            REDIS_URL=self.backing.redis_url,
            RAY_ADDRESS=self.backing.ray_address,
            BOOKING_RAY_NAMESPACE=self.backing.ray_namespace,
            BOOKING_REDIS_PREFIX=self.backing.redis_prefix,
            BOOKING_ADMIN_EMAIL=ADMIN_EMAIL,
            BOOKING_ADMIN_PASSWORD=ADMIN_PASSWORD,
            BOOKING_RATE_LIMIT_PER_MINUTE="0",
            BOOKING_SEED_DEMO_CATALOG="false",
            BOOKING_PAYMENT_TIMEOUT_SECONDS=str(SERVICE_PAYMENT_TIMEOUT_SECONDS),
            PYTHONUNBUFFERED="1",
        )
        if self.payment_gateway_url is not None:
            env["PAYMENT_GATEWAY_URL"] = self.payment_gateway_url
        if self.log_path is not None:
            # The service's own files (e-mails as .eml, a gateway log) stay in the test's temp dir.
            env["BOOKING_DATA_DIR"] = str(self.log_path.parent / "data")
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        assert self.log_path is not None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"service not healthy after {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def service(backing: Backing, gateway: SimulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # Pre-warming off in the shared service: it would wake the shows of every test in the shared database
    # (tests/integration/test_prewarm.py starts services of its own, with it on and off).
    svc = Service(
        backing=backing,
        port=_free_port(),
        payment_gateway_url=gateway.base_url,
        extra_env={"BOOKING_PREWARM_LEAD_SECONDS": "0"},
    )
    svc.log_path = tmp_path_factory.mktemp("service") / "service.log"
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def live_service(service: Service) -> Service:
    """The shared service, restarted first if an earlier test killed it."""
    if service.process is None or service.process.poll() is not None:
        service.start()
    return service
