"""The service under test: ``python main.py`` in a subprocess, as users start it, restartable on the same
port and data; and what its callers share about it (the backing it runs on, the gateway's fault timings).

The integration tests' fixtures (tests/conftest.py) and the reliability suite (``reliability.env``) start
services through ``Service``. ``main.py`` is found next to this package: the repository root in a
checkout, ``site-packages`` in an installed tree (``main`` is a packaged module).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cluster.embedded import terminate
from harness.client import ADMIN_EMAIL, ADMIN_PASSWORD
from payments.simulator import SimulatorProcess

__all__ = [
    "GATEWAY_HANG_SECONDS",
    "GATEWAY_SLOW_SECONDS",
    "MAIN_DIR",
    "SERVICE_PAYMENT_TIMEOUT_SECONDS",
    "Backing",
    "Service",
    "free_port",
    "gateway_ledger",
]

# Where main.py lives (and the service's working directory): the parent of this package.
MAIN_DIR = Path(__file__).resolve().parent.parent
# Short enough to keep tests fast; the charge-then-timeout card hangs longer than the service waits.
GATEWAY_SLOW_SECONDS = 0.5
GATEWAY_HANG_SECONDS = 4.0
SERVICE_PAYMENT_TIMEOUT_SECONDS = 2.0
SERVICE_HOST_MAX_SHOWS = 64


@dataclass
class Backing:
    database_url: str
    redis_url: str
    redis_prefix: str
    ray_address: str
    ray_namespace: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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

    @property
    def ray_namespace(self) -> str:
        """The Ray namespace this service's actors live in. Show hosts are long-lived and keep the settings
        of the service that created them (its Redis, payment window, key lifetime, budget…), so a service
        with settings of its own (``extra_env``) gets a namespace of its own, named after those settings:
        services started with the same settings, and a restarted one, share it and find the same actors."""
        if "BOOKING_RAY_NAMESPACE" in self.extra_env:
            return self.extra_env["BOOKING_RAY_NAMESPACE"]
        if not self.extra_env:
            return self.backing.ray_namespace
        digest = hashlib.sha256(repr(sorted(self.extra_env.items())).encode()).hexdigest()[:8]
        return f"{self.backing.ray_namespace}-{digest}"

    def env(self) -> dict[str, str]:
        chosen = {"DATABASE_URL", "REDIS_URL", "RAY_ADDRESS", "PAYMENT_GATEWAY_URL"}
        env = {k: v for k, v in os.environ.items() if k not in chosen}
        env.update(
            DATABASE_URL=self.backing.database_url,
            REDIS_URL=self.backing.redis_url,
            RAY_ADDRESS=self.backing.ray_address,
            BOOKING_RAY_NAMESPACE=self.ray_namespace,
            BOOKING_REDIS_PREFIX=self.backing.redis_prefix,
            BOOKING_ADMIN_EMAIL=ADMIN_EMAIL,
            BOOKING_ADMIN_PASSWORD=ADMIN_PASSWORD,
            BOOKING_RATE_LIMIT_PER_MINUTE="0",
            BOOKING_API_WORKERS="1",  # the same on every machine (the default follows the cores)
            BOOKING_SEED_DEMO_CATALOG="false",
            BOOKING_PAYMENT_TIMEOUT_SECONDS=str(SERVICE_PAYMENT_TIMEOUT_SECONDS),
            # A host reserves Ray memory for its whole live-show budget (120 MiB + 4 MB a show). Derived from
            # this machine's memory that is ~3 GiB a host, and the services of a test run (each with settings
            # of its own has hosts of its own) would outgrow the test cluster's memory: a host that cannot be
            # scheduled answers nothing, and its shows time out. Tests need tens of live shows, not hundreds.
            BOOKING_SHOW_HOST_MAX_SHOWS=str(SERVICE_HOST_MAX_SHOWS),
            PYTHONUNBUFFERED="1",
        )
        if self.payment_gateway_url is not None:
            env["PAYMENT_GATEWAY_URL"] = self.payment_gateway_url
        if self.log_path is not None:
            # The service's own files (e-mails as .eml, a gateway log) stay in the caller's temp dir.
            env["BOOKING_DATA_DIR"] = str(self.log_path.parent / "data")
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        assert self.log_path is not None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (this interpreter running our own main.py, no shell)
            [sys.executable, str(MAIN_DIR / "main.py"), "--port", str(self.port), "--log-level", "warning"],
            cwd=MAIN_DIR,
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

    @contextlib.contextmanager
    def serving(self, log_dir: Path) -> Iterator[Service]:
        """Started with its log (and data) in ``log_dir``, stopped when the block ends: a fixture's body."""
        self.log_path = log_dir / "service.log"
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, 30)

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
