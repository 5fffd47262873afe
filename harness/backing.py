"""Backing services for tests and tools: a server named by the environment, or an embedded one.

The fixtures in tests/conftest.py, the reliability suite, the load harness and the benchmarks call these.
With ``DATABASE_URL`` set (any PostgreSQL URL, with or without a ``+driver`` suffix) each call creates a
fresh, uniquely named database on that server and its cleanup drops it; without it, a throwaway
``EmbeddedPostgres`` runs in the given temp dir.  With ``REDIS_URL`` set it is used as is (callers isolate
by key prefix); without it, a throwaway ``EmbeddedRedis`` runs.  Both return ``(url, cleanup)``; cleanups
are idempotent. ``query_int`` is the one query helper their callers share: the audits of the reliability suite
and the benchmarks read counts back from the database they provisioned.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from cluster.embedded import EmbeddedPostgres, EmbeddedRedis

__all__ = [
    "TEST_DATABASE_PREFIX",
    "libpq_url",
    "provision_postgres",
    "provision_redis",
    "query_int",
    "sqlalchemy_url",
]

TEST_DATABASE_PREFIX = "booking_test_"


def _parse_postgres_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed


def libpq_url(url: str) -> str:
    """The same URL in the ``postgresql://`` form libpq/psycopg accept (drops any ``+driver``)."""
    return _parse_postgres_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    """The same URL in the ``postgresql+psycopg://`` form SQLAlchemy uses with psycopg 3."""
    return _parse_postgres_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def query_int(conn: psycopg.Connection[Any], query: LiteralString, params: Sequence[Any] = ()) -> int:
    """The first column of ``query``'s first row as an int, 0 when it returns no row (``SELECT count(*)``,
    ``coalesce(sum(…), 0)``)."""
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # WITH (FORCE) terminates the connections itself (PG13+); the explicit terminate also
        # covers sessions that reconnect between the two statements.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def provision_postgres(tmp_root: Path) -> tuple[str, Callable[[], None]]:
    """A PostgreSQL database for one test session: ``(sqlalchemy_url, cleanup)``.

    ``DATABASE_URL`` set: ``CREATE DATABASE booking_test_<hex>`` on that server (connecting to the
    database the URL names) and a cleanup that drops it.  Unset: an ``EmbeddedPostgres`` in
    ``tmp_root/pg`` (its ``booking`` database) and a cleanup that stops it.
    """
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        pg = EmbeddedPostgres(tmp_root / "pg")
        return pg.start(), pg.stop

    admin_url = libpq_url(server_url)
    name = f"{TEST_DATABASE_PREFIX}{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    test_url = _parse_postgres_url(server_url).set(drivername="postgresql+psycopg", database=name)

    def cleanup() -> None:
        _drop_database(admin_url, name)

    return test_url.render_as_string(hide_password=False), cleanup


def provision_redis(tmp_root: Path) -> tuple[str, Callable[[], None]]:
    """A Redis for one test session: ``(url, cleanup)``.

    ``REDIS_URL`` set: that URL and a no-op cleanup (shared server; tests isolate by key prefix).
    Unset: an ``EmbeddedRedis`` in ``tmp_root/redis`` and a cleanup that stops it.
    """
    server_url = os.environ.get("REDIS_URL")
    if server_url:
        return server_url, _no_op
    redis = EmbeddedRedis(tmp_root / "redis")
    return redis.start(), redis.stop


def _no_op() -> None:
    return None
