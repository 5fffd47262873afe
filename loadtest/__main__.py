"""``python -m loadtest``: one command from nothing to an audited load test (docs/loadtest.md).

Without ``--host`` it starts the whole service exactly as users do, on throwaway services
(``bench.harness.running_service``: a fresh database on ``DATABASE_URL``'s server or an embedded
PostgreSQL, ``REDIS_URL`` or an embedded Redis, a local Ray), seeds the shows and the accounts before the
measured period, runs locust headless in its own process (CSV and HTML reports in the output dir it
prints, a progress line every few seconds), and then runs the invariant check against PostgreSQL (for the
waiting-room shape also against what the service published about its queue's order). The exit status is 0
when the invariants hold, 1 when one is violated, 2 when the run itself failed.

With ``--host URL`` it loads a service that is already running; it then needs that service's database
(``--database-url`` or ``DATABASE_URL``) to create accounts and to audit, and the admin account of
``tests.api_client`` (``BOOKING_ADMIN_EMAIL=admin@example.com``, ``BOOKING_ADMIN_PASSWORD=
admin-password-123``) to create its shows; its waiting rooms' admission window is its own setting
(``BOOKING_QUEUE_ADMISSION_WINDOW_SECONDS``), not ``--admission-window``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from loadtest import invariants, reports, seed
from loadtest.plan import SHAPES, Plan, ShowPlan
from settings import libpq_url
from waiting_room import verify

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
USER_CLASS = {"flash-sale": "FlashSaleUser", "browsing": "BrowsingUser", "waiting-room": "WaitingRoomUser"}
ROOM_SEATS_PER_USER = 0.2  # the waiting room's crowd is five times its seats
MIN_ROOM_SEATS = 20
HOLD_TTL_SECONDS = 30
ROOM_HOLD_TTL_SECONDS = 15
PROGRESS_SECONDS = 2.0


def parse_seconds(text: str) -> int:
    """locust's run-time syntax (``90``, ``60s``, ``2m``, ``1h30m``) in seconds."""
    if text.isdigit():
        return int(text)
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not match or not text.strip():
        raise argparse.ArgumentTypeError(f"not a run time: {text!r} (use e.g. 60s, 2m, 1h30m)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=SHAPES, default="flash-sale")
    parser.add_argument("--users", type=int, default=100, help="peak concurrent users (default 100)")
    parser.add_argument("--run-time", type=parse_seconds, default=60, help="e.g. 60s, 5m (default 60s)")
    parser.add_argument("--host", help="load this running service instead of starting one")
    parser.add_argument("--database-url", help="with --host: its PostgreSQL (default: DATABASE_URL)")
    parser.add_argument("--output", type=Path, help="report dir (default ./loadtest-results/<shape>-<time>)")
    parser.add_argument("--accounts", type=int, help="accounts to create (default: 4 per user for flash-sale)")
    parser.add_argument("--rows", type=int, default=20, help="rows of the flash-sale show (default 20)")
    parser.add_argument("--seats-per-row", type=int, default=24, help="seats per row (default 24)")
    parser.add_argument("--browse-shows", type=int, default=3, help="shows for the browsing shape (default 3)")
    parser.add_argument(
        "--hold-ttl", type=int, help="hold length of the seeded shows, s (default 30; 15 for the waiting room)"
    )
    parser.add_argument("--seats", type=int, help="seats of the waiting-room show (default users / 5, at least 20)")
    parser.add_argument(
        "--opens-in", type=float, default=10.0, help="waiting room: its sales open this many s after seeding (10)"
    )
    parser.add_argument(
        "--admission-window",
        type=int,
        default=10,
        help="waiting room: s an admitted account has to hold before its pass lapses (default 10, at least 10)",
    )
    parser.add_argument(
        "--stop-timeout", type=int, default=5, help="s users get to finish their journey at the end (default 5)"
    )
    parser.add_argument("--cold", action="store_true", help="do not activate the shows' actors before the run")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the throwaway database")
    args = parser.parse_args(argv)
    if args.users < 1 or args.run_time < 1:
        parser.error("--users and --run-time must be positive")
    if args.admission_window < 10 or (args.seats is not None and args.seats < 1):
        parser.error("--admission-window must be at least 10 (the service's minimum) and --seats positive")
    if args.hold_ttl is None:  # a waiting room's seats come back within a one-minute run, and sell out
        args.hold_ttl = ROOM_HOLD_TTL_SECONDS if args.shape == "waiting-room" else HOLD_TTL_SECONDS
    if args.host and not (args.database_url or os.environ.get("DATABASE_URL")):
        parser.error("--host needs the service's database: --database-url or DATABASE_URL")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.output or Path("loadtest-results") / f"{args.shape}-{datetime.now():%Y%m%d-%H%M%S}"
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"loadtest: {args.shape}, {args.users} users, {args.run_time}s; reports in {out}", flush=True)
    if args.host:
        return run(args, args.host.rstrip("/"), args.database_url or os.environ["DATABASE_URL"], out)

    from bench.harness import running_service

    namespace = f"loadtest-{args.shape}"
    extra_env = {
        "BOOKING_DATA_DIR": str(out / "service-data"),
        "BOOKING_QUEUE_ADMISSION_WINDOW_SECONDS": str(args.admission_window),
    }
    started = time.monotonic()
    with running_service(namespace, extra_env) as rig:
        database = rig.database_url.rsplit("/", 1)[-1]
        print(f"service: {rig.base_url} (database {database}), up in {time.monotonic() - started:.1f}s", flush=True)
        code = run(args, rig.base_url, rig.database_url, out)
    if os.environ.get("DATABASE_URL"):
        if args.keep_database:
            print(f"database kept: {rig.database_url}")
        else:
            drop_database(os.environ["DATABASE_URL"], rig.database_url)
    return code


