"""The probes (``api.health``) on a bare FastAPI app with a fake database and a fake Ray probe: each check's
failure answers 503 with its own problem code and ``Retry-After``, in order; ``/healthz`` does not ask Ray,
``/livez`` asks nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from api.health import add_probes


@dataclass
class FakeDatabase:
    up: bool = True

    async def ping(self) -> None:
        if not self.up:
            raise ConnectionError("database down")


@dataclass
class FakeCluster:
    up: bool = True
    asked: int = 0

    async def connected(self) -> bool:
        self.asked += 1
        return self.up


@dataclass
class Probes:
    app: FastAPI
    database: FakeDatabase
    cluster: FakeCluster
    client: httpx.AsyncClient

    async def status(self, path: str) -> tuple[int, str | None, str | None]:
        """Status, the problem's code (the end of its type) or the body's status, and Retry-After."""
        response = await self.client.get(path)
        body = response.json()
        code = body["type"].rsplit("/", 1)[-1] if "type" in body else body["status"]
        return response.status_code, code, response.headers.get("retry-after")


@pytest.fixture
async def probes() -> AsyncIterator[Probes]:
    app = FastAPI()
    app.state.ready = True
    database, cluster = FakeDatabase(), FakeCluster()
    add_probes(app, database, cluster)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        yield Probes(app, database, cluster, client)


async def test_all_checks_pass(probes: Probes) -> None:
    assert await probes.status("/healthz") == (200, "ok", None)
    assert await probes.status("/readyz") == (200, "ready", None)
    assert await probes.status("/livez") == (200, "alive", None)


async def test_before_start_up_is_done_both_probes_say_starting(probes: Probes) -> None:
    probes.app.state.ready = False
    probes.database.up = False  # the first failing check answers
    assert await probes.status("/healthz") == (503, "starting", "2")
    assert await probes.status("/readyz") == (503, "starting", "2")
    assert await probes.status("/livez") == (200, "alive", None)


async def test_an_unreachable_database_fails_both_probes(probes: Probes) -> None:
    probes.database.up = False
    probes.cluster.up = False
    assert await probes.status("/healthz") == (503, "database-down", "2")
    assert await probes.status("/readyz") == (503, "database-down", "2")
    assert await probes.status("/livez") == (200, "alive", None)


async def test_an_unreachable_cluster_fails_readiness_only(probes: Probes) -> None:
    probes.cluster.up = False
    assert await probes.status("/healthz") == (200, "ok", None)
    assert probes.cluster.asked == 0  # health does not ask Ray
    assert await probes.status("/readyz") == (503, "ray-down", "2")
    assert probes.cluster.asked == 1
