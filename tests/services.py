"""Backing services for the integration tests: ``harness.backing``, re-exported under its old name.

It lives in the packaged ``harness`` so the reliability suite and the benchmarks can provision databases
from an installed tree too (the ``tests`` package is not installed).
"""

from __future__ import annotations

from harness.backing import TEST_DATABASE_PREFIX, libpq_url, provision_postgres, provision_redis, sqlalchemy_url

__all__ = [
    "TEST_DATABASE_PREFIX",
    "libpq_url",
    "provision_postgres",
    "provision_redis",
    "sqlalchemy_url",
]
