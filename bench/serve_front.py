"""Ray Serve against plain uvicorn processes acting as Ray drivers, as the HTTP front of a cluster (issue 6).

    python -m bench.serve_front [--rounds 3] [--seconds 4] [--modes proxy,throughput,haproxy]

The question is only the front: how many requests a node's HTTP layer passes to Ray, and at what
latency, so both fronts serve the same FastAPI app (``build_app``) with two routes and the same JSON body
as the seed's ``HoldSeat``:

- ``/dict``: hold the seat in a dict in the front's own process (the front alone);
- ``/actor``: one Ray actor call per request to a ``SeatBox`` actor holding the seats in a dict (the
  front plus the hop every hold makes; no database, so nothing but the front and Ray is measured).

Fronts: ``uvicorn`` (one uvicorn process, uvloop + httptools, joined to the cluster as a Ray driver: what
``main.py`` runs) and Ray Serve with one replica of the same app behind ``@serve.ingress``, in each mode
Ray 2.60 offers: ``proxy`` (the default Python proxy actor forwarding to the replica), ``throughput``
(``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``: direct ingress, the replica serves HTTP itself, user code off the
event loop's thread) and ``haproxy`` (``RAY_SERVE_ENABLE_HA_PROXY=1``: HAProxy in front of replicas
serving HTTP directly). A mode is a property of the Ray cluster, so each mode gets its own cluster (a
child process running ``ray.init`` and ``serve.run``), and the uvicorn front joins that same cluster and
is measured in the same window, rounds alternating, so every ratio compares fronts on the same machine
state. wrk drives every run (2 threads, 64 connections, a new seat per request).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import ray
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from api.schemas import SeedHoldIn
from bench.harness import ROOT, free_port, require_wrk, stop, uvicorn_command, wait_healthy, wrk

MODES = {
    "proxy": {},
    "throughput": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
    "haproxy": {"RAY_SERVE_ENABLE_HA_PROXY": "1"},
}
ROUTES = ("dict", "actor")
BOX = "serve-front-box"
SHOW = "00000000-0000-0000-0000-000000000001"  # every id in the body; the routes only validate it

LUA = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  local n = math.floor(counter / 999)
  local row = string.char(65 + tid) .. string.char(65 + math.floor(n / 26) %% 26) .. string.char(65 + n %% 26)
  local seat = row .. (counter %% 999 + 1)
  local u = "00000000-0000-0000-0000-000000000001"
  local body = '{"movie_id":"' .. u .. '","theater_id":"' .. u .. '","event_id":"' .. u ..
    '","selected_seat":["' .. seat .. '"]}'
  return wrk.format("POST", "/%(route)s", {["Content-Type"] = "application/json",
    ["AuthorizationToken"] = "tok"}, body)
end
"""


@ray.remote(num_cpus=0)
class SeatBox:
    """The seats behind ``/actor``: a dict, a synchronous method (runs on the actor's thread, no loop)."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}

    def hold(self, seats: list[str], token: str) -> list[str]:
        taken = [s for s in seats if s in self.owners]
        if not taken:
            for seat in seats:
                self.owners[seat] = token
        return taken


def build_app(box_name: str) -> FastAPI:
    """The app both fronts serve; ``box_name`` is the ``SeatBox`` actor of this front."""
    app = FastAPI()
    owners: dict[str, str] = {}
    boxes: list[Any] = []

    def answer(body: SeedHoldIn, taken: list[str]) -> Any:
        if taken:
            return JSONResponse({"detail": "taken", "seats": taken}, status_code=409)
        return {"event_id": body.event_id, "selected_seat": body.selected_seat, "price": 250.0}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/dict")
    async def hold_dict(body: SeedHoldIn, authorizationtoken: str = Header()) -> Any:
        taken = [s for s in body.selected_seat if s in owners]
        if not taken:
            for seat in body.selected_seat:
                owners[seat] = authorizationtoken
        return answer(body, taken)

    @app.post("/actor")
    async def hold_actor(body: SeedHoldIn, authorizationtoken: str = Header()) -> Any:
        if not boxes:
            boxes.append(SeatBox.options(name=box_name, get_if_exists=True).remote())  # type: ignore[attr-defined]
        taken = await boxes[0].hold.remote(body.selected_seat, authorizationtoken)
        return answer(body, taken)

    return app


def uvicorn_app() -> FastAPI:
    """``uvicorn --factory bench.serve_front:uvicorn_app``: the app as a Ray driver on ``RAY_ADDRESS``."""
    ray.init(address=os.environ["RAY_ADDRESS"], namespace="serve-front", logging_level=logging.ERROR)
    return build_app(BOX + "-uvicorn")


def child(mode: str, port: int, ready: Path) -> None:
    """A Ray cluster in ``mode`` (env vars set by the parent) serving the app; writes ``ready`` when up."""
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, namespace="serve-front", logging_level=logging.ERROR)
    serve.start(http_options={"host": "127.0.0.1", "port": port})

    @serve.deployment(num_replicas=1, max_ongoing_requests=256)
    @serve.ingress(build_app(BOX + "-serve"))
    class Front:
        pass

    serve.run(
        Front.bind(),  # type: ignore[attr-defined]
        route_prefix="/",
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )
    ready.write_text(json.dumps({"gcs": ray.get_runtime_context().gcs_address}))
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()


def find_url(candidates: Sequence[int], timeout: float = 60) -> str:
    """The first port answering ``/healthz``: Serve's proxy port, or a direct-ingress replica's port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for port in candidates:
            url = f"http://127.0.0.1:{port}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return url
        time.sleep(0.5)
    raise SystemExit(f"no Serve endpoint answered on {list(candidates)[:3]}…")