def run(args: argparse.Namespace, base_url: str, database_url: str, out: Path) -> int:
    health = httpx.get(base_url + "/healthz", timeout=10)
    if health.status_code != 200:
        print(f"{base_url}/healthz answered {health.status_code}", file=sys.stderr)
        return 2
    flash, room = args.shape == "flash-sale", args.shape == "waiting-room"
    started = time.monotonic()
    flash_show, browse_shows = seed.seed_shows(
        base_url,
        flash=flash,
        browse_count=args.browse_shows if args.shape == "browsing" else 0,
        rows=args.rows,
        seats_per_row=args.seats_per_row,
        hold_ttl_seconds=args.hold_ttl,
    )
    accounts = args.accounts or (args.users * 4 if flash else args.users)
    tokens = seed.seed_tokens(database_url, accounts)
    plan_shows = ([flash_show] if flash_show else []) + browse_shows
    warm = (
        ""
        if args.cold or not plan_shows
        else f", actors activated in {seed.prewarm(base_url, plan_shows, tokens[0]):.1f}s"
    )
    room_show, opens_at = None, ""
    if room:  # last, so that its sales open about --opens-in s after the crowd starts arriving
        seats = args.seats or max(MIN_ROOM_SEATS, round(args.users * ROOM_SEATS_PER_USER))
        room_show, opens_at = seed.seed_room_show(
            base_url, seats=seats, hold_ttl_seconds=args.hold_ttl, opens_in=args.opens_in
        )
    plan = Plan(
        shape=args.shape,
        host=base_url,
        hold_ttl_seconds=args.hold_ttl,
        flash_show=flash_show,
        browse_shows=browse_shows,
        tokens=tokens,
        search_terms=seed.search_terms(browse_shows),
        seen_path=str(out / "seen.json"),
        progress_path=str(out / "progress.json"),
        room_show=room_show,
        opens_at=opens_at,
    )
    plan.save(out / "plan.json")
    seats = sum(s.capacity for s in plan.all_shows)
    opening = f"; the waiting room opens at {opens_at}" if opens_at else ""
    print(
        f"seeded {len(plan.all_shows)} show(s), {seats} seats, {accounts} accounts "
        f"in {time.monotonic() - started:.1f}s{warm}{opening}",
        flush=True,
    )

    locust_code = run_locust(args, base_url, out)
    print("\n" + reports.summary(out), flush=True)
    if not reports.stats_path(out).exists():
        print(f"locust wrote no statistics; see {out / 'locust.log'}", file=sys.stderr)
        return 2
    if locust_code not in (0, 1):  # 1: some requests failed (reported above); anything else: locust broke
        print(f"locust exited with {locust_code}; see {out / 'locust.log'}", file=sys.stderr)

    published, unread = read_published(base_url, [room_show] if room_show else [])
    counts, run_shows = reports.harness_counts(out)
    report = invariants.check(database_url, run_shows, counts, published)
    text = report.render()
    print(text, flush=True)
    (out / "invariants.txt").write_text(text + "\n")
    print(f"\nreports: {out / 'report.html'}, {reports.stats_path(out)}, {out / 'invariants.txt'}")
    return 1 if not report.ok else 2 if unread else 0


def read_published(base_url: str, shows: list[ShowPlan]) -> tuple[dict[str, invariants.Published], bool]:
    """What the service publishes about each waiting room's order (``waiting_room.verify.fetch``), for the
    audit to check; and whether any could not be read (then the audit checks PostgreSQL's own record)."""
    published: dict[str, invariants.Published] = {}
    unread = False
    for show in shows:
        try:
            published[show.show_id] = verify.fetch(base_url, show.show_id, progress=False)
        except httpx.HTTPError as exc:
            print(f"cannot read the fairness record of show {show.show_id}: {exc!r}", file=sys.stderr)
            unread = True
    return published, unread


def run_locust(args: argparse.Namespace, base_url: str, out: Path) -> int:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base_url,
        "--users",
        str(args.users),
        "--run-time",
        f"{args.run_time}s",
        "--stop-timeout",
        str(args.stop_timeout),
        "--csv",
        str(out / reports.CSV_PREFIX),
        "--html",
        str(out / "report.html"),
        "--only-summary",
        USER_CLASS[args.shape],
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "LOADTEST_PLAN": str(out / "plan.json"),
        "LOADTEST_SHAPE": args.shape,
    }
    deadline = time.monotonic() + args.run_time + args.stop_timeout + 60
    started = time.monotonic()
    with (out / "locust.log").open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    print("locust did not stop in time; interrupting it", file=sys.stderr)
                    proc.send_signal(signal.SIGINT)
                    deadline += 30
                time.sleep(PROGRESS_SECONDS)
                print(reports.progress_line(out, time.monotonic() - started), flush=True)
        except KeyboardInterrupt:
            print("interrupted: stopping locust, then checking the invariants", flush=True)
            proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


def drop_database(server_url: str, database_url: str) -> None:
    """Drop the run's throwaway database (``running_service`` creates it on ``DATABASE_URL``'s server)."""
    name = libpq_url(database_url).rsplit("/", 1)[1]
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    sys.exit(main())
