"""What every benchmark needs: PostgreSQL, Redis, Ray, the service as a subprocess, wrk, and baselines.

``running_service`` yields a ``Rig`` with the service started exactly as users start it (``main.py``),
joined to a Ray instance this process owns (so a benchmark can reach the show actors), on the services
named by ``DATABASE_URL`` / ``REDIS_URL`` (a fresh database) or on throwaway embedded ones. ``start_app``
runs a baseline ASGI app on the same HTTP stack (``uvicorn_command``); ``wrk`` runs the load from a second
process.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import ray

from settings import libpq_url

ROOT = Path(__file__).resolve().parent.parent
ADMIN = {"BOOKING_ADMIN_EMAIL": "admin@example.com", "BOOKING_ADMIN_PASSWORD": "admin-password-123"}


@dataclass(frozen=True)
class Rig:
    base_url: str
    database_url: str
    namespace: str
    tmp: Path
    service: subprocess.Popen[bytes]
    stack: ExitStack
    env: dict[str, str]

    def start_service(self, extra_env: dict[str, str], label: str) -> str:
        """Another ``main.py`` on the same PostgreSQL, Redis and Ray (the same show actors), with
        ``extra_env`` on top; returns its base URL. For comparing configurations in one run."""
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env={**self.env, **extra_env},
            stdout=(self.tmp / f"service-{label}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.stack.callback(stop, proc)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url + "/healthz", proc)
        return url

    def start_app(self, module: str, env: dict[str, str] | None = None, workers: int = 1) -> str:
        """Serve ``module:app`` with uvicorn (uvloop, httptools) like the service; returns its base URL."""
        port = free_port()
        proc = subprocess.Popen(
            uvicorn_command(f"{module}:app", port, "--workers", str(workers)),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.stack.callback(stop, proc)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url + "/docs", proc)
        return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code in (200, 404, 405):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not healthy in {timeout}s")


def require_wrk() -> None:
    """The benchmarks that drive load with wrk call this first (the load harness uses locust instead)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")


@contextmanager
def running_service(namespace: str, extra_env: dict[str, str] | None = None) -> Iterator[Rig]:
    from cluster.embedded import EmbeddedPostgres, EmbeddedRedis
    from persistence import migrate

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix=f"{namespace}-"))
        if not os.environ.get("BENCH_KEEP"):
            stack.callback(shutil.rmtree, tmp, True)
        database_url = os.environ.get("DATABASE_URL")
        if database_url:
            name = f"{namespace.replace('-', '_')}_{os.getpid()}"
            with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            database_url = libpq_url(database_url).rsplit("/", 1)[0] + "/" + name
        else:
            postgres = EmbeddedPostgres(tmp / "pg")
            database_url = postgres.start()
            stack.callback(postgres.stop)
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_server = EmbeddedRedis(tmp / "redis")
            redis_url = redis_server.start()
            stack.callback(redis_server.stop)
        migrate.upgrade(database_url)
        ray.init(num_cpus=2, include_dashboard=False, namespace=namespace, logging_level=logging.ERROR)
        stack.callback(ray.shutdown)
        port = free_port()
        env = {
            **os.environ,
            **ADMIN,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RAY_ADDRESS": ray.get_runtime_context().gcs_address,
            "BOOKING_RAY_NAMESPACE": namespace,
            "BOOKING_REDIS_PREFIX": f"{namespace}:",
            "BOOKING_RATE_LIMIT_PER_MINUTE": "0",
            "BOOKING_SEED_DEMO_CATALOG": "false",
            **(extra_env or {}),
        }
        service = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stdout=(tmp / "service.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop, service)
        print(f"service log: {tmp / 'service.log'}", flush=True)
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url + "/healthz", service)
        yield Rig(base_url, database_url, namespace, tmp, service, stack, env)


def uvicorn_command(app: str, port: int, *options: str) -> list[str]:
    """``python -m uvicorn`` serving ``app`` on ``port`` on the service's HTTP stack (uvloop, httptools),
    logging warnings only and no access log, with any further uvicorn ``options``."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        *options,
        app,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def wrk_command(url: str, script: Path, seconds: int, connections: int, threads: int, *options: str) -> list[str]:
    """The wrk command line: ``threads`` threads keeping ``connections`` open for ``seconds``, running the
    Lua ``script`` against ``url``, with any further wrk ``options``."""
    return ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", *options, "-s", str(script), url]


def wrk(base_url: str, script: Path, seconds: int, connections: int, threads: int) -> dict[str, Any]:
    out = subprocess.run(
        wrk_command(base_url, script, seconds, connections, threads, "--latency"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    return {
        "requests": requests,
        "ok": requests - (int(non2xx.group(1)) if non2xx else 0),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": lat.get("50", "?"),
        "p99": lat.get("99", "?"),
    }


def print_table(results: dict[str, dict[str, Any]], unit: str) -> None:
    print(f"\n{'design':32} {unit:>9} {'ok':>7} {'requests':>9} {'p50':>9} {'p99':>9}")
    for name, r in results.items():
        print(f"{name:32} {r['rps']:9.0f} {r['ok']:7d} {r['requests']:9d} {r['p50']:>9} {r['p99']:>9}")
