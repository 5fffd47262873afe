"""The operations probes: ``/livez``, ``/readyz`` and ``/healthz``, and the one list of checks behind them.

``/healthz`` and ``/readyz`` ask the same questions in the same order (start-up done? PostgreSQL
reachable?) and answer the first that fails with a 503 problem carrying ``Retry-After``; ``/readyz`` also
asks whether this process still reaches the Ray cluster. Those checks are written once, in
``first_failure``, so the two probes cannot drift apart. ``/livez`` checks nothing: it answers while the
process serves HTTP at all.

"Start-up done" is ``app.state.ready``, which the application's lifespan sets (``api.app``).
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from api import problems
from api.observability import RayProbe

RETRY = {"Retry-After": "2"}


class Pingable(Protocol):
    """The database as the probes see it (``persistence.database.Database``): ``ping`` raises when unreachable."""

    async def ping(self) -> None: ...


class ClusterProbe(Protocol):
    """Whether this process reaches the Ray cluster (``api.observability.RayProbe``)."""

    async def connected(self) -> bool: ...


async def first_failure(app: FastAPI, database: Pingable, ray_probe: ClusterProbe | None) -> JSONResponse | None:
    """The 503 answer for the first check that fails, or None when all pass: start-up done, the database
    reachable, and (unless ``ray_probe`` is None) the Ray cluster connected."""
    if not app.state.ready:
        return problems.problem(503, "starting up", "starting", RETRY)
    try:
        await database.ping()
    except Exception:
        return problems.problem(503, "the booking database is not reachable", "database-down", RETRY)
    if ray_probe is not None and not await ray_probe.connected():
        return problems.problem(503, "the Ray cluster is not reachable", "ray-down", RETRY)
    return None


def add_probes(app: FastAPI, database: Pingable, ray_probe: ClusterProbe | None = None) -> None:
    """Add the three probe routes to ``app``; ``ray_probe`` defaults to a ``RayProbe`` of this process."""
    cluster: ClusterProbe = ray_probe if ray_probe is not None else RayProbe()

    @app.get("/healthz", tags=["operations"], responses=problems.problem_responses(503))
    async def healthz() -> Any:
        """200 once the service accepts bookings (database reachable, start-up done), else 503."""
        return await first_failure(app, database, None) or JSONResponse({"status": "ok"})

    @app.get("/livez", tags=["operations"])
    async def livez() -> Any:
        """200 while this process serves HTTP at all (a liveness probe: restart the process if not)."""
        return JSONResponse({"status": "alive"})

    @app.get("/readyz", tags=["operations"], responses=problems.problem_responses(503))
    async def readyz() -> Any:
        """200 when this process can take bookings: start-up done, PostgreSQL reachable and the Ray cluster
        connected; else 503 with `Retry-After` (a readiness probe: send no traffic here until it passes)."""
        return await first_failure(app, database, cluster) or JSONResponse({"status": "ready"})
