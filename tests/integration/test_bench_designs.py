"""The comparison benchmark's baselines 3 and 4 are correct, and its double-sale audit can fail.

``bench/redis_design.py`` and ``bench/pg_design.py`` are what the service is measured against, so a
baseline that cut a corner (a partial multi-seat hold, two owners of a seat) would flatter itself. Here
each is driven in-process (ASGI, its real lifespan, real Redis / PostgreSQL) by a small crowd asking for
overlapping seat pairs at once: granted pairs are disjoint, a refused request leaves nothing behind, and
the store holds exactly the granted seats. Then the audit of ``bench/compare.py`` is shown to flag an
injected duplicate grant and a granted seat missing from the store (negative controls), and its report to
set the hosted design against pg, the dedicated service and its own hot show round by round (issue 15).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from fastapi import FastAPI

from bench import pg_design, redis_design
from bench.compare import Target, audit, layout_of, pg_held, print_report, redis_held, summarise
from settings import libpq_url
from tests.services import provision_postgres, provision_redis

SEATS = [f"A{n}" for n in range(1, 9)]
CROWD = 24


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root: Path = tmp_path_factory.mktemp("bench-designs")
    database_url, drop = provision_postgres(root)
    redis_url, stop = provision_redis(root)
    try:
        yield libpq_url(database_url), redis_url
    finally:
        stop()
        drop()


def new_target() -> Target:
    return Target(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), SEATS)


async def crowd(app: FastAPI, target: Target) -> list[tuple[int, list[str], dict[str, Any]]]:
    """CROWD requests at once, request i asking for seats i and i+1 (mod 8): most overlap."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://design") as client:

            async def one(i: int) -> tuple[int, list[str], dict[str, Any]]:
                seats = [SEATS[i % len(SEATS)], SEATS[(i + 1) % len(SEATS)]]
                response = await client.post(
                    f"/HoldSeat/api/v0/{target.movie_id}",
                    headers={"AuthorizationToken": f"user-{i}"},
                    json={
                        "movie_id": target.movie_id,
                        "theater_id": target.theater_id,
                        "event_id": target.show_id,
                        "selected_seat": seats,
                    },
                )
                return response.status_code, seats, response.json()

            answers = await asyncio.gather(*(one(i) for i in range(CROWD)))
            seat_map = (await client.get(f"/api/v1/shows/{target.show_id}/seats")).json()
    answers.append((-1, [], seat_map))
    return answers


def check_all_or_nothing(answers: list[tuple[int, list[str], dict[str, Any]]], held: set[str], show: str) -> list[str]:
    *holds, (_, _, seat_map) = answers
    statuses = sorted({status for status, _, _ in holds})
    assert set(statuses) <= {200, 409}, statuses
    granted = [f"{show}|{s}" for status, seats, _ in holds if status == 200 for s in seats]
    assert granted, "someone must win"
    assert len(granted) == len(set(granted)), "two winners for one seat"
    assert 409 in statuses, "the crowd overlaps, so someone must lose"
    # All or nothing: the store holds exactly the granted seats, nothing of a refused request.
    assert held == set(granted)
    shown = {f"{show}|{s['id']}" for s in seat_map["seats"] if s["status"] == "held"}
    assert shown == held
    return granted


async def test_redis_design_is_all_or_nothing_and_audited(stores: tuple[str, str]) -> None:
    _, redis_url = stores
    prefix = f"test-bench-{secrets.token_hex(4)}:"
    target = new_target()
    client = redis.Redis.from_url(redis_url)
    try:
        redis_design.load_show(client, prefix, target.show_id, layout_of(SEATS))
        answers = await crowd(redis_design.create_app(redis_url, prefix), target)
        held = redis_held(client, prefix, [target])
        granted = check_all_or_nothing(answers, held, target.show_id)
        assert audit(granted, held).ok
        # Negative controls: a seat granted twice, and a granted seat the store does not hold.
        assert audit([*granted, granted[0]], held).granted_twice == 1
        client.delete(redis_design.seat_key(prefix, target.show_id, granted[0].split("|")[1]))
        after = audit(granted, redis_held(client, prefix, [target]))
        assert not after.ok
        assert after.granted_not_held == 1
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_pg_design_is_all_or_nothing_and_audited(stores: tuple[str, str]) -> None:
    database_url, _ = stores
    target = new_target()
    with psycopg.connect(database_url, autocommit=True) as conn:
        pg_design.setup_schema(conn)
        pg_design.load_show(conn, target.show_id, layout_of(SEATS))
    answers = await crowd(pg_design.create_app(database_url, pool_size=4), target)
    held = pg_held(database_url, [target])
    granted = check_all_or_nothing(answers, held, target.show_id)
    assert audit(granted, held).ok
    assert not audit([*granted, granted[-1]], held).ok
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE bench_pg_seats SET holder = NULL WHERE show_id = %s AND seat_id = %s",
            (target.show_id, granted[0].split("|")[1]),
        )
    after = audit(granted, pg_held(database_url, [target]))
    assert not after.ok
    assert after.granted_not_held == 1


def test_audit_of_a_store_it_cannot_read_still_catches_two_grants() -> None:
    assert audit(["s|A1", "s|A2"], None).ok
    flagged = audit(["s|A1", "s|A2", "s|A1"], None)
    assert not flagged.ok
    assert flagged.examples == ["s|A1"]


def closed_run(workload: str, design: str, round_no: int, throughput: float) -> dict[str, Any]:
    return {
        "workload": workload,
        "design": design,
        "round": round_no,
        "throughput": throughput,
        "p50": 1.0,
        "p99": 2.0,
        "p99.9": 3.0,
        "statuses": {"200": 1},
    }


def test_report_sets_hosted_against_pg_the_service_and_its_own_hot_show_per_round(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = [
        closed_run("multi", "hosted", 1, 300),
        closed_run("multi", "pg", 1, 600),
        closed_run("multi", "service", 1, 100),
        closed_run("hot", "hosted", 1, 1000),
        closed_run("hot", "hosted", 2, 1000),  # round 2 in the other order: ratios pair by round
        closed_run("multi", "service", 2, 300),
        closed_run("multi", "pg", 2, 900),
        closed_run("multi", "hosted", 2, 900),
    ]
    summary = summarise(runs, ["service", "hosted", "pg"], ["multi", "hot"])
    ratios = summary["ratios"]
    assert ratios["multi: hosted/pg"]["rounds"] == [0.5, 1.0]
    assert ratios["multi: hosted/service"]["rounds"] == [3.0, 3.0]
    assert ratios["multi/hot: hosted"]["rounds"] == [0.3, 0.9]
    assert ratios["multi/hot: hosted"]["median"] == pytest.approx(0.6)
    assert "multi/hot: service" not in ratios  # the service has no hot run here
    assert "hot: hosted/pg" not in ratios
    print_report(summary)
    out = capsys.readouterr().out
    assert "MISS  service, shows in host actors: many shows at once >= 1.0x PG row locks: 0.75" in out
    assert "PASS  service, shows in host actors: many shows at once >= 0.5x its own hot show: 0.60" in out
