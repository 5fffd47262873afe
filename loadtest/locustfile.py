"""The users of a load test: a flash-sale crowd, steady browsers and a waiting room's crowd, against the
real HTTP API.

Run by ``python -m loadtest`` (which writes the plan and sets ``LOADTEST_PLAN`` / ``LOADTEST_SHAPE``), or
by hand: ``LOADTEST_PLAN=plan.json locust -f loadtest/locustfile.py --headless -u 100 -t 60s
FlashSaleUser``. Exactly one shape is bound at module level (locust runs the first shape it finds).

- ``FlashSaleUser``: each arrival is a new customer (the next account of the plan's pool) who reads the
  seat map and asks for the best seats: best-available premium (45 %), hot seats named from the map's
  centre premium rows (30 %, stale by up to 2 s, so many lose), best-available standard (25 %); a lost
  race (409) retries twice, then gives up. A customer with a hold thinks 2–8 s, then pays with the test
  card (70 %), has a card declined first and then pays or walks away (5 %), releases the hold (12 %) or
  abandons it to lapse (13 %).
- ``BrowsingUser``: one account per user; lists movies and shows, searches, reads show pages and seat
  maps, and now and then holds the best 1–4 seats and pays (75 %) or releases them.
- ``WaitingRoomUser``: one account per user, one place in the show's waiting room: joins (before or after
  the opening), polls its entry every 1–3 s until it is ``admitted``, ``sold_out`` or ``closed``; once
  admitted, holds 1–4 seats the seat map shows free (other seats on a 409, three tries) and pays (85 %),
  abandons the hold to lapse (5 %), or walks away without holding, so its pass lapses (10 %).

Expected refusals are successes under their own name (``hold best [409 lost]``), so a locust
failure always means something went wrong (5xx, timeout, an unexpected status). What the users saw
(holds won, bookings confirmed with their seats…) goes to ``seen.json`` for ``loadtest.invariants``.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, between, events, task
from locust.stats import CSV_STATS_INTERVAL_SEC

from loadtest import shapes
from loadtest.plan import DECLINED_CARD, GOOD_CARD, PLAN_ENV, SHAPE_ENV, Plan, Seen, ShowPlan

if PLAN_ENV not in os.environ:
    raise SystemExit(f"{PLAN_ENV} must name the plan file written by `python -m loadtest` (see docs/loadtest.md)")
PLAN = Plan.load(Path(os.environ[PLAN_ENV]))
SEEN = Seen()
_accounts = itertools.count()

# The one shape locust finds in this module.
Shape = shapes.BY_SHAPE.get(os.environ.get(SHAPE_ENV, PLAN.shape), shapes.FlashSaleShape)


def next_token() -> str:
    return PLAN.tokens[next(_accounts) % len(PLAN.tokens)]


def _save_progress(environment: Any) -> None:
    """Every second: what users saw so far and locust's live totals, for the harness's progress line
    (locust's own history CSV is flushed only every few seconds)."""
    while True:
        runner = environment.runner
        total = runner.stats.total
        live = {
            "users": runner.user_count,
            "requests": total.num_requests,
            "failures": total.num_failures,
            "rps": round(total.current_rps, 1),
            "fail_per_s": round(total.current_fail_per_sec, 1),
            "p50": total.get_current_response_time_percentile(0.5),
            "p99": total.get_current_response_time_percentile(0.99),
        }
        progress = {"live": live, "seen": SEEN.counters(), "queue": SEEN.queue}
        Path(PLAN.progress_path).with_suffix(".tmp").write_text(json.dumps(progress))
        Path(PLAN.progress_path).with_suffix(".tmp").replace(PLAN.progress_path)
        gevent.sleep(1.0)


def _on_start(environment: Any, **_: Any) -> None:
    gevent.spawn(_save_progress, environment)


def _on_stop(**_: Any) -> None:
    SEEN.save(Path(PLAN.seen_path))


def _on_quit(**_: Any) -> None:
    """Save what users saw, then give locust's CSV writer (a greenlet writing every
    ``CSV_STATS_INTERVAL_SEC``) one more pass: it is closed without a final write, and would otherwise
    miss the requests of the stop phase."""
    SEEN.save(Path(PLAN.seen_path))
    gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.3)


hooks: Any = events  # locust's event hooks are untyped
hooks.test_start.add_listener(_on_start)
hooks.test_stop.add_listener(_on_stop)
hooks.quitting.add_listener(_on_quit)


