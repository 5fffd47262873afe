"""Seatwise on a Ray cluster: node failure, fencing of a resumed stale copy, and what operators see.

The multi-node run (``tests/cluster_scenarios/node_failure.py``) builds its own four-node Ray cluster on
this machine, so it runs in a subprocess of its own (the test process already drives the session's local
Ray) against a fresh database, and reports what it saw; the tests here judge that report. The fencing of
a stale copy whose epoch was taken over *behind its back* is in ``test_actor_lifecycle.py``; the run here
adds the cluster variant: a frozen node declared dead, its show restarted elsewhere, the old process
resumed.

The rest checks what ships for operators: the cluster configs (parsed, and the launcher config validated
the way ``ray up`` validates it), the Grafana dashboard against the metric names the actor exports, the
address check that keeps machine-local URLs out of a multi-machine cluster, the metrics hook, request ids
in JSON logs, and the probes.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
import yaml  # type: ignore[import-untyped]

from actors.errors import SeatsUnavailable, Unavailable
from actors.metrics import METRICS, ShowMetrics
from actors.seat_map_core import (
    Booking,
    BookingConfirmed,
    Event,
    Hold,
    HoldReleased,
    Payment,
    PaymentAborted,
    PaymentStarted,
    SeatsHeld,
)
from api import observability
from cluster import topology
from settings import Settings
from tests.cluster_scenarios.node_failure import problems
from tests.conftest import Service

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
SCENARIO_TIMEOUT_SECONDS = 240


# -- the cluster run ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.services import provision_postgres, provision_redis

    root = tmp_path_factory.mktemp("cluster")
    database_url, drop_database = provision_postgres(root)
    redis_url, stop_redis = provision_redis(root)
    report_path = root / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in {"RAY_ADDRESS", "DATABASE_URL", "REDIS_URL"}}
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.cluster_scenarios.node_failure",
                "--database-url",
                database_url,
                "--redis-url",
                redis_url,
                "--report",
                str(report_path),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT_SECONDS,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
        print(run.stdout)
        report: dict[str, Any] = json.loads(report_path.read_text())
        yield report
    finally:
        stop_redis()
        drop_database()


def test_killing_the_node_of_a_show_mid_load_loses_nothing_and_the_show_comes_back_elsewhere(
    cluster_report: dict[str, Any],
) -> None:
    kill = cluster_report["kill"]
    assert cluster_report["problems"] == [], cluster_report["problems"]
    assert problems(cluster_report) == []
    statuses = {a["status"] for a in kill["answers"]}
    assert {201, 409, 503} <= statuses, statuses  # holds, real conflicts, and clients told to retry
    assert kill["recovery_seconds"] is not None
    print(f"\nrecovery after the node kill: {kill['recovery_seconds']:.2f} s (kill -> first successful hold)")


def test_a_frozen_then_resumed_copy_is_fenced_off(cluster_report: dict[str, Any]) -> None:
    """The resumed copy's commit is refused and it steps down: a show's own actor exits (dedicated
    placement); a host drops the show and serves on (hosted, the default), so its process may live."""
    stale = cluster_report["stale"]
    assert stale["stale_stepped_down"], "the resumed copy must stop serving the show: its commit was refused"
    if stale["placement"] == "dedicated":
        assert stale["stale_exited"], "a fenced show actor exits"
    assert any("superseded" in line for line in stale["stale_log"]), stale["stale_log"]
    assert stale["after"]["node_id"] != stale["before"]["node_id"]


def test_the_show_actors_export_their_metrics_to_prometheus(cluster_report: dict[str, Any]) -> None:
    loaded = cluster_report["metrics"]["loaded"]
    for name in ("holds", "seats_held", "bookings", "refusals", "payments", "batch_size", "commit_seconds"):
        assert loaded.get(METRICS[name].exported(name), 0) > 0, (name, loaded)
    assert METRICS["live_holds"].exported("live_holds") in loaded
    frozen = cluster_report["metrics"]["frozen"]
    assert frozen.get(METRICS["hold_expirations"].exported("hold_expirations"), 0) >= 1, frozen


def test_in_json_mode_the_service_logs_json_lines_and_answers_with_request_ids(cluster_report: dict[str, Any]) -> None:
    assert cluster_report["service_log_not_json"] == []
    assert cluster_report["request_ids"]["echoed"] == "cluster-run-1"
    assert cluster_report["request_ids"]["made"]


def test_the_report_check_catches_wrong_answers(cluster_report: dict[str, Any]) -> None:
    """Negative controls: the judge of the cluster run must fail on a report that breaks a promise."""
    kill = cluster_report["kill"]
    won = next(a for a in kill["answers"] if a["op"] == "hold" and a["status"] == 201)
    lost = next(a for a in kill["answers"] if a["op"] == "hold" and a["status"] == 409)

    told_twice = copy.deepcopy(cluster_report)  # a 201 for a seat someone else has
    told_twice["kill"]["answers"].append({**lost, "status": 201, "body": won["body"]})
    assert any("not in PostgreSQL as told" in p or "two customers" in p for p in problems(told_twice))

    lost_hold = copy.deepcopy(cluster_report)  # an acknowledged hold PostgreSQL does not have
    lost_hold["kill"]["database"]["holds"] = [
        h for h in lost_hold["kill"]["database"]["holds"] if h["id"] != won["body"]["id"]
    ]
    assert any("not in PostgreSQL" in p for p in problems(lost_hold))

    server_error = copy.deepcopy(cluster_report)  # a 5xx other than 503, and a 503 without Retry-After
    server_error["kill"]["answers"].append({**won, "status": 500, "body": {}})
    server_error["kill"]["answers"].append({**won, "status": 503, "retry_after": None, "body": {}})
    assert len(problems(server_error)) == 2

    stale_write = copy.deepcopy(cluster_report)  # a write under the superseded epoch after the freeze
    ledger = stale_write["stale"]["database"]["ledger"]
    ledger.append({**ledger[-1], "epoch": stale_write["stale"]["before"]["epoch"]})
    assert any("stale copy wrote" in p for p in problems(stale_write))


# -- cluster configs ----------------------------------------------------------------------------------------


def yaml_documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(CLUSTER.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert isinstance(document, dict), f"{path}: a document that is not a mapping"
            found.append((path, document))
    return found


def test_every_yaml_under_cluster_parses_into_mappings() -> None:
    documents = yaml_documents()
    paths = {path.relative_to(CLUSTER).as_posix() for path, _ in documents}
    assert {"ray-cluster.yaml", "kuberay/raycluster.yaml", "kuberay/api.yaml"} <= paths, paths
    for path, document in documents:
        if path.parent.name == "kuberay":
            assert document.get("apiVersion"), f"{path}: not a Kubernetes object"
            assert document.get("kind"), f"{path}: not a Kubernetes object"


def test_the_launcher_config_is_what_ray_up_accepts() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)  # Ray's own JSON schema for cluster configs, as `ray up` runs it
    head = " ".join(config["head_start_ray_commands"])
    assert "RAY_REDIS_ADDRESS" in head
    assert "--memory=0" in head


def test_the_kuberay_cluster_keeps_show_actors_off_the_head_and_the_gcs_in_redis() -> None:
    (cluster,) = [d for _, d in yaml_documents() if d.get("kind") == "RayCluster"]
    spec = cluster["spec"]
    assert spec["gcsFaultToleranceOptions"]["redisAddress"]
    assert spec["headGroupSpec"]["rayStartParams"]["memory"] == "0"
    assert spec["rayVersion"] == ray.__version__


def test_the_deployment_configs_name_only_real_settings_and_served_probes(live_service: Service) -> None:
    """Every ``BOOKING_*`` variable in the configs is a setting (a typo would be silently ignored), and the
    probes the API Deployment uses answer 200 on the running service."""
    known = {f"BOOKING_{name.upper()}" for name in Settings.model_fields}
    text = "\n".join(path.read_text() for path in CLUSTER.rglob("*.yaml"))
    used = set(re.findall(r"\bBOOKING_[A-Z0-9_]+", text))
    assert used
    assert used <= known, used - known
    (deployment,) = [d for _, d in yaml_documents() if d.get("kind") == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    probes = {container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}
    for path in probes:
        assert httpx.get(live_service.base_url + path, timeout=10).status_code == 200, path


def test_the_grafana_dashboard_charts_the_exported_metrics() -> None:
    (path,) = (CLUSTER / "grafana").glob("*.json")
    dashboard = json.loads(path.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    charted = {re.sub(r"_(bucket|sum|count)$", "", n) for e in expressions for n in re.findall(r"ray_seatwise_\w+", e)}
    exported = {spec.exported(key) for key, spec in METRICS.items()}
    assert charted <= exported, charted - exported
    assert charted == exported, f"not charted: {exported - charted}"


# -- addresses that only work on one machine -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:5432/booking", True),
        ("postgresql://u@localhost/booking", True),
        ("postgresql:///booking?host=/var/run/postgresql", True),
        ("postgresql://%2Fvar%2Frun%2Fpostgresql/booking", True),
        ("postgresql:///booking", True),
        ("redis://[::1]:6379/0", True),
        ("unix:///run/redis.sock", True),
        ("redis://127.0.0.1:6379/0", True),
        ("postgresql://u@db.internal:5432/booking", False),
        ("postgresql://u@10.0.0.5/booking", False),
        ("redis://redis.seatwise.svc.cluster.local:6379/0", False),
    ],
)
def test_machine_local_addresses_are_recognised(url: str, local: bool) -> None:
    assert (topology.machine_local(url) is not None) == local


def test_machine_local_addresses_are_refused_only_when_the_cluster_spans_machines() -> None:
    urls = {"DATABASE_URL": "postgresql://u@127.0.0.1/b", "REDIS_URL": "redis://redis.internal:6379/0"}
    assert topology.unreachable_from_cluster(urls, ["10.0.0.1", "10.0.0.1", "10.0.0.1"]) == []
    (problem,) = topology.unreachable_from_cluster(urls, ["10.0.0.1", "10.0.0.2"])
    assert problem.startswith("DATABASE_URL points at the loopback address 127.0.0.1")


# -- the metrics hook ----------------------------------------------------------------------------------------


class FakeMetric:
    def __init__(self) -> None:
        self.values: dict[tuple[tuple[str, str], ...], float] = {}

    def _add(self, value: float, tags: dict[str, str] | None) -> None:
        key = tuple(sorted((tags or {}).items()))
        self.values[key] = self.values.get(key, 0.0) + value

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        self._add(value, tags)

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        self._add(value, tags)

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        self.values[tuple(sorted((tags or {}).items()))] = value


def test_the_metrics_hook_counts_what_a_committed_batch_did() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    fakes = {key: FakeMetric() for key in METRICS}
    metrics = ShowMetrics("s1", lambda: (2, {"held": 3, "available": 7}), create=lambda _: dict(fakes))
    now = datetime.now(UTC)
    hold = Hold("h1", "u1", ("A1", "A2"), now, now, Decimal(1))
    booking = Booking("b1", "u1", ("A1", "A2"), ("h1",), Decimal(1), now, payment_key="p1")
    events: list[Event] = [SeatsHeld(hold), SeatsHeld(hold), HoldReleased(hold, "expired")]
    events += [HoldReleased(hold, "released")]
    events += [PaymentStarted(Payment("p1", "u1", (hold,))), BookingConfirmed(booking)]
    events += [PaymentAborted("p2", (hold,), "declined")]
    metrics.committed(events, 0.004)
    metrics.batch(5, [hold, SeatsUnavailable(["A1"]), SeatsUnavailable(["A2"]), Unavailable("down")])
    assert fakes["holds"].values == {(): 2}
    assert fakes["seats_held"].values == {(): 4}
    assert fakes["bookings"].values == {(): 1}
    assert fakes["hold_expirations"].values == {(): 1}
    assert fakes["hold_releases"].values == {(("reason", "released"),): 1}
    assert fakes["payments"].values == {
        (("outcome", "started"),): 1,
        (("outcome", "captured"),): 1,
        (("outcome", "declined"),): 1,
    }
    assert fakes["refusals"].values == {(("reason", "SeatsUnavailable"),): 2, (("reason", "Unavailable"),): 1}
    assert fakes["batch_size"].values == {(): 5}
    assert fakes["commit_seconds"].values == {(): 0.004}
    assert fakes["live_holds"].values == {(): 2}
    assert fakes["seats"].values == {(("status", "held"),): 3, (("status", "available"),): 7}


def test_a_failing_metric_never_reaches_the_show_actor() -> None:
    class Broken(FakeMetric):
        def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
            raise RuntimeError("exporter gone")

    def no_metrics(_: str) -> dict[str, Any]:
        raise RuntimeError("no Ray here")

    broken = ShowMetrics("s1", lambda: None, create=lambda _: {key: Broken() for key in METRICS})
    broken.committed([], 0.01)  # must not raise
    broken.batch(1, [])
    ShowMetrics("s1", lambda: None, create=no_metrics).committed([], 0.01)


# -- request ids, JSON logs, readiness -------------------------------------------------------------------------


async def test_request_ids_travel_from_the_request_to_the_response_and_every_log_line() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Capture()
    handler.setFormatter(observability.JsonFormatter())
    logger = logging.getLogger("booking.test_request_ids")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    async def hello(request: Request) -> PlainTextResponse:
        logger.info("serving %s", request.url.path)
        return PlainTextResponse("hi")

    app = observability.RequestIdMiddleware(Starlette(routes=[Route("/hello", hello)]))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            given = await client.get("/hello", headers={"X-Request-ID": "abc-123"})
            made = await client.get("/hello")
            refused = await client.get("/hello", headers={"X-Request-ID": 'no"quotes or spaces'})
    finally:
        logger.removeHandler(handler)
    assert given.headers["x-request-id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{24}", made.headers["x-request-id"])
    assert refused.headers["x-request-id"] != 'no"quotes or spaces'
    lines = [json.loads(r) for r in records]
    assert [line["request_id"] for line in lines] == [h.headers["x-request-id"] for h in (given, made, refused)]
    assert lines[0]["message"] == "serving /hello"
    assert lines[0]["level"] == "INFO"
    logger.info("outside any request")
    assert observability.request_id.get() is None


def test_json_mode_turns_what_libraries_print_into_json_lines() -> None:
    import io

    out = io.StringIO()
    stream = observability.JsonLinesStream(out, "stdout")
    print("\x1b[33m(raylet)\x1b[0m The node with node id: abc has been marked dead", file=stream)
    stream.write('{"already": "json"}\npartial ')
    stream.write("line\n\n")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["message"] == "(raylet) The node with node id: abc has been marked dead"
    assert lines[0]["logger"] == "stdout"
    assert lines[1] == {"already": "json"}
    assert lines[2]["message"] == "partial line"
    assert len(lines) == 3


async def test_readiness_says_no_while_ray_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    def hangs() -> bool:
        time.sleep(1.0)
        return True

    monkeypatch.setattr(observability, "_reaches_gcs", hangs)
    probe = observability.RayProbe(timeout_seconds=0.2, cache_seconds=0.0)
    started = time.monotonic()
    assert await probe.connected() is False
    assert time.monotonic() - started < 0.9  # bounded by the probe's timeout, not by Ray
    monkeypatch.setattr(observability, "_reaches_gcs", lambda: True)
    await asyncio.sleep(1.0)  # the hung check finishes; the next one is fresh
    assert await probe.connected() is True


def test_liveness_and_readiness_on_the_running_service(live_service: Service) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=10) as client:
        assert client.get("/livez").json() == {"status": "alive"}
        assert client.get("/readyz").json() == {"status": "ready"}
        assert client.get("/healthz").json() == {"status": "ok"}
