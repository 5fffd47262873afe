"""Real embedded PostgreSQL / Redis servers (no mocks), and the test-service provisioning helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from cluster.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.services import TEST_DATABASE_PREFIX, libpq_url, provision_postgres, provision_redis

REPO_ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _postmaster_pid(pg: EmbeddedPostgres) -> int:
    return int((pg.pgdata / "postmaster.pid").read_text().splitlines()[0])


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """The process no longer runs (a zombie awaiting its parent's reaping counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _start_and_abandon(server: str, data_dir: Path, report: str) -> int:
    """What a crashed ``python main.py`` leaves behind: a fresh interpreter starts the embedded ``server``
    (a class of ``cluster.embedded``) on ``data_dir`` and exits without cleanup. Returns the server's
    ``report`` attribute (its port or pid), which the interpreter printed."""
    code = f"""
        import os
        from pathlib import Path
        from cluster.embedded import {server}
        server = {server}(Path({str(data_dir)!r}))
        server.start()
        print(server.{report}, flush=True)
        os._exit(0)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(result.stdout.strip())


# --------------------------------------------------------------------------- PostgreSQL


def test_postgres_starts_serves_booking_and_persists_across_restart(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    url = pg.start()
    try:
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/booking" == pg.url
        assert pg.port != 5432
        with _connect(url) as conn:
            conn.execute("CREATE EXTENSION pg_trgm")
            assert conn.execute("SELECT similarity('booking', 'bookings') > 0.5").fetchone() == (True,)
            assert conn.execute("SELECT current_database(), current_user").fetchone() == (
                "booking",
                "postgres",
            )
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
            assert conn.execute("SELECT upper('é')").fetchone() == ("É",)  # Unicode-aware builtin locale
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
            assert conn.execute("SHOW max_connections").fetchone() == ("200",)
            assert conn.execute("SHOW unix_socket_directories").fetchone() == ("",)
            conn.execute("CREATE TABLE seat (id int PRIMARY KEY, holder text)")
            conn.execute("INSERT INTO seat VALUES (1, 'ada')")

        # Listens on 127.0.0.1:port only, and has no Unix socket anywhere.
        postmaster = psutil.Process(_postmaster_pid(pg))
        listening = {(c.laddr.ip, c.laddr.port) for c in postmaster.net_connections("inet") if c.status == "LISTEN"}
        assert listening == {("127.0.0.1", pg.port)}
        assert postmaster.net_connections("unix") == []
        assert (tmp_path / "pg" / "postgres.log").stat().st_size > 0
    finally:
        pg.stop()

    assert not (pg.pgdata / "postmaster.pid").exists()
    assert _gone(postmaster.pid)
    pg.stop()  # idempotent

    with EmbeddedPostgres(tmp_path / "pg") as again, _connect(again.url) as conn:
        assert conn.execute("SELECT holder FROM seat WHERE id = 1").fetchone() == ("ada",)
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").fetchone() == (1,)
    assert not (again.pgdata / "postmaster.pid").exists()


def test_postgres_redoes_an_interrupted_initdb(tmp_path: Path) -> None:
    staging = tmp_path / "pg" / "pgdata.initdb"
    staging.mkdir(parents=True)
    (staging / "PG_VERSION").write_text("18\n")  # initdb writes this early, then was killed
    with EmbeddedPostgres(tmp_path / "pg") as pg, _connect(pg.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not staging.exists()


def test_postgres_two_instances_run_concurrently(tmp_path: Path) -> None:
    instances = [EmbeddedPostgres(tmp_path / "a"), EmbeddedPostgres(tmp_path / "b")]
    try:
        with ThreadPoolExecutor(2) as pool:
            urls = list(pool.map(lambda pg: pg.start(), instances))
        assert instances[0].port != instances[1].port
        for i, url in enumerate(urls):
            with _connect(url) as conn:
                conn.execute("CREATE TABLE who (name text)")
                conn.execute("INSERT INTO who VALUES (%s)", (f"instance-{i}",))
        for i, url in enumerate(urls):
            with _connect(url) as conn:
                assert conn.execute("SELECT name FROM who").fetchall() == [(f"instance-{i}",)]
    finally:
        for pg in instances:
            pg.stop()


def test_postgres_recovers_from_stale_postmaster_pid(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    try:
        with _connect(pg.start()) as conn:
            conn.execute("CREATE TABLE paid (id int)")
            conn.execute("INSERT INTO paid VALUES (42)")  # committed (autocommit): must survive the crash
        old_pid = _postmaster_pid(pg)
        os.kill(old_pid, signal.SIGKILL)
        assert _gone(old_pid)
        assert (pg.pgdata / "postmaster.pid").exists()  # stale: its process is dead

        url = EmbeddedPostgres(tmp_path / "pg").start()
        assert _postmaster_pid(pg) != old_pid
        with _connect(url) as conn:
            assert conn.execute("SELECT id FROM paid").fetchall() == [(42,)]
    finally:
        pg.stop()


def test_postgres_reuses_server_left_running_by_previous_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    # A previous `python main.py` that crashed: started the server and exited without stop().
    left_port = _start_and_abandon("EmbeddedPostgres", data_dir, "port")
    pg = EmbeddedPostgres(data_dir)
    try:
        left_pid = _postmaster_pid(pg)
        assert _port_open(left_port)

        assert pg.start() == f"postgresql+psycopg://postgres@127.0.0.1:{left_port}/booking"
        assert _postmaster_pid(pg) == left_pid  # reused, not restarted

        # Asked for another port: the running server is stopped and a fresh one started there. A port the
        # kernel just handed out and freed, not port + 1, which something else may hold (seen in CI).
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            wanted = probe.getsockname()[1]
        assert wanted != pg.port
        moved = EmbeddedPostgres(data_dir, port=wanted)
        assert moved.start().endswith(f"127.0.0.1:{wanted}/booking")
        assert _gone(left_pid)
        assert _postmaster_pid(pg) != left_pid
        with _connect(moved.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pg.stop()  # stops whatever runs on the data dir, whoever started it
    assert not _port_open(wanted)


# --------------------------------------------------------------------------- Redis


def test_redis_set_get_and_stop_really_stops(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    assert url == f"redis://127.0.0.1:{server.port}/0" == server.url
    assert server.port != 6379
    pid = server.pid
    assert pid is not None
    assert server.start() == url  # idempotent while running

    client = redis.Redis.from_url(url)
    try:
        client.set("hold:show-1:A1", "user-7")
        assert client.get("hold:show-1:A1") == b"user-7"
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
    finally:
        client.close()
        server.stop()

    assert _gone(pid)
    assert not _port_open(int(url.split(":")[2].split("/")[0]))
    assert server.pid is None
    server.stop()  # idempotent


def test_redis_is_a_server_with_redis_7_stream_replies(tmp_path: Path) -> None:
    """The notification consumer relies on Redis 7 behaviour: XAUTOCLAIM's third element lists pending
    ids whose entries were deleted (Redis 6.2 answers two elements and the consumer never acks them)."""
    with EmbeddedRedis(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        try:
            info = client.info("server")
            version = str(info.get("valkey_version") or info["redis_version"])
            assert int(version.split(".")[0]) >= 7, info
            assert info["process_id"] == server.pid

            kept = client.xadd("events", {"n": "1"})
            gone = client.xadd("events", {"n": "2"})
            client.xgroup_create("events", "senders", id="0")
            client.xreadgroup("senders", "crashed", {"events": ">"})  # both pending at a consumer that died
            client.xdel("events", gone)
            reply = client.xautoclaim("events", "senders", "heir", min_idle_time=0, start_id="0-0")
            assert len(reply) == 3, reply
            next_start, claimed, deleted = reply
            assert next_start == b"0-0"
            assert [entry_id for entry_id, _ in claimed] == [kept]
            assert deleted == [gone]
        finally:
            client.close()


def test_redis_two_instances_and_context_manager(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "r1") as one, EmbeddedRedis(tmp_path / "r2") as two:
        assert one.port != two.port
        c1, c2 = redis.Redis.from_url(one.url), redis.Redis.from_url(two.url)
        c1.set("k", "one")
        assert c2.get("k") is None
        c1.close()
        c2.close()
        pids = [one.pid, two.pid]
    assert all(pid is not None and _gone(pid) for pid in pids)


def test_redis_orphan_of_crashed_run_is_replaced(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    orphan_pid = _start_and_abandon("EmbeddedRedis", data_dir, "pid")
    assert psutil.pid_exists(orphan_pid)
    with EmbeddedRedis(data_dir) as fresh:
        assert _gone(orphan_pid)
        assert fresh.pid != orphan_pid


# --------------------------------------------------------------------------- provisioning helpers


def _system_postgres_listening() -> bool:
    return _port_open(5432)


def test_provision_postgres_creates_and_drops_unique_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _system_postgres_listening():
        pytest.skip("no PostgreSQL listening on 127.0.0.1:5432 to run the DATABASE_URL mode against")
    monkeypatch.setenv("DATABASE_URL", SYSTEM_PG_URL)

    url, cleanup = provision_postgres(tmp_path)
    other_url, other_cleanup = provision_postgres(tmp_path)
    try:
        assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:5432/" + TEST_DATABASE_PREFIX)
        name = url.rsplit("/", 1)[1]
        assert other_url.rsplit("/", 1)[1] != name
        lingering = _connect(url)  # an open session must not block the drop
        lingering.execute("CREATE TABLE t (x int)")
        with _connect(SYSTEM_PG_URL) as admin:
            assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() == (1,)
        cleanup()
        with _connect(SYSTEM_PG_URL) as admin:
            assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
        lingering.close()
        cleanup()  # idempotent
    finally:
        cleanup()
        other_cleanup()


def test_provision_postgres_embedded_without_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url, cleanup = provision_postgres(tmp_path)
    try:
        port = int(url.split(":")[2].split("/")[0])
        assert port != 5432
        assert url.endswith("/booking")
        with _connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("booking",)
    finally:
        cleanup()
    assert not _port_open(port)


def test_provision_redis_both_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    url, cleanup = provision_redis(tmp_path)
    assert url == "redis://127.0.0.1:6379/0"
    cleanup()
    assert not (tmp_path / "redis").exists()

    monkeypatch.delenv("REDIS_URL")
    url, cleanup = provision_redis(tmp_path)
    try:
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
    finally:
        cleanup()
    assert not _port_open(int(url.split(":")[2].split("/")[0]))