class Customer(FastHttpUser):
    """What both kinds of user do with a token: read seat maps, hold, pay, release."""

    abstract = True
    network_timeout = 30.0
    connection_timeout = 30.0
    token = ""

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def call(
        self,
        method: str,
        path: str,
        name: str,
        ok: tuple[int, ...],
        expected: dict[int, str] | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        """One request: ``ok`` statuses succeed, ``expected`` ones succeed under ``name [status label]``,
        anything else is a failure. Returns the status and the JSON body (None if there is none)."""
        expected = expected or {}
        response: Any  # locust's ResponseContextManager, whose success()/failure() are untyped
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            status: int = response.status_code
            body: Any = None
            if response.content and str((response.headers or {}).get("content-type", "")).endswith("json"):
                try:
                    body = response.json()
                except ValueError:
                    body = None
            if status in ok:
                response.success()
            elif status in expected:
                response.request_meta["name"] = f"{name} [{status} {expected[status]}]"
                response.success()
            else:
                SEEN.errors += 1
                response.failure(f"{status}: {(response.text or '')[:200]}")
        return status, body

    def seat_map(self, show: ShowPlan) -> list[dict[str, Any]]:
        status, body = self.call("GET", f"/api/v1/shows/{show.show_id}/seats", "seat map", ok=(200,))
        return list(body["seats"]) if status == 200 and body else []

    def hold(
        self, show: ShowPlan, request: dict[str, Any], kind: str, refusals: dict[int, str] | None = None
    ) -> dict[str, Any] | None:
        """Hold seats; a 409 (somebody else got them) and any other status in ``refusals`` is expected."""
        status, body = self.call(
            "POST",
            f"/api/v1/shows/{show.show_id}/holds",
            f"hold {kind}",
            ok=(201,),
            expected={409: "lost", **(refusals or {})},
            headers=self.auth(),
            json=request,
        )
        if status == 201 and body:
            SEEN.holds_won += 1
            SEEN.held_seats += len(body["seats"])
            return dict(body)
        if status == 409:
            SEEN.holds_lost += 1
        return None

    def pay(self, show: ShowPlan, card: str) -> int:
        """Pay for this account's holds on ``show``; a 503 is retried once under the same key."""
        key = f"lt-{uuid.uuid4()}"
        for attempt in range(2):
            status, body = self.call(
                "POST",
                f"/api/v1/shows/{show.show_id}/holds/pay",
                "pay" if card == GOOD_CARD else "pay declined card",
                ok=(200,) if card == GOOD_CARD else (402,),
                expected={410: "expired", 409: "in progress"},
                headers={**self.auth(), "Idempotency-Key": key},
                json={"payment_info": {"card_number": card}},
            )
            if status == 200 and body:
                SEEN.bookings += 1
                seats = list(body.get("selected_seat") or body.get("seats") or [])
                SEEN.booked_seats += len(seats)
                SEEN.booking_ids[str(body["booking_id"])] = seats
            if status == 402:
                SEEN.declined += 1
            if status != 503 or attempt:
                return status
            gevent.sleep(1.0)
        return 503

    def release(self, show: ShowPlan, hold_id: str) -> None:
        status, _ = self.call(
            "DELETE",
            f"/api/v1/shows/{show.show_id}/holds/{hold_id}",
            "release hold",
            ok=(204,),
            expected={404: "gone", 409: "paying", 410: "expired"},
            headers=self.auth(),
        )
        if status == 204:
            SEEN.released += 1


def _adjacent(free: list[str], count: int) -> list[str] | None:
    """``count`` adjacent seats of one row among ``free`` (ids like ``C12``), chosen at random."""
    by_row: dict[str, list[int]] = {}
    for seat in free:
        row = seat.rstrip("0123456789")
        by_row.setdefault(row, []).append(int(seat[len(row) :]))
    runs = [
        [f"{row}{n}" for n in range(start, start + count)]
        for row, numbers in by_row.items()
        for start in numbers
        if all(n in numbers for n in range(start, start + count))
    ]
    return random.choice(runs) if runs else None


class FlashSaleUser(Customer):
    """One slot of the on-sale crowd: each arrival is a new customer who wants the best seats."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        if PLAN.flash_show is None:
            raise SystemExit("the plan has no flash-sale show")
        self.show: ShowPlan = PLAN.flash_show

    @task
    def arrive(self) -> None:
        self.token = next_token()
        count = random.choices([1, 2, 3, 4], weights=[15, 50, 15, 20])[0]
        seats = self.seat_map(self.show)
        hold: dict[str, Any] | None = None
        for attempt in range(3):
            want = random.choices(["best premium", "named", "best standard"], weights=[45, 30, 25])[0]
            if attempt:
                gevent.sleep(random.uniform(0.3, 1.2))
                seats = self.seat_map(self.show)
                want = "best premium" if attempt == 1 else "best standard"
            if want == "named":
                hot = set(self.show.hot_seats)
                named = _adjacent([s["id"] for s in seats if s["id"] in hot and s["status"] == "available"], count)
                if named is not None:
                    hold = self.hold(self.show, {"seats": named}, "named")
                    if hold:
                        break
                    continue
                want = "best premium"
            category = want.split()[1]
            if category not in self.show.categories:
                category = self.show.categories[0]
            hold = self.hold(self.show, {"count": count, "category": category}, "best")
            if hold:
                break
        if hold is None:
            SEEN.gave_up += 1
            return
        gevent.sleep(random.uniform(2.0, 8.0))  # reads the price, finds the card
        outcome = random.choices(["pay", "declined", "release", "abandon"], weights=[70, 5, 12, 13])[0]
        if outcome == "pay":
            self.pay(self.show, GOOD_CARD)
        elif outcome == "declined":
            if self.pay(self.show, DECLINED_CARD) == 402 and random.random() < 0.5:
                gevent.sleep(random.uniform(1.0, 3.0))
                self.pay(self.show, GOOD_CARD)
            else:
                self.release(self.show, hold["id"])
        elif outcome == "release":
            self.release(self.show, hold["id"])
        else:
            SEEN.abandoned += 1  # walks away; the hold lapses after its TTL


class BrowsingUser(Customer):
    """A steady visitor: mostly reads the catalog, sometimes buys a few seats."""

    wait_time = between(1.0, 4.0)

    def on_start(self) -> None:
        self.token = next_token()

    def some_show(self) -> ShowPlan:
        return random.choice(PLAN.all_shows)

    @task(4)
    def list_movies(self) -> None:
        self.call("GET", "/api/v1/movies", "movies", ok=(200,))

    @task(3)
    def list_shows(self) -> None:
        show = self.some_show()
        self.call("GET", f"/api/v1/shows?movie_id={show.movie_id}&on_sale=true", "shows?movie_id", ok=(200,))

    @task(2)
    def show_page(self) -> None:
        self.call("GET", f"/api/v1/shows/{self.some_show().show_id}", "show", ok=(200,))

    @task(3)
    def search_movies(self) -> None:
        term = random.choice(PLAN.search_terms)
        self.call("GET", f"/api/v1/search/movies?{urlencode({'q': term})}", "search movies", ok=(200,))

    @task(2)
    def search_shows(self) -> None:
        show = self.some_show()
        query = urlencode({"city": show.city, "date": show.starts_at[:10]})
        self.call("GET", f"/api/v1/search/shows?{query}", "search shows", ok=(200,))

    @task(5)
    def read_seat_map(self) -> None:
        self.seat_map(self.some_show())

    @task(1)
    def hold_and_pay(self) -> None:
        show = self.some_show()
        count = random.randint(1, 4)
        hold = self.hold(show, {"count": count, "category": random.choice(show.categories)}, "best")
        if hold is None:
            return
        gevent.sleep(random.uniform(1.0, 4.0))
        if random.random() < 0.75:
            self.pay(show, GOOD_CARD)
        else:
            self.release(show, hold["id"])


class WaitingRoomUser(Customer):
    """One account in the on-sale's waiting room: joins once, waits its turn, then buys or leaves."""

    wait_time = between(1.0, 3.0)  # between journeys; each user has one, and then idles

    def on_start(self) -> None:
        if PLAN.room_show is None:
            raise SystemExit("the plan has no waiting-room show")
        self.show: ShowPlan = PLAN.room_show
        self.token = next_token()
        self.joined = False

    @task
    def wait_in_line(self) -> None:
        if self.joined:
            return
        self.joined = True
        path = f"/api/v1/shows/{self.show.show_id}/queue"
        status, entry = self.call("POST", path, "queue join", ok=(200, 201), headers=self.auth())
        if status not in (200, 201) or not entry:
            return
        SEEN.tally("joined")
        while entry["state"] == "waiting":
            gevent.sleep(random.uniform(1.0, 3.0))
            status, body = self.call("GET", path, "queue poll", ok=(200,), headers=self.auth())
            if status == 200 and body:
                entry = body
        SEEN.tally(str(entry["state"]))  # admitted, sold_out or closed
        if entry["state"] == "admitted":
            self.buy()

    def buy(self) -> None:
        outcome = random.choices(["pay", "abandon", "walk away"], weights=[85, 5, 10])[0]
        if outcome == "walk away":
            SEEN.tally("walked_away")  # never holds: the pass lapses after the admission window
            return
        count = random.choices([1, 2, 3, 4], weights=[15, 50, 15, 20])[0]
        hold: dict[str, Any] | None = None
        for _ in range(3):
            free = [s["id"] for s in self.seat_map(self.show) if s["status"] == "available"]
            if not free:
                break
            pick = _adjacent(free, count) or random.sample(free, min(count, len(free)))
            hold = self.hold(self.show, {"seats": pick}, "named", refusals={403: "not admitted"})
            if hold:
                break
            gevent.sleep(random.uniform(0.2, 0.8))
        if hold is None:
            SEEN.gave_up += 1
            return
        gevent.sleep(random.uniform(1.0, 4.0))  # reads the price, finds the card
        if outcome == "pay":
            self.pay(self.show, GOOD_CARD)
        else:
            SEEN.abandoned += 1  # the hold lapses after its TTL; its seats go to those waiting
