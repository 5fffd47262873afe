"""The side-by-side benchmark of issue 6: the service against what users would pick instead, in one run.

    python -m bench.compare [--rounds 3] [--seconds 4] [--shows 25] [--out DIR] ...

Designs, all on the same HTTP stack (uvicorn + uvloop + httptools + FastAPI, the v0 ``HoldSeat`` path
and JSON body, so one wrk Lua script drives all of them):

1. ``service``: ``main.py`` as users start it (``bench.harness.running_service``): API → per-show lane →
   Ray actor → PostgreSQL group commit → reply, a Ray actor per show (``show:<id>``,
   ``BOOKING_SHOW_PLACEMENT=dedicated``, set explicitly: the default is hosted, the next design);
2. ``hosted``: the same ``main.py`` started a second time on the same PostgreSQL, Redis and Ray
   (``Rig.start_service``) with ``BOOKING_SHOW_PLACEMENT=hosted``: shows are virtual actors in
   ``BOOKING_SHOW_HOSTS`` shared host actors (``shows:<n>``, ``actors/show_host.py``). It has shows of
   its own (two services activating the same show would fence each other), made by the same catalog
   helper, warmed and audited like the service's;
3. ``bare``: the same route holding seats in a dict in the API process (``bench/bare_app.py``): the
   HTTP front's own ceiling;
4. ``redis``: the seed's all-or-nothing SET NX EX per seat (``bench/redis_design.py``);
5. ``pg``: one PostgreSQL transaction per request, conditional UPDATE under row locks
   (``bench/pg_design.py``).

Both service designs run with ``BOOKING_MAX_SEATS_PER_USER=100000`` and the benchmark's shows hold seats
for an hour (the longest a show allows): with the default 10 minutes every API process's pre-warmer
would, 8 minutes into a run, wake every show with holds about to expire, so each service would activate
the other's shows (fencing them back and forth) and restart the dedicated actors the run stopped.

Workloads: ``hot`` (one show, every request a new seat), ``contention`` (one show, every connection
cycles over 50 seats two at a time, so after the first moments nearly every request must lose: 200s
and 409s counted), ``multi`` (``--shows`` shows at once, requests spread over them; the service
designs' shows are created and warmed first, and each gets one more hold just before every round's run,
since hosted shows passivate when idle between rounds: both are measured warm), ``reads`` (``GET
/api/v1/shows/{id}/seats`` of a 300-seat show with 120 seats held; ``hosted`` reads the service's show,
since reads do not go to actors and the two share the published snapshot; the bare baseline serves the
service's own payload from memory (``bench/bare_seatmap.py``), redis and pg serve their own map live).
Then ``open``: the hot workload at a constant rate of half each design's measured hot peak, from the
open-loop generator (``bench/loadgen.py``, latency from the intended send time, so coordinated omission
is corrected). After a hot, contention or open run the dedicated service's show actors are stopped; hosted
shows are left to passivate by themselves (their hosts serve the other shows).

The machine is shared and noisy, so nothing is measured once: ``--rounds`` rounds, each running every
workload against every design with the design order rotated per round; the tables give medians over
rounds and the per-round ratios (each service design against the others, and issue 15's targets:
``multi`` against pg and against the same design's ``hot`` in the same round). Latency comes from
HdrHistograms of wrk's raw per-request values (dumped by the Lua ``done()`` hook, not wrk's rounded
summary). After every run an audit checks that no design sold a seat twice: no seat granted by two 200
answers (every 200 body is read), every granted seat held in the design's store (service and hosted:
``seat_claims`` and the append-only ``seat_ledger``; redis: the keys; pg: the table), and the service's
ledger shows no seat held twice. The bare dict lives in its process, so only the client-side half of the
audit applies to it.

Writes ``results.json`` (every run, with the encoded histograms) and ``compare.png`` into the output
directory it prints. Uses ``DATABASE_URL`` / ``REDIS_URL`` when set, else throwaway embedded services.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from hdrh.histogram import HdrHistogram

from bench import pg_design, redis_design
from bench.harness import ROOT, Rig, require_wrk, running_service, wrk_command
from harness.backing import query_int
from harness.client import admin_headers, bulk_users, seed_hold
from settings import libpq_url

DESIGNS = ("service", "hosted", "bare", "redis", "pg")
SERVICES = ("service", "hosted")  # main.py twice: a Ray actor per show, and shows hosted in shared actors
WORKLOADS = ("hot", "contention", "multi", "reads")
LABELS = {
    "service": "service (actor + PG group commit)",
    "hosted": "service, shows in host actors",
    "bare": "bare FastAPI dict",
    "redis": "Redis SET NX EX (Lua)",
    "pg": "PG row locks, txn/request",
}
UNITS = {"hot": "holds/s", "contention": "answers/s", "multi": "holds/s", "reads": "reads/s"}
CONTENTION_SEATS = 50
PRICE = 250.0
USERS = 100
# One API process, like the bare design's one uvicorn worker (the default follows the machine's cores).
SERVICE_ENV = {
    "BOOKING_MAX_SEATS_PER_USER": "100000",
    "BOOKING_SHOW_PLACEMENT": "dedicated",
    "BOOKING_API_WORKERS": "1",
}
HOSTED_ENV = {**SERVICE_ENV, "BOOKING_SHOW_PLACEMENT": "hosted"}
HOLD_TTL_SECONDS = 3600  # the benchmark's shows: no hold expires, and no pre-warmer wakes a show, in a run
HOT_ROWS = [*string.ascii_uppercase, *("A" + a for a in string.ascii_uppercase), *("B" + a for a in "ABCDEFGH")]

# The one wrk script. %(...)s placeholders are filled per run; the data are Lua tables.
LUA = r"""
local shows = {%(shows)s}
local tokens = {%(tokens)s}
local mode = "%(mode)s"
local read_paths = {%(read_paths)s}
local threads_total = %(threads)d
local out_path = "%(out)s"
local counter = 0
local threads = {}
statuses = {}
won = {}
overflow = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