@contextlib.contextmanager
def cluster(mode: str, tmp: Path) -> Iterator[tuple[str, str]]:
    """Yields (Serve URL, uvicorn URL) for a fresh cluster in ``mode``."""
    port = free_port()
    ready = tmp / f"{mode}.ready"
    env = {**os.environ, **MODES[mode], "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(31_000)}
    env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] = str(31_020)
    log = (tmp / f"{mode}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.serve_front", "--child", mode, "--port", str(port), "--ready", str(ready)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    front: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 180
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"Serve ({mode}) did not start; see {tmp / f'{mode}.log'}")
            time.sleep(0.5)
        serve_url = find_url([port, *range(31_000, 31_021), 8000])
        gcs = json.loads(ready.read_text())["gcs"]
        uport = free_port()
        front = subprocess.Popen(
            uvicorn_command("bench.serve_front:uvicorn_app", uport, "--factory"),
            cwd=ROOT,
            env={**os.environ, "RAY_ADDRESS": gcs},
            stdout=(tmp / f"{mode}-uvicorn.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        uvicorn_url = f"http://127.0.0.1:{uport}"
        wait_healthy(uvicorn_url + "/healthz", front)
        yield serve_url, uvicorn_url
    finally:
        if front is not None:
            stop(front)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], capture_output=True)


def loadavg() -> float:
    return os.getloadavg()[0]


def measure(url: str, route: str, seconds: int, tmp: Path) -> dict[str, Any]:
    script = tmp / f"{route}.lua"
    script.write_text(LUA % {"route": route})
    # warm: the first actor call creates the actor
    with contextlib.suppress(httpx.HTTPError):
        body = {"movie_id": SHOW, "theater_id": SHOW, "event_id": SHOW, "selected_seat": ["Z1"]}
        httpx.post(f"{url}/{route}", json=body, headers={"AuthorizationToken": "tok"}, timeout=30)
    result = wrk(url, script, seconds, 64, 2)
    result["load"] = round(loadavg(), 1)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve_front", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--out", type=Path, default=None, help="write results.json here")
    parser.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.port, args.ready)
        return
    require_wrk()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown modes {sorted(unknown)}; choose from {list(MODES)}")
    # one auth mode for the clusters and the drivers joining them (a token in ~/.ray turns it on otherwise)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    tmp = Path(tempfile.mkdtemp(prefix="serve-front-"))
    runs: list[dict[str, Any]] = []
    total = len(modes) * args.rounds * 2 * len(ROUTES)
    step = 0
    started = time.monotonic()
    for mode in modes:
        print(f"starting a Ray cluster with Serve in mode {mode!r} …", flush=True)
        with cluster(mode, tmp) as (serve_url, uvicorn_url):
            for round_no in range(1, args.rounds + 1):
                fronts = [("uvicorn", uvicorn_url), (f"serve-{mode}", serve_url)]
                if round_no % 2 == 0:
                    fronts.reverse()
                for route in ROUTES:
                    for front, url in fronts:
                        step += 1
                        print(
                            f"[{step:3d}/{total} {time.monotonic() - started:5.0f}s] {mode:10} round {round_no}"
                            f" {front:18} /{route:6}",
                            end=" ",
                            flush=True,
                        )
                        r = measure(url, route, args.seconds, tmp)
                        print(
                            f"{r['rps']:8.0f} req/s  ok {r['ok']:6d}  p50 {r['p50']:>8}  p99 {r['p99']:>8}  "
                            f"load {r['load']}",
                            flush=True,
                        )
                        runs.append({"mode": mode, "round": round_no, "front": front, "route": route, **r})
    report(runs, modes)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(runs, indent=2))
        print(f"\nresults: {args.out / 'results.json'}")
    shutil.rmtree(tmp, ignore_errors=True)


def report(runs: list[dict[str, Any]], modes: Sequence[str]) -> None:
    print(f"\n{'mode':11} {'route':7} {'uvicorn req/s':>14} {'serve req/s':>12} {'serve/uvicorn':>14}  per round")
    for mode in modes:
        for route in ROUTES:
            mine = [r for r in runs if r["mode"] == mode and r["route"] == route]
            rounds = sorted({r["round"] for r in mine})
            uv = {r["round"]: r["rps"] for r in mine if r["front"] == "uvicorn"}
            sv = {r["round"]: r["rps"] for r in mine if r["front"] != "uvicorn"}
            ratios = [sv[n] / uv[n] for n in rounds if n in uv and n in sv and uv[n]]
            print(
                f"{mode:11} /{route:6} {statistics.median(uv.values()):14.0f} {statistics.median(sv.values()):12.0f}"
                f" {statistics.median(ratios):14.2f}  {' '.join(f'{x:.2f}' for x in ratios)}"
            )


if __name__ == "__main__":
    main()
