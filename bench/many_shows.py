"""A whole catalog on sale (issue 15): many shows, Zipf-distributed traffic, and what the service costs.

    python -m bench.many_shows [--shows 1000] [--minutes 5] [--placement hosted|dedicated] [--zipf 1.1]
                               [--users N] [--concurrency N] [--idle-seconds S] [--cooldown S] [--out DIR]

Starts the service as users do (``bench.harness.running_service``: ``main.py`` on its own Ray instance,
rate limiting off) with the chosen show placement, creates ``--shows`` shows on small screens (2–4 rows of
10–20 seats) through the admin API, then drives holds and payments from a second process
(``bench/many_shows_load.py``: httpx async customers, each request to a show drawn by Zipf, 1–2 seats no
request asked for yet, about half of the holds paid; 503s retried after ``Retry-After``) for
``--minutes``, and keeps sampling for ``--cooldown`` seconds after (to see idle shows give memory back).

Sampled about every second, here, while the load runs elsewhere:

- from the load generator: holds/s, payments/s, p50/p99 of the holds answered in that second (cold
  activations included: they are just slow requests);
- live shows: hosted, the sum of ``len(stats()["live_shows"])`` over the ``shows:<n>`` host actors;
  dedicated, the ``show:<id>`` actors alive (``ray.util.list_named_actors``); activations and
  passivations per second (hosted: deltas of the hosts' counters, also evictions and refusals;
  dedicated: show actors appearing and going);
- memory of the whole service, as PSS (proportional set size: shared pages split among the processes
  that map them, so summing over processes counts them once; USS is kept too) via psutil: the
  ``main.py`` process tree (API processes, the simulated gateway), every process of the Ray instance the
  benchmark started (GCS, raylet, workers: the benchmark's own descendants), an embedded Redis, and
  PostgreSQL: with the embedded server, its whole postmaster tree; with ``DATABASE_URL`` (a shared
  server), only the backends connected to the run's database as ``pg_stat_activity`` lists them (the
  server's own shared processes are not counted, since other users share them);
- PostgreSQL connections to the run's database (``pg_stat_activity``, the sampler's own excluded).

Prints a progress line every ~10 s and a summary, writes ``results.json`` and ``many_shows.png`` into
the output directory it prints at the start. Exits 1 if any request failed other than by 503s that later
succeeded on retry, or if any seat was sold twice (the audit of ``bench.compare``: ``seat_claims`` and
``seat_ledger``). Uses ``DATABASE_URL`` / ``REDIS_URL`` when set, else throwaway embedded services.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import ray
from hdrh.histogram import HdrHistogram

from bench.compare import Target, audit, service_held
from bench.harness import ROOT, Rig, running_service
from harness.backing import query_int
from settings import libpq_url

ROW_NAMES = "ABCD"
ROW_COUNTS = (2, 3, 4)
SEATS_PER_ROW = (10, 15, 20)
PRICE = 250.0
MIB = 2**20
APP_NAME = "bench.many_shows"  # the benchmark's own PostgreSQL connections, left out of every count
COMPONENTS = ("api", "ray", "postgres", "redis")


# -- the catalog ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    movie_id: str
    theater_id: str
    shows: list[Target]


def create_catalog(rig: Rig, count: int, rng: random.Random, workers: int = 4) -> Catalog:
    """``count`` shows of one movie in one theater on small screens of a few shapes, through the admin API."""
    from harness.client import admin_headers

    client = httpx.Client(base_url=rig.base_url, timeout=60)
    rig.stack.callback(client.close)
    headers = admin_headers(client)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, headers=headers, json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    movie = post("/api/v1/admin/movies", {"title": "Many shows", "duration_minutes": 120})["id"]
    theater = post("/api/v1/admin/theaters", {"name": "Bench Multiplex", "city": "Pune", "address": "1 Main St"})["id"]
    screens: list[tuple[str, list[str]]] = []
    for rows in ROW_COUNTS:
        for seats in SEATS_PER_ROW:
            screen = post(
                f"/api/v1/admin/theaters/{theater}/screens",
                {
                    "name": f"S{rows}x{seats}",
                    "rows": [{"row": r, "seats": seats, "category": "standard"} for r in ROW_NAMES[:rows]],
                },
            )
            screens.append((screen["id"], screen["seats"]))
    chosen = [rng.choice(screens) for _ in range(count)]
    base = datetime.now(UTC) + timedelta(days=2)
    started = time.monotonic()
    done = 0
    lock = threading.Lock()

    def one(index: int) -> Target:
        nonlocal done
        screen_id, seats = chosen[index]
        show = post(
            "/api/v1/admin/shows",
            {
                "movie_id": movie,
                "screen_id": screen_id,
                "starts_at": (base + timedelta(minutes=index)).isoformat(),
                "prices": {"standard": PRICE},
            },
        )
        with lock:
            done += 1
            if done % 100 == 0 or done == count:
                print(f"  {done:5d}/{count} shows created ({time.monotonic() - started:.0f}s)", flush=True)
        return Target(show["id"], movie, theater, list(seats))

    with ThreadPoolExecutor(workers) as pool:
        shows = list(pool.map(one, range(count)))
    return Catalog(movie, theater, shows)


# -- sampling ---------------------------------------------------------------------------------------------


class ShowSampler:
    """Live shows and lifecycle counts from Ray, cumulative over the run."""

    def __init__(self, placement: str, namespace: str) -> None:
        self.placement = placement
        self.namespace = namespace
        self.handles: dict[str, Any] = {}
        self.hosts: dict[str, dict[str, Any]] = {}  # last stats per host
        self.totals = {"activations": 0, "passivations": 0, "evictions": 0, "refusals": 0, "fenced": 0}
        self.names: set[str] = set()
        self.max_shows: int | None = None

    def sample(self) -> dict[str, Any]:
        names = [n for n in ray.util.list_named_actors() if isinstance(n, str)]
        if self.placement == "dedicated":
            shows = {n for n in names if n.startswith("show:")}
            self.totals["activations"] += len(shows - self.names)
            self.totals["passivations"] += len(self.names - shows)
            self.names = shows
            return {"live_shows": len(shows), "hosts": 0, **self.totals}
        hosts = sorted(n for n in names if n.startswith("shows:"))
        for gone in set(self.handles) - set(hosts):  # recycled (exited when empty): a new one is a new actor
            self.handles.pop(gone, None)
            self.hosts.pop(gone, None)
        refs = {}
        for name in hosts:
            if name not in self.handles:
                try:
                    self.handles[name] = ray.get_actor(name, namespace=self.namespace)
                except ValueError:
                    continue
            refs[name] = self.handles[name].stats.remote()
        for name, ref in refs.items():
            try:
                stats: dict[str, Any] = ray.get(ref, timeout=10)
            except ray.exceptions.ActorDiedError:
                self.handles.pop(name, None)  # recycled since it was listed
                self.hosts.pop(name, None)
                continue
            except (ray.exceptions.RayError, TimeoutError):
                continue  # restarting or too busy to answer: keep its last figures
            before = self.hosts.get(name)
            for key in self.totals:
                now = int(stats.get(key, 0))
                # A restarted host (another pid) counts from zero again.
                same = before is not None and before["pid"] == stats["pid"]
                self.totals[key] += now - int(before.get(key, 0)) if same and before else now
            self.hosts[name] = stats
            self.max_shows = int(stats["max_shows"])
        live = sum(len(s["live_shows"]) for s in self.hosts.values())
        return {"live_shows": live, "hosts": len(self.hosts), **self.totals}


@dataclass
class MemorySample:
    t: float
    pss_mib: dict[str, float]
    uss_mib: float
    processes: dict[str, int]
    by_name_mib: dict[str, float]  # "component:process name" (Ray workers are named after their actor class)

    @property
    def total_mib(self) -> float:
        return sum(self.pss_mib.values())


class MemorySampler(threading.Thread):
    """Measures the service's processes as fast as it can (about once a second): a sample of a thousand
    processes takes a while, so it runs beside the one-second loop, which takes the latest."""

    def __init__(self, rig: Rig, t0: float, embedded_pg: bool, exclude: set[int]) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.rig, self.t0, self.embedded_pg, self.exclude = rig, t0, embedded_pg, exclude
        self.latest: MemorySample | None = None
        self.stopping = threading.Event()
        self.conn = connect(rig)

    def pg_processes(self) -> list[psutil.Process]:
        """The embedded server's postmaster and all its children, or the run database's backends."""
        if self.embedded_pg:
            rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name <> %s",
                (APP_NAME,),
            ).fetchall()
        procs: list[psutil.Process] = []
        for (pid,) in rows:
            try:
                procs.append(psutil.Process(int(pid)))
            except psutil.Error:
                continue
        if self.embedded_pg and procs:
            try:
                postmaster = procs[0].parent()
                if postmaster is not None:
                    return [postmaster, *postmaster.children()]
            except psutil.Error:
                pass
        return procs

    def own_backends(self) -> set[int]:
        rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APP_NAME,))
        return {int(pid) for (pid,) in rows.fetchall()}

    def groups(self) -> dict[str, list[psutil.Process]]:
        api_root = psutil.Process(self.rig.service.pid)
        api = [api_root, *api_root.children(recursive=True)]
        own = self.own_backends()
        pg = [p for p in self.pg_processes() if p.pid not in own]
        taken = {p.pid for p in api} | {p.pid for p in pg} | self.exclude
        ray_procs: list[psutil.Process] = []
        redis_procs: list[psutil.Process] = []
        for p in psutil.Process(os.getpid()).children(recursive=True):
            if p.pid in taken:
                continue
            try:
                name = p.name()
            except psutil.Error:
                continue
            (redis_procs if "redis" in name or "valkey" in name else ray_procs).append(p)
        return {"api": api, "ray": ray_procs, "postgres": pg, "redis": redis_procs}

    def measure(self) -> MemorySample:
        pss: dict[str, float] = {}
        counts: dict[str, int] = {}
        by_name: dict[str, float] = {}
        uss = 0.0
        for component, procs in self.groups().items():
            total, n = 0.0, 0
            for p in procs:
                try:
                    info = p.memory_full_info()
                    key = f"{component}:{p.name()}"
                except psutil.Error:
                    continue  # gone meanwhile
                total += info.pss / MIB
                uss += info.uss / MIB
                by_name[key] = by_name.get(key, 0.0) + info.pss / MIB
                n += 1
            pss[component], counts[component] = total, n
        return MemorySample(time.time() - self.t0, pss, uss, counts, by_name)

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.latest = self.measure()
            except (psutil.Error, psycopg.Error) as error:
                print(f"memory sample failed: {error}", flush=True)
            self.stopping.wait(max(1.0 - (time.monotonic() - started), 0.0))
        self.conn.close()


def connect(rig: Rig) -> psycopg.Connection[Any]:
    return psycopg.connect(libpq_url(rig.database_url), autocommit=True, application_name=APP_NAME)


def pg_connections(conn: psycopg.Connection[Any]) -> int:
    """Client connections to the run's database, the benchmark's own left out."""
    return query_int(
        conn,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name <> %s",
        (APP_NAME,),
    )


# -- the run ----------------------------------------------------------------------------------------------


@dataclass
class Series:
    """What the run records: the load generator's seconds and the sampler's samples."""

    load: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)


def read_lines(stream: Any, into: queue.Queue[dict[str, Any]]) -> None:
    for line in stream:
        try:
            into.put(json.loads(line))
        except ValueError:
            print(f"load generator: {line.rstrip()}", flush=True)


def rate(samples: list[dict[str, Any]], key: str) -> float:
    """Per second over ``samples`` (cumulative counter ``key``)."""
    if len(samples) < 2:
        return 0.0
    dt = samples[-1]["t"] - samples[0]["t"]
    return (samples[-1][key] - samples[0][key]) / dt if dt > 0 else 0.0


def progress(series: Series, t0: float, seconds: float) -> None:
    now = time.time() - t0
    window = [s for s in series.load if s["second"] >= now - 11]
    recent = [s for s in series.samples if s["t"] >= now - 11]
    if not recent:
        return
    last = recent[-1]
    span = max(len(window), 1)
    p99s = [s["p99_ms"] for s in window if s["p99_ms"] is not None]
    p50s = [s["p50_ms"] for s in window if s["p50_ms"] is not None]
    print(
        f"[{now:6.0f}s/{seconds:.0f}s] holds {sum(s['holds'] for s in window) / span:6.1f}/s "
        f"pay {sum(s['payments'] for s in window) / span:6.1f}/s  "
        f"p50 {sorted(p50s)[len(p50s) // 2] if p50s else 0:7.1f} ms  p99 {max(p99s) if p99s else 0:7.1f} ms  "
        f"live {last['live_shows']:5d}  act {rate(recent, 'activations'):5.1f}/s  "
        f"pas {rate(recent, 'passivations'):5.1f}/s  mem {last['memory_mib'] / 1024:5.2f} GiB  "
        f"pg {last['pg_connections']:3d}  503 {sum(s['unavailable'] for s in window):4d}  "
        f"fail {sum(s['failures'] for s in window)}",
        flush=True,
    )


def percentiles(encoded: str) -> dict[str, float]:
    hist = HdrHistogram.decode(encoded)
    if hist.get_total_count() == 0:
        return {"count": 0, "p50": 0.0, "p99": 0.0, "p99.9": 0.0, "max": 0.0}
    return {
        "count": hist.get_total_count(),
        "p50": hist.get_value_at_percentile(50) / 1000,
        "p99": hist.get_value_at_percentile(99) / 1000,
        "p99.9": hist.get_value_at_percentile(99.9) / 1000,
        "max": hist.get_max_value() / 1000,
    }


def plot(series: Series, seconds: float, title: str, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install matplotlib==3.11.2)")
        return False
    load, samples = series.load, series.samples
    lt = [s["second"] + 1 for s in load]  # a second's figures belong to its end
    st = [s["t"] for s in samples]
    fig, axes = plt.subplots(3, 2, figsize=(15, 12), sharex=True)
    ax = axes[0][0]
    ax.plot(lt, [s["holds"] for s in load], label="holds/s")
    ax.plot(lt, [s["payments"] for s in load], label="payments/s")
    ax.plot(lt, [s["unavailable"] for s in load], label="503 answers/s", alpha=0.6)
    ax.set_title("throughput (per second)")
    ax = axes[0][1]
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        pts = [(t, s[key]) for t, s in zip(lt, load, strict=True) if s[key] is not None]
        ax.plot([p[0] for p in pts], [max(p[1], 0.01) for p in pts], label=f"hold {label}")
    ax.axhline(1000, color="black", linestyle="--", linewidth=1, label="target p99 1 s")
    ax.set_yscale("log")
    ax.set_title("hold latency of the requests answered in each second (ms)")
    ax = axes[1][0]
    ax.plot(st, [s["live_shows"] for s in samples], label="live shows")
    ax.set_title("live shows")
    ax = axes[1][1]
    for key in ("activations", "passivations", "evictions", "refusals"):
        per_s = [0.0] + [(b[key] - a[key]) / max(b["t"] - a["t"], 1e-6) for a, b in itertools.pairwise(samples)]
        if any(per_s):
            ax.plot(st, per_s, label=f"{key}/s")
    ax.set_title("show lifecycle (per second)")
    ax = axes[2][0]
    ax.stackplot(
        st,
        *[[s["memory_by_component_mib"].get(c, 0) / 1024 for s in samples] for c in COMPONENTS],
        labels=[f"{c} (PSS)" for c in COMPONENTS],
        alpha=0.8,
    )
    if max((s["memory_mib"] for s in samples), default=0) > 4 * 1024:
        ax.axhline(8, color="black", linestyle="--", linewidth=1, label="target 8 GiB")
    ax.set_title("memory of the service (GiB)")
    ax = axes[2][1]
    ax.plot(st, [s["pg_connections"] for s in samples], label="connections to the run's database")
    ax.set_title("PostgreSQL connections")
    for row in axes:
        for ax in row:
            ax.axvline(0, color="grey", linewidth=0.8)
            ax.axvline(seconds, color="grey", linewidth=0.8)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
    for ax in axes[2]:
        ax.set_xlabel("seconds since the load started (grey lines: load start and end)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--shows", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the load runs")
    parser.add_argument("--placement", choices=("hosted", "dedicated"), default="hosted")
    parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent s (rank k has weight 1/k**s)")
    parser.add_argument("--users", type=int, default=512, help="customers' accounts (spread over the workers)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (one per customer)")
    parser.add_argument("--pay-ratio", type=float, default=0.5, help="share of holds that are paid")
    parser.add_argument("--idle-seconds", type=float, default=None, help="BOOKING_SHOW_IDLE_SECONDS (hosted)")
    parser.add_argument("--hosts", type=int, default=None, help="BOOKING_SHOW_HOSTS (hosted)")
    parser.add_argument("--max-shows", type=int, default=None, help="BOOKING_SHOW_HOST_MAX_SHOWS (hosted)")
    parser.add_argument("--cooldown", type=float, default=0.0, help="seconds to keep sampling after the load")
    parser.add_argument("--max-retry-seconds", type=float, default=60.0, help="503 retries give up after this")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.concurrency > args.users:
        parser.error("--users must be at least --concurrency (each customer has accounts of its own)")
    seconds = args.minutes * 60
    out: Path = args.out or Path(tempfile.gettempdir()) / f"seatwise-many-shows-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"output directory: {out}", flush=True)

    env = {"BOOKING_SHOW_PLACEMENT": args.placement, "BOOKING_MAX_SEATS_PER_USER": "100000"}
    if args.idle_seconds is not None:
        env["BOOKING_SHOW_IDLE_SECONDS"] = str(args.idle_seconds)
    if args.hosts is not None:
        env["BOOKING_SHOW_HOSTS"] = str(args.hosts)
    if args.max_shows is not None:
        env["BOOKING_SHOW_HOST_MAX_SHOWS"] = str(args.max_shows)
    if seconds + 120 > 600:  # unpaid holds must outlive the run, or the audit would count them lost
        env["BOOKING_HOLD_TTL_SECONDS"] = str(int(seconds) + 600)
    embedded_pg = not os.environ.get("DATABASE_URL")
    rng = random.Random(args.seed)

    from harness.client import bulk_users

    with running_service("bench-many-shows", env) as rig:
        print(f"placement {args.placement}; service env {env}", flush=True)
        print(f"creating {args.shows} shows ...", flush=True)
        catalog = create_catalog(rig, args.shows, rng)
        tokens = [t for _, t in bulk_users(rig.database_url, args.users)]
        t0 = time.time() + 3  # a few samples before the load starts
        spec = {
            "base_url": rig.base_url,
            "t0": t0,
            "seconds": seconds,
            "zipf": args.zipf,
            "concurrency": args.concurrency,
            "pay_ratio": args.pay_ratio,
            "max_retry_seconds": args.max_retry_seconds,
            "request_timeout": 60.0,
            "seed": args.seed,
            "tokens": tokens,
            "shows": [
                {"show_id": s.show_id, "movie_id": s.movie_id, "theater_id": s.theater_id, "seats": s.seats}
                for s in catalog.shows
            ],
        }
        spec_file, load_out = out / "load-spec.json", out / "load-out.json"
        spec_file.write_text(json.dumps(spec))
        load = subprocess.Popen(
            [sys.executable, "-m", "bench.many_shows_load", str(spec_file), str(load_out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[dict[str, Any]] = queue.Queue()
        reader = threading.Thread(target=read_lines, args=(load.stdout, lines), daemon=True)
        reader.start()
        memory = MemorySampler(rig, t0, embedded_pg, {load.pid, os.getpid()})
        memory.start()
        shows = ShowSampler(args.placement, rig.namespace)
        series = Series()
        print(
            f"load: {args.concurrency} customers, {args.users} accounts, Zipf s={args.zipf} over {args.shows} "
            f"shows, {args.pay_ratio:.0%} of holds paid, {seconds:.0f}s"
            + (f", then {args.cooldown:.0f}s of cooldown" if args.cooldown else ""),
            flush=True,
        )
        pg = connect(rig)
        next_tick, next_progress = t0 - 2, t0 + 10
        load_ended: float | None = None
        while True:
            time.sleep(max(next_tick - time.time(), 0))
            next_tick += 1
            while not lines.empty():
                series.load.append(lines.get())
            mem = memory.latest
            sample = {
                "t": round(time.time() - t0, 3),
                **shows.sample(),
                "pg_connections": pg_connections(pg),
                "memory_mib": mem.total_mib if mem else 0.0,
                "memory_by_component_mib": mem.pss_mib if mem else {},
                "memory_uss_mib": mem.uss_mib if mem else 0.0,
                "processes": mem.processes if mem else {},
                "memory_by_process_name_mib": mem.by_name_mib if mem else {},
                "memory_t": mem.t if mem else None,
            }
            series.samples.append(sample)
            if time.time() >= next_progress:
                progress(series, t0, seconds)
                next_progress += 10
            if load_ended is None and load.poll() is not None:
                load_ended = time.time()
                print(f"load generator finished ({load.returncode}) at {load_ended - t0:.0f}s", flush=True)
            if load_ended is not None and time.time() >= load_ended + args.cooldown:
                break
        memory.stopping.set()
        memory.join(30)
        pg.close()
        reader.join(10)
        while not lines.empty():
            series.load.append(lines.get())
        if load.returncode != 0 or not load_out.exists():
            raise SystemExit(f"the load generator failed ({load.returncode})")
        result = json.loads(load_out.read_text())
        held, twice = service_held(rig.database_url, catalog.shows)
        found = audit(result["granted"], held, twice)
        max_shows = shows.max_shows

    totals = result["totals"]
    hold = percentiles(result["histograms"]["hold"])
    hold_e2e = percentiles(result["histograms"]["hold_e2e"])
    pay = percentiles(result["histograms"]["pay"])
    samples = series.samples
    peak_mem = max(samples, key=lambda s: s["memory_mib"])
    last = samples[-1]
    summary = {
        "placement": args.placement,
        "host_max_shows": max_shows,
        "seconds": seconds,
        **{k: totals[k] for k in ("holds", "seats_held", "payments", "seats_paid", "conflicts")},
        "holds_per_s": totals["holds"] / seconds,
        "payments_per_s": totals["payments"] / seconds,
        "answers_503": totals["answers_503"],
        "succeeded_after_503": totals["succeeded_after_503"],
        "conflicts_after_503": totals["conflicts_after_503"],
        "failures": totals["failures"],
        "failure_examples": totals["failure_examples"],
        "statuses": totals["statuses"],
        "sold_out_shows": result["sold_out_shows"],
        "sold_out_redraws": totals["sold_out_redraws"],
        "hot_share": result["hot_share"],
        "hold_ms": hold,
        "hold_with_retries_ms": hold_e2e,
        "pay_ms": pay,
        "peak_memory_mib": peak_mem["memory_mib"],
        "peak_memory_by_component_mib": peak_mem["memory_by_component_mib"],
        "peak_memory_processes": peak_mem["processes"],
        "peak_memory_by_process_name_mib": peak_mem["memory_by_process_name_mib"],
        "final_memory_mib": last["memory_mib"],
        "peak_live_shows": max(s["live_shows"] for s in samples),
        "final_live_shows": last["live_shows"],
        "peak_pg_connections": max(s["pg_connections"] for s in samples),
        **{k: last[k] for k in ("activations", "passivations", "evictions", "refusals", "fenced")},
        "audit": {**asdict(found), "ok": found.ok},
        "memory_method": "PSS via psutil; postgres: "
        + ("the embedded server's postmaster tree" if embedded_pg else "backends of the run's database only"),
    }
    ok = found.ok and totals["failures"] == 0
    print(
        f"\nsummary ({args.placement}, {args.shows} shows, {seconds:.0f}s, Zipf s={args.zipf}; the "
        f"{', '.join(result['hot_share'])} hottest shows get "
        f"{', '.join(f'{v:.0%}' for v in result['hot_share'].values())} of the draws)\n"
        f"  holds      {totals['holds']} ({summary['holds_per_s']:.1f}/s, {totals['seats_held']} seats); "
        f"payments {totals['payments']} ({summary['payments_per_s']:.1f}/s, {totals['seats_paid']} seats)\n"
        f"  hold       p50 {hold['p50']:.1f} ms  p99 {hold['p99']:.1f} ms  p99.9 {hold['p99.9']:.1f} ms  "
        f"max {hold['max']:.0f} ms (per request, cold activations included)\n"
        f"  with 503 retries and their waits: p50 {hold_e2e['p50']:.1f} ms  p99 {hold_e2e['p99']:.1f} ms; "
        f"payment p50 {pay['p50']:.1f} ms  p99 {pay['p99']:.1f} ms\n"
        f"  answers    {totals['statuses']}\n"
        f"  503s       {totals['answers_503']} answers, {totals['succeeded_after_503']} requests succeeded on "
        f"retry, {totals['conflicts_after_503']} got 409 on retry (their first attempt held the seats); "
        f"other 409s {totals['conflicts']}; sold-out shows {result['sold_out_shows']} "
        f"({totals['sold_out_redraws']} draws fell on one and were drawn again)\n"
        f"  failures   {totals['failures']}"
        + "".join(f"\n    {e}" for e in totals["failure_examples"][:5])
        + f"\n  shows      peak live {summary['peak_live_shows']} (at the end {last['live_shows']}"
        + (f", budget {max_shows} per host" if max_shows else "")
        + f"); activations {last['activations']}, passivations {last['passivations']}, "
        f"evictions {last['evictions']}, refusals {last['refusals']}\n"
        f"  memory     peak {peak_mem['memory_mib'] / 1024:.2f} GiB PSS at {peak_mem['t']:.0f}s "
        f"({', '.join(f'{k} {v / 1024:.2f}' for k, v in peak_mem['memory_by_component_mib'].items())} GiB; "
        f"processes {peak_mem['processes']}); at the end {last['memory_mib'] / 1024:.2f} GiB; "
        f"{summary['memory_method']}\n"
        f"             largest at the peak: "
        + ", ".join(
            f"{k} {v:.0f} MiB"
            for k, v in sorted(peak_mem["memory_by_process_name_mib"].items(), key=lambda kv: -kv[1])[:6]
        )
        + "\n"
        f"  postgres   peak {summary['peak_pg_connections']} connections to the run's database\n"
        f"  audit      {found.line()}",
        flush=True,
    )
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    (out / "results.json").write_text(
        json.dumps(
            {"config": config, "service_env": env, "cpus": os.cpu_count(), "summary": summary, **asdict(series)},
            indent=1,
        )
    )
    load_out.unlink(missing_ok=True)  # every granted seat: large, and summarised above
    png = out / "many_shows.png"
    title = f"{args.shows} shows, {args.placement}, Zipf s={args.zipf}, {args.concurrency} in flight"
    if plot(series, seconds, title, png):
        print(f"plot: {png}")
    print(f"results: {out / 'results.json'}")
    problems = [*(["requests failed"] if totals["failures"] else []), *(["audit"] if not found.ok else [])]
    print("OK" if ok else "FAILED: " + ", ".join(problems))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