request = function()
  local i = tid + counter * threads_total
  counter = counter + 1
  if mode == "read" then
    return wrk.format("GET", read_paths[(i %% #read_paths) + 1])
  end
  local show = shows[(i %% #shows) + 1]
  local k = math.floor(i / #shows)
  local n = #show.s
  local seats
  if mode == "pairs" then
    seats = '"' .. show.s[(k %% n) + 1] .. '","' .. show.s[((k + 1) %% n) + 1] .. '"'
  else
    if k >= n then
      k = n - 1
      overflow = overflow + 1
    end
    seats = '"' .. show.s[k + 1] .. '"'
  end
  local body = '{"movie_id":"' .. show.m .. '","theater_id":"' .. show.t .. '","event_id":"' .. show.e ..
    '","selected_seat":[' .. seats .. ']}'
  return wrk.format("POST", "/HoldSeat/api/v0/" .. show.m,
    {["Content-Type"] = "application/json", ["AuthorizationToken"] = tokens[(i %% #tokens) + 1]}, body)
end

%(response)s

function done(summary, latency, requests)
  local f = assert(io.open(out_path, "w"))
  local e = summary.errors
  f:write(string.format("summary %%d %%d %%d %%d %%d %%d %%d\n", summary.duration, summary.requests,
    e.connect, e.read, e.write, e.status, e.timeout))
  for _, t in ipairs(threads) do
    local st = t:get("statuses")
    if st then for code, c in pairs(st) do f:write("status ", code, " ", c, "\n") end end
    local w = t:get("won")
    if w then for _, x in ipairs(w) do f:write("won ", x, "\n") end end
    f:write("overflow ", t:get("overflow") or 0, "\n")
  end
  for i = 1, #latency do
    local v, c = latency(i)
    f:write("lat ", v, " ", c, "\n")
  end
  f:close()
end
"""

RESPONSE_LUA = r"""
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    local e = body:match('"event_id":"([^"]*)"')
    local list = body:match('"selected_seat":%[(.-)%]')
    if e and list then
      for s in list:gmatch('"([^"]*)"') do won[#won + 1] = e .. "|" .. s end
    end
  end
end
"""


# -- targets: what a run's requests name ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One show as the requests name it, with the seats this run may take (in request order)."""

    show_id: str
    movie_id: str
    theater_id: str
    seats: list[str]
    warm_seat: str | None = None


def synthetic_codes() -> Iterator[str]:
    """Unique three-letter row codes: the bare dict keys seats by name only, so every run needs new ones."""
    for letters in itertools.product(string.ascii_uppercase, repeat=3):
        yield "".join(letters)


def synthetic_target(codes: Iterator[str], count: int) -> Target:
    seats: list[str] = []
    while len(seats) < count:
        code = next(codes)
        seats.extend(f"{code}{n}" for n in range(1, 1000))
    return Target(str(uuid4()), str(uuid4()), str(uuid4()), seats[:count])


def uuid4() -> str:
    import uuid

    return str(uuid.uuid4())


def layout_of(seats: Sequence[str]) -> list[dict[str, Any]]:
    """The seat-map layout of seat ids like ``BH12`` (row letters, then the number)."""
    rows = []
    for seat in seats:
        row = seat.rstrip(string.digits)
        rows.append({"id": seat, "row": row, "number": int(seat[len(row) :]), "category": "standard", "price": PRICE})
    return rows


# -- the audit --------------------------------------------------------------------------------------------


@dataclass
class Audit:
    """Did a run sell a seat twice? ``ok`` only if no seat was granted twice, every granted seat is held
    in the store (where the store can be read) and the service's ledger holds no seat twice."""

    granted: int
    granted_twice: int
    granted_not_held: int | None
    held: int | None
    held_not_granted: int | None
    ledger_held_twice: int | None = None
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.granted_twice == 0 and not self.granted_not_held and not self.ledger_held_twice

    def line(self) -> str:
        parts = [f"{self.granted} seats granted, {self.granted_twice} granted twice"]
        if self.held is None:
            parts.append("store not readable (in-process dict)")
        else:
            parts.append(f"{self.granted_not_held} granted but not held, {self.held} held")
            parts.append(f"{self.held_not_granted} held without a counted 200 (in flight at the end)")
        if self.ledger_held_twice is not None:
            parts.append(f"ledger: {self.ledger_held_twice} seats held twice")
        return ("OK  " if self.ok else "FAIL ") + "; ".join(parts) + (f" e.g. {self.examples}" if self.examples else "")


def audit(granted: Sequence[str], held: set[str] | None, ledger_held_twice: int | None = None) -> Audit:
    """``granted``: ``show|seat`` once per seat of every 200 answer; ``held``: the store's ``show|seat``
    of the run's seats (None: unreadable)."""
    counts = Counter(granted)
    twice = sorted(s for s, n in counts.items() if n > 1)
    missing = sorted(set(counts) - held) if held is not None else []
    return Audit(
        granted=len(counts),
        granted_twice=len(twice),
        granted_not_held=len(missing) if held is not None else None,
        held=len(held) if held is not None else None,
        held_not_granted=len(held - set(counts)) if held is not None else None,
        ledger_held_twice=ledger_held_twice,
        examples=(twice + missing)[:3],
    )


def universe(targets: Sequence[Target]) -> set[str]:
    return {f"{t.show_id}|{s}" for t in targets for s in t.seats}


def service_held(database_url: str, targets: Sequence[Target]) -> tuple[set[str], int]:
    shows = sorted({t.show_id for t in targets})
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT show_id, seat_id FROM seat_claims WHERE show_id = ANY(%s) "
            "AND (booking_id IS NOT NULL OR expires_at > now())",
            (shows,),
        ).fetchall()
        twice = query_int(
            conn,
            "SELECT count(*) FROM (SELECT show_id, seat_id FROM seat_ledger WHERE event = 'held' "
            "AND show_id = ANY(%s) GROUP BY show_id, seat_id HAVING count(*) > 1) d",
            (shows,),
        )
    return {f"{r[0]}|{r[1]}" for r in rows} & universe(targets), twice


def redis_held(client: redis.Redis, prefix: str, targets: Sequence[Target]) -> set[str]:
    pairs = [(t.show_id, s) for t in targets for s in t.seats]
    return {f"{show}|{seat}" for show, seat in redis_design.held_seats(client, prefix, pairs)}


def pg_held(database_url: str, targets: Sequence[Target]) -> set[str]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        held = pg_design.held_seats(conn, {t.show_id for t in targets})
    return {f"{show}|{seat}" for show, seat in held} & universe(targets)


# -- one wrk run ------------------------------------------------------------------------------------------


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(
    path: Path, out: Path, targets: Sequence[Target], tokens: Sequence[str], mode: str, threads: int
) -> None:
    shows = ",".join(
        f"{{m={lua_string(t.movie_id)},t={lua_string(t.theater_id)},e={lua_string(t.show_id)},"
        f"s={{{','.join(map(lua_string, t.seats))}}}}}"
        for t in targets
    )
    read_paths = ",".join(lua_string(f"/api/v1/shows/{t.show_id}/seats") for t in targets)
    path.write_text(
        LUA
        % {
            "shows": shows,
            "tokens": ",".join(map(lua_string, tokens)),
            "mode": mode,
            "read_paths": read_paths,
            "threads": threads,
            "out": str(out),
            "response": "" if mode == "read" else RESPONSE_LUA,
        }
    )


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, 120_000_000, 3)  # microseconds, 1 µs .. 120 s, 3 significant digits


def percentiles_ms(hist: HdrHistogram) -> dict[str, float]:
    return {
        "p50": hist.get_value_at_percentile(50) / 1000,
        "p99": hist.get_value_at_percentile(99) / 1000,
        "p99.9": hist.get_value_at_percentile(99.9) / 1000,
        "max": hist.get_max_value() / 1000,
    }


def run_wrk(
    url: str, script: Path, out: Path, seconds: int, connections: int, threads: int
) -> tuple[dict[str, Any], HdrHistogram, list[str]]:
    done = subprocess.run(
        wrk_command(url, script, seconds, connections, threads, "--timeout", "10s"),
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 300,
    )
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    hist = new_histogram()
    statuses: Counter[int] = Counter()
    granted: list[str] = []
    overflow = 0
    summary: list[int] = []
    for line in out.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "lat":
            value, count = rest.split()
            hist.record_value(max(int(float(value)), 1), int(float(count)))
        elif kind == "won":
            granted.append(rest)
        elif kind == "status":
            code, count = rest.split()
            statuses[int(float(code))] += int(float(count))
        elif kind == "overflow":
            overflow += int(float(rest))
        elif kind == "summary":
            summary = [int(float(x)) for x in rest.split()]
    duration_s = summary[0] / 1e6
    requests = summary[1]
    errors = dict(zip(("connect", "read", "write", "status", "timeout"), summary[2:], strict=True))
    ok = statuses[200] if statuses else requests - errors["status"]
    return (
        {
            "requests": requests,
            "rps": requests / duration_s,
            "ok": ok,
            "ok_rps": ok / duration_s,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "errors": errors,
            "out_of_seats": overflow,
            **percentiles_ms(hist),
        },
        hist,
        granted,
    )


# -- the open-loop run ------------------------------------------------------------------------------------


def raw_hold_requests(host: str, target: Target, tokens: Sequence[str], count: int) -> list[str]:
    requests = []
    for i in range(count):
        seat = target.seats[min(i, len(target.seats) - 1)]
        body = json.dumps(
            {
                "movie_id": target.movie_id,
                "theater_id": target.theater_id,
                "event_id": target.show_id,
                "selected_seat": [seat],
            },
            separators=(",", ":"),
        )
        requests.append(
            f"POST /HoldSeat/api/v0/{target.movie_id} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"AuthorizationToken: {tokens[i % len(tokens)]}\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        )
    return requests


def run_open_loop(
    url: str, target: Target, tokens: Sequence[str], rate: float, seconds: float, connections: int, tmp: Path
) -> tuple[dict[str, Any], HdrHistogram, list[str]]:
    parsed = httpx.URL(url)
    count = int(rate * seconds)
    spec = {
        "host": parsed.host,
        "port": parsed.port,
        "rate": rate,
        "seconds": seconds,
        "connections": connections,
        "requests": raw_hold_requests(f"{parsed.host}:{parsed.port}", target, tokens, count),
    }
    spec_file, out_file = tmp / "open-spec.json", tmp / "open-out.json"
    spec_file.write_text(json.dumps(spec))
    subprocess.run(
        [sys.executable, "-m", "bench.loadgen", str(spec_file), str(out_file)],
        cwd=ROOT,
        check=True,
        timeout=seconds + 120,
    )
    result = json.loads(out_file.read_text())
    hist, lag = new_histogram(), new_histogram()
    for value in result["latency_us"]:
        hist.record_value(max(value, 1))
    for value in result["lag_us"]:
        lag.record_value(max(value, 1))
    # Latency over time: p99 per half second of due time.
    buckets: dict[int, list[int]] = {}
    for due, value in zip(result["due_us"], result["latency_us"], strict=True):
        buckets.setdefault(due // 500_000, []).append(value)
    timeline = [[k * 0.5, sorted(v)[min(len(v) - 1, int(len(v) * 0.99))] / 1000] for k, v in sorted(buckets.items())]
    statuses = Counter(str(s) for s in result["status"])
    return (
        {
            "rate": rate,
            "achieved_rate": result["achieved_rate"],
            "requests": count,
            "statuses": dict(sorted(statuses.items())),
            "unanswered": result["unanswered"],
            "generator_lag_p99_ms": lag.get_value_at_percentile(99) / 1000,
            "timeline_p99_ms": timeline,
            **percentiles_ms(hist),
        },
        hist,
        result["won"],
    )


# -- setting up the five designs --------------------------------------------------------------------------


class Catalog:
    """Creates the service's shows through its admin API: one movie and theater, a screen per shape."""

    def __init__(self, client: httpx.Client, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers
        self.movie = self._post("/api/v1/admin/movies", {"title": "Bench movie", "duration_minutes": 120})["id"]
        self.theater = self._post(
            "/api/v1/admin/theaters", {"name": "Bench Cinema", "city": "Pune", "address": "1 Main St"}
        )["id"]
        self.screens: dict[tuple[tuple[str, int], ...], tuple[str, list[str]]] = {}
        self.count = 0

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, headers=self.headers, json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def show(self, rows: list[tuple[str, int]]) -> tuple[str, list[str]]:
        """A new show on a screen of ``rows`` (row name, seats); returns its id and seat ids."""
        key = tuple(rows)
        if key not in self.screens:
            screen = self._post(
                f"/api/v1/admin/theaters/{self.theater}/screens",
                {
                    "name": f"S{len(self.screens)}",
                    "rows": [{"row": r, "seats": n, "category": "standard"} for r, n in rows],
                },
            )
            self.screens[key] = (screen["id"], screen["seats"])
        screen_id, seats = self.screens[key]
        self.count += 1
        starts = datetime.now(UTC) + timedelta(days=2, minutes=self.count)
        show = self._post(
            "/api/v1/admin/shows",
            {
                "movie_id": self.movie,
                "screen_id": screen_id,
                "starts_at": starts.isoformat(),
                "prices": {"standard": PRICE},
                "hold_ttl_seconds": HOLD_TTL_SECONDS,
            },
        )
        return show["id"], list(seats)

    def target(self, rows: list[tuple[str, int]], take: int | None = None, warm_last: bool = True) -> Target:
        show_id, seats = self.show(rows)
        warm = seats[-1] if warm_last else None
        usable = seats[:-1] if warm_last else seats
        return Target(show_id, self.movie, self.theater, usable[:take] if take else usable, warm)


def check_placement(design: str, targets: Sequence[Target]) -> None:
    """Each service design runs its shows where it says, seen in Ray just after they were warmed: the
    dedicated service as actors of their own (``show:<id>``), the hosted one in host actors
    (``shows:<n>``) with no actor of their own. A renamed setting would otherwise quietly measure the
    dedicated shape twice."""
    import ray

    names = set(ray.util.list_named_actors())
    own = [t.show_id for t in targets if f"show:{t.show_id}" in names]
    hosts = sorted(n for n in names if n.startswith("shows:"))
    if design == "service" and len(own) < len(targets):
        raise SystemExit(f"service: {len(targets) - len(own)} warmed shows have no actor of their own")
    if design == "hosted" and (own or not hosts):
        raise SystemExit(f"hosted: shows with actors of their own {own[:3]}, host actors {hosts}")
    where = "actors of their own" if design == "service" else f"host actors {', '.join(hosts)}"
    print(f"      {design}: {len(targets)} warmed shows live in {where}", flush=True)


@dataclass
class Bench:
    rig: Rig
    args: argparse.Namespace
    urls: dict[str, str]
    tokens: list[str]
    redis_client: redis.Redis
    redis_prefix: str
    out: Path
    client: httpx.Client
    runs: list[dict[str, Any]] = field(default_factory=list)
    histograms: dict[tuple[str, str], HdrHistogram] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    step: int = 0
    steps: int = 0
    placed: set[str] = field(default_factory=set)  # service designs whose shows were seen where they belong

    def progress(self, message: str) -> None:
        self.step += 1
        print(f"[{self.step:3d}/{self.steps} {time.monotonic() - self.started:5.0f}s] {message}", flush=True)

    def load_synthetic(self, design: str, targets: Sequence[Target]) -> None:
        """Give redis and pg the shows the run will name (bare needs nothing: it checks no layout)."""
        if design == "redis":
            for t in targets:
                redis_design.load_show(self.redis_client, self.redis_prefix, t.show_id, layout_of(t.seats))
        elif design == "pg":
            with psycopg.connect(libpq_url(self.rig.database_url)) as conn:
                for t in targets:
                    pg_design.load_show(conn, t.show_id, layout_of(t.seats))

    def warm_service(self, design: str, targets: Sequence[Target]) -> None:
        """Hold each show's warm seat through ``design`` (one of ``SERVICES``), so its actor is live."""
        url = self.urls[design]

        def one(t: Target) -> None:
            """Cold activations on a busy box can outlast the service's call timeout (503, outcome
            unknown): try again; after a 503 a 409 means the first attempt did hold the warm seat."""
            assert t.warm_seat is not None
            for attempt in range(10):
                response = seed_hold(self.client, t, self.tokens[0], [t.warm_seat], base=url)
                if response.status_code == 200 or (attempt and response.status_code == 409):
                    return
                assert response.status_code == 503, response.text
                time.sleep(1)
            raise SystemExit(f"show {t.show_id} did not warm up: {response.text}")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, targets))
        if design not in self.placed:
            check_placement(design, targets)
            self.placed.add(design)

    def kill_actors(self, targets: Sequence[Target]) -> None:
        """Finished one-run shows of the dedicated ``service``: stop their actors so idle heartbeats do not
        load later runs. (Hosted shows share host actors with other shows; they passivate when idle.)"""
        import ray

        for t in targets:
            with contextlib.suppress(ValueError):
                ray.kill(ray.get_actor(f"show:{t.show_id}"), no_restart=True)

    def check(self, design: str, targets: Sequence[Target], granted: list[str]) -> Audit:
        if design in SERVICES:
            held, twice = service_held(self.rig.database_url, targets)
            return audit(granted, held, twice)
        if design == "redis":
            return audit(granted, redis_held(self.redis_client, self.redis_prefix, targets))
        if design == "pg":
            return audit(granted, pg_held(self.rig.database_url, targets))
        return audit(granted, None)

    def record(self, run: dict[str, Any], hist: HdrHistogram) -> None:
        key = (run["workload"], run["design"])
        merged = self.histograms.setdefault(key, new_histogram())
        merged.add(hist)
        run["histogram"] = hist.encode().decode()
        self.runs.append(run)
        (self.out / "results.partial.json").write_text(json.dumps(self.runs, default=str))

    def closed(self, workload: str, round_no: int, design: str, targets: Sequence[Target]) -> None:
        mode = {"contention": "pairs", "reads": "read"}.get(workload, "fresh")
        script, dump = self.out / "run.lua", self.out / "run.out"
        dump.unlink(missing_ok=True)
        write_script(script, dump, targets, self.tokens, mode, self.args.threads)
        load_before = os.getloadavg()[0]
        self.progress(f"round {round_no} {workload:10} {design:8} wrk {self.args.seconds}s x {self.args.connections}")
        result, hist, granted = run_wrk(
            self.urls[design], script, dump, self.args.seconds, self.args.connections, self.args.threads
        )
        run: dict[str, Any] = {
            "workload": workload,
            "design": design,
            "round": round_no,
            **result,
            "loadavg_before": load_before,
        }
        unit = UNITS[workload]
        throughput = result["rps"] if workload == "contention" else result["ok_rps"]
        run["throughput"] = throughput
        note = ""
        if workload != "reads":
            found = self.check(design, targets, granted)
            run["audit"] = {**asdict(found), "ok": found.ok}
            note = f"\n      audit: {found.line()}"
        if result["out_of_seats"]:
            note += f"\n      WARNING: ran out of seats ({result['out_of_seats']} requests repeated the last seat)"
        print(
            f"      {throughput:8.0f} {unit}  ({result['rps']:.0f} req/s, statuses {result['statuses'] or '-'}, "
            f"errors {sum(result['errors'].values()) - result['errors']['status']})  p50 {result['p50']:.2f} ms  "
            f"p99 {result['p99']:.2f} ms  p99.9 {result['p99.9']:.2f} ms{note}",
            flush=True,
        )
        self.record(run, hist)

    def open_loop(self, round_no: int, design: str, target: Target, rate: float) -> None:
        self.progress(f"open round {round_no} {design:8} {rate:.0f} req/s for {self.args.open_seconds}s")
        result, hist, granted = run_open_loop(
            self.urls[design], target, self.tokens, rate, self.args.open_seconds, self.args.connections, self.out
        )
        found = self.check(design, [target], granted)
        run: dict[str, Any] = {
            "workload": "open",
            "design": design,
            "round": round_no,
            **result,
            "audit": {**asdict(found), "ok": found.ok},
        }
        print(
            f"      achieved {result['achieved_rate']:.0f}/s, statuses {result['statuses']}, unanswered "
            f"{result['unanswered']}, generator lag p99 {result['generator_lag_p99_ms']:.1f} ms; p50 "
            f"{result['p50']:.2f} ms  p99 {result['p99']:.2f} ms  p99.9 {result['p99.9']:.2f} ms\n"
            f"      audit: {found.line()}"
            + (
                "\n      WARNING: the generator lagged (p99 > 10 ms): this latency is partly the generator's"
                if result["generator_lag_p99_ms"] > 10
                else ""
            ),
            flush=True,
        )
        self.record(run, hist)


# -- reporting --------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[dict[str, Any]], designs: Sequence[str], workloads: Sequence[str]) -> dict[str, Any]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for w in [*workloads, "open"]:
        for d in designs:
            mine = [r for r in runs if r["workload"] == w and r["design"] == d]
            if not mine:
                continue
            key = "throughput" if w != "open" else "achieved_rate"
            table.setdefault(w, {})[d] = {
                "throughput": median([r[key] for r in mine]),
                "rounds": [round(r[key], 1) for r in mine],
                "p50": median([r["p50"] for r in mine]),
                "p99": median([r["p99"] for r in mine]),
                "p99.9": median([r["p99.9"] for r in mine]),
                "audit_ok": all(r.get("audit", {}).get("ok", True) for r in mine),
                "out_of_seats": sum(r.get("out_of_seats", 0) for r in mine),
                "statuses": dict(sum((Counter(r["statuses"]) for r in mine), Counter())),
            }
    ratios: dict[str, dict[str, Any]] = {}

    def add(name: str, a: tuple[str, str], b: tuple[str, str]) -> None:
        per_round = round_ratios(runs, a, b)
        if per_round:
            ratios[name] = {"median": median(per_round), "rounds": per_round}

    for w in workloads:
        for d, other in RATIOS:
            if d in designs and other in designs:
                add(f"{w}: {d}/{other}", (w, d), (w, other))
    for d in SERVICES:  # issue 15: many shows at once against the same design's hot show
        if d in designs and "multi" in workloads and "hot" in workloads:
            add(f"multi/hot: {d}", ("multi", d), ("hot", d))
    return {"table": table, "ratios": ratios}


# The ratios the report gives per workload: each service design against the baselines (hosted: against
# pg, the durable alternative, and against the dedicated service it may replace).
RATIOS = (("service", "bare"), ("service", "redis"), ("service", "pg"), ("hosted", "pg"), ("hosted", "service"))


def round_ratios(runs: Sequence[dict[str, Any]], a: tuple[str, str], b: tuple[str, str]) -> list[float]:
    """Per round with both: the throughput of run ``a`` (workload, design) over that of run ``b``."""

    def by_round(key: tuple[str, str]) -> dict[int, float]:
        return {r["round"]: r["throughput"] for r in runs if (r["workload"], r["design"]) == key}

    num, den = by_round(a), by_round(b)
    return [num[k] / den[k] for k in sorted(num.keys() & den.keys()) if den[k] > 0]


def print_report(summary: dict[str, Any]) -> None:
    table, ratios = summary["table"], summary["ratios"]
    print()
    for w, rows in table.items():
        unit = UNITS.get(w, "achieved/s")
        print(
            f"{w} — median of rounds ({unit}); latency in ms from HdrHistograms"
            + (" (open loop, corrected for coordinated omission)" if w == "open" else " (wrk, closed loop)")
        )
        print(f"  {'design':36} {unit:>10} {'per round':>24} {'p50':>8} {'p99':>8} {'p99.9':>8}  statuses / audit")
        for d, r in rows.items():
            rounds = ", ".join(f"{x:.0f}" for x in r["rounds"])
            audit_note = "no double sale" if r["audit_ok"] else "DOUBLE SALE OR LOST HOLD"
            if w == "reads":
                audit_note = "-"
            extra = f"  OUT OF SEATS x{r['out_of_seats']}" if r["out_of_seats"] else ""
            print(
                f"  {LABELS[d]:36} {r['throughput']:10.0f} {rounds:>24} {r['p50']:8.2f} {r['p99']:8.2f} "
                f"{r['p99.9']:8.2f}  {r['statuses']} / {audit_note}{extra}"
            )
        print()
    print("ratios (median of per-round ratios; per round in brackets):")
    for name, r in ratios.items():
        print(f"  {name:28} {r['median']:6.2f}  [{', '.join(f'{x:.2f}' for x in r['rounds'])}]")
    print("\nissue 6 targets:")
    checks = [
        ("hot: service/bare", 0.7, "durable hot-show holds >= 0.7x bare"),
        ("hot: service/redis", 1.0, "durable hot-show holds >= 1.0x Redis"),
        ("reads: service/bare", 0.9, "seat-map reads >= 0.9x bare"),
    ]
    for key, goal, text in checks:
        if key in ratios:
            value = ratios[key]["median"]
            print(f"  {'PASS' if value >= goal else 'MISS'}  {text}: {value:.2f}")
    service_open = table.get("open", {}).get("service")
    if service_open:
        p99 = service_open["p99"]
        print(f"  {'PASS' if p99 <= 50 else 'MISS'}  p99 hold latency <= 50 ms at half peak: {p99:.1f} ms")
    goals = [
        (key, goal, f"{LABELS[d]}: {text}")
        for d in SERVICES
        for key, goal, text in (
            (f"multi: {d}/pg", 1.0, "many shows at once >= 1.0x PG row locks"),
            (f"multi/hot: {d}", 0.5, "many shows at once >= 0.5x its own hot show"),
        )
        if key in ratios
    ]
    if goals:
        print("\nissue 15 targets (medians of per-round ratios):")
    for key, goal, text in goals:
        value = ratios[key]["median"]
        print(f"  {'PASS' if value >= goal else 'MISS'}  {text}: {value:.2f}")


def plot(
    summary: dict[str, Any], runs: list[dict[str, Any]], histograms: dict[tuple[str, str], HdrHistogram], path: Path
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install matplotlib==3.11.2)")
        return False
    table = summary["table"]
    workloads = [w for w in WORKLOADS if w in table]
    designs = [d for d in DESIGNS if any(d in table[w] for w in workloads)]
    colours = {"service": "#d62728", "hosted": "#9467bd", "bare": "#7f7f7f", "redis": "#1f77b4", "pg": "#2ca02c"}
    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    ax = axes[0][0]
    width = 0.8 / max(len(designs), 1)
    for i, d in enumerate(designs):
        xs, ys, lo, hi = [], [], [], []
        for j, w in enumerate(workloads):
            if d in table[w]:
                r = table[w][d]
                xs.append(j + i * width)
                ys.append(r["throughput"])
                lo.append(max(r["throughput"] - min(r["rounds"]), 0))
                hi.append(max(max(r["rounds"]) - r["throughput"], 0))
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=LABELS[d], color=colours[d])
    ax.set_xticks([j + width * (len(designs) - 1) / 2 for j in range(len(workloads))])
    ax.set_xticklabels([f"{w}\n({UNITS[w]})" for w in workloads])
    ax.set_title("throughput, median of rounds (bars: min..max)")
    ax.legend(fontsize=8)
    panels = [*workloads, "open"]
    for k, w in enumerate(panels[:4]):
        ax = axes[(k + 1) // 3][(k + 1) % 3]
        for d in designs:
            hist = histograms.get((w, d))
            if hist is None:
                continue
            ps = [50, 90, 99, 99.9, 99.99]
            ax.plot(
                [str(p) for p in ps],
                [max(hist.get_value_at_percentile(p) / 1000, 0.01) for p in ps],
                "o-",
                label=LABELS[d],
                color=colours[d],
            )
        ax.set_yscale("log")
        ax.set_title(f"{w}: latency percentiles, all rounds merged (ms)")
        ax.set_xlabel("percentile")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    for k in range(len(panels[:4]), 4):  # fewer workloads than panels: no empty axes in the picture
        axes[(k + 1) // 3][(k + 1) % 3].set_visible(False)
    ax = axes[1][2]
    for d in designs:
        for r in runs:
            if r["workload"] == "open" and r["design"] == d:
                xs = [p[0] for p in r["timeline_p99_ms"]]
                ax.plot(
                    xs,
                    [max(p[1], 0.01) for p in r["timeline_p99_ms"]],
                    color=colours[d],
                    alpha=0.8,
                    label=f"{LABELS[d]} @ {r['rate']:.0f}/s" if r["round"] == 1 else None,
                )
    ax.axhline(50, color="black", linestyle="--", linewidth=1, label="target p99 50 ms")
    ax.set_yscale("log")
    ax.set_title("open loop at half peak: p99 per 0.5 s over time (ms)")
    ax.set_xlabel("seconds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -- the run ----------------------------------------------------------------------------------------------


def drop_keys(client: redis.Redis, prefix: str) -> None:
    """The redis design's keys of this run (seat layouts do not expire) go when the run ends."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=5000))
    for start in range(0, len(keys), 5000):
        client.delete(*keys[start : start + 5000])


def rotated(items: Sequence[str], k: int) -> list[str]:
    k %= max(len(items), 1)
    return [*items[k:], *items[:k]]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--shows",
        type=int,
        default=25,
        help="shows of the multi workload (each live show actor holds one PostgreSQL connection)",
    )
    parser.add_argument("--pg-pool", type=int, default=8, help="connections of the pg design's pool")
    parser.add_argument("--hot-seats", type=int, default=30_000, help="seats per hot run for bare/redis/pg")
    parser.add_argument("--open-rounds", type=int, default=2)
    parser.add_argument("--open-seconds", type=int, default=4)
    parser.add_argument("--min-rate", type=float, default=100)
    parser.add_argument("--max-rate", type=float, default=1500, help="cap of the open-loop generator's rate")
    parser.add_argument("--designs", nargs="*", default=list(DESIGNS), choices=DESIGNS)
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    require_wrk()
    out: Path = args.out or Path(tempfile.gettempdir()) / f"seatwise-compare-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"output directory: {out}", flush=True)

    designs: list[str] = args.designs
    workloads: list[str] = args.workloads
    with running_service("bench-compare", SERVICE_ENV) as rig:
        redis_url = rig.env["REDIS_URL"]
        redis_prefix = f"{rig.namespace}-{os.getpid()}-design:"
        database_url = libpq_url(rig.database_url)
        with psycopg.connect(database_url, autocommit=True) as conn:
            pg_design.setup_schema(conn)
        print("starting the baselines ...", flush=True)
        urls = {
            "service": rig.base_url,
            "bare": rig.start_app("bench.bare_app"),
            "redis": rig.start_app(
                "bench.redis_design", {"REDIS_DESIGN_URL": redis_url, "REDIS_DESIGN_PREFIX": redis_prefix}
            ),
            "pg": rig.start_app(
                "bench.pg_design", {"PG_DESIGN_URL": database_url, "PG_DESIGN_POOL": str(args.pg_pool)}
            ),
        }
        if "hosted" in designs:
            print("starting the service with hosted shows ...", flush=True)
            urls["hosted"] = rig.start_service(HOSTED_ENV, "hosted")
        client = httpx.Client(timeout=120)
        rig.stack.callback(client.close)
        redis_client = redis.Redis.from_url(redis_url)
        rig.stack.callback(redis_client.close)
        rig.stack.callback(drop_keys, redis_client, redis_prefix)
        tokens = [t for _, t in bulk_users(rig.database_url, USERS)]
        bench = Bench(rig, args, urls, tokens, redis_client, redis_prefix, out, client)
        codes = synthetic_codes()

        print("creating shows ...", flush=True)
        admin = httpx.Client(base_url=rig.base_url, timeout=60)
        rig.stack.callback(admin.close)
        catalog = Catalog(admin, admin_headers(admin))
        hot_rows = [(r, 100) for r in HOT_ROWS]
        services = [d for d in SERVICES if d in designs]
        # Targets by (workload, round, group): a service design's own shows, or the baselines' synthetic ones.
        targets: dict[tuple[str, int, str], list[Target]] = {}
        for round_no in range(1, args.rounds + 1):
            if "hot" in workloads:
                for d in services:
                    targets[("hot", round_no, d)] = [catalog.target(hot_rows)]
                targets[("hot", round_no, "synthetic")] = [synthetic_target(codes, args.hot_seats)]
            if "contention" in workloads:
                for d in services:
                    targets[("contention", round_no, d)] = [catalog.target([("A", CONTENTION_SEATS + 1)])]
                targets[("contention", round_no, "synthetic")] = [synthetic_target(codes, CONTENTION_SEATS)]
            if "multi" in workloads:
                per_show = max(999, -(-args.hot_seats // args.shows))
                targets[("multi", round_no, "synthetic")] = [
                    synthetic_target(codes, per_show) for _ in range(args.shows)
                ]
        if "multi" in workloads:
            # A service design's multi shows live through all rounds; each round takes its own slice of
            # seats, the slice's last seat warming the show just before the round's run.
            for d in services:
                multi = [catalog.target([(r, 100) for r in "ABCDEFGHIJ"]) for _ in range(args.shows)]
                per_round = len(multi[0].seats) // args.rounds
                for round_no in range(1, args.rounds + 1):
                    lo, hi = (round_no - 1) * per_round, round_no * per_round
                    targets[("multi", round_no, d)] = [
                        Target(t.show_id, t.movie_id, t.theater_id, t.seats[lo : hi - 1], t.seats[hi - 1])
                        for t in multi
                    ]
                print(f"warming the {len(multi)} shows of the multi workload ({d}) ...", flush=True)
                bench.warm_service(d, multi)
        if "reads" in workloads:
            read_show, read_seats = catalog.show([(r, 20) for r in "ABCDEFGHIJKLMNO"])
            read_target = Target(read_show, catalog.movie, catalog.theater, read_seats)
            synthetic_read = Target(uuid4(), uuid4(), uuid4(), read_seats)
            for d in ("redis", "pg"):
                bench.load_synthetic(d, [synthetic_read])
            # The read show's holds go through one service design (both read the snapshot its actor publishes).
            holder = [(services[0], read_target)] if services else []
            for index in range(60):
                pair = read_seats[2 * index : 2 * index + 2]
                for d, t in (*holder, ("redis", synthetic_read), ("pg", synthetic_read)):
                    if d in designs:
                        response = seed_hold(client, t, tokens[index % len(tokens)], pair, base=urls[d])
                        assert response.status_code == 200, response.text
            time.sleep(1.5)  # let the actor publish its snapshot
            payload = client.get(f"{rig.base_url}/api/v1/shows/{read_show}/seats").content
            payload_file = out / "seatmap-payload.json"
            payload_file.write_bytes(payload)  # the service's own bytes
            urls["bare-reads"] = rig.start_app("bench.bare_seatmap", {"BARE_SEATMAP_FILE": str(payload_file)})
            sizes = {
                d: len(
                    client.get(
                        f"{urls['bare-reads' if d == 'bare' else d]}/api/v1/shows/"
                        f"{read_show if d in (*SERVICES, 'bare') else synthetic_read.show_id}/seats"
                    ).content
                )
                for d in designs
            }
            print(f"seat-map payload bytes: {sizes} (service source: {json.loads(payload).get('source')})", flush=True)
        for d in ("bare", "redis", "pg"):
            if d in designs:  # first request of each baseline (pool, scripts) outside the measurement
                warm = synthetic_target(codes, 1)
                bench.load_synthetic(d, [warm])
                assert seed_hold(client, warm, tokens[0], warm.seats, base=urls[d]).status_code == 200

        runs_per_round = len(designs) * len(workloads)
        bench.steps = args.rounds * runs_per_round + (args.open_rounds * len(designs) if "hot" in workloads else 0)
        for round_no in range(1, args.rounds + 1):
            for w in workloads:
                for d in rotated(designs, round_no - 1):
                    if w == "reads":
                        t = read_target if d in SERVICES else synthetic_read
                        url_key = "bare-reads" if d == "bare" else d
                        saved = bench.urls[d]
                        bench.urls[d] = urls[url_key]
                        try:
                            bench.closed(w, round_no, d, [t])
                        finally:
                            bench.urls[d] = saved
                        continue
                    ts = targets[(w, round_no, d if d in SERVICES else "synthetic")]
                    if d in ("redis", "pg"):
                        bench.load_synthetic(d, ts)
                    if d in SERVICES:
                        bench.warm_service(d, ts)
                    bench.closed(w, round_no, d, ts)
                    if d == "service" and w != "multi":
                        bench.kill_actors(ts)

        if "hot" in workloads:
            peaks = {
                d: median([r["throughput"] for r in bench.runs if (r["workload"], r["design"]) == ("hot", d)])
                for d in designs
            }
            rates = {d: min(max(peaks[d] / 2, args.min_rate), args.max_rate) for d in designs}
            print(
                f"open loop at half the hot peak (capped to {args.min_rate:.0f}..{args.max_rate:.0f}/s): "
                f"{ {d: round(r) for d, r in rates.items()} }",
                flush=True,
            )
            for round_no in range(1, args.open_rounds + 1):
                for d in rotated(designs, round_no - 1):
                    count = int(rates[d] * args.open_seconds) + 1
                    if d in SERVICES:
                        t = catalog.target(hot_rows)
                        bench.warm_service(d, [t])
                    else:
                        t = synthetic_target(codes, count)
                        bench.load_synthetic(d, [t])
                    bench.open_loop(round_no, d, t, rates[d])
                    if d == "service":
                        bench.kill_actors([t])

    summary = summarise(bench.runs, designs, workloads)
    print_report(summary)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result = {"config": config, "cpus": os.cpu_count(), "summary": summary, "runs": bench.runs}
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "results.partial.json").unlink(missing_ok=True)
    png = out / "compare.png"
    if plot(summary, bench.runs, bench.histograms, png):
        print(f"\nplot: {png}")
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
