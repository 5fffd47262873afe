"""Several API processes (``BOOKING_API_WORKERS=2``) on one port, each a Ray driver sharing the show actors.

Checks that both processes serve, that holds made over fresh connections (the kernel spreads them over the
processes) all reach the one actor of the show, and that a show cancelled through one process is refused
by all of them soon after: no seat of a cancelled show is ever sold, and every process settles on 409.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import psutil
import pytest

from payments.simulator import SimulatorProcess
from tests.api_client import admin_headers, create_show, hold_body, new_user, seed_headers
from tests.conftest import Backing, Service, serving


@pytest.fixture(scope="module")
def two_process_service(
    backing: Backing, gateway: SimulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    with serving(backing, tmp_path_factory, "two-process-service", {"BOOKING_API_WORKERS": "2"}, gateway) as svc:
        yield svc


def fresh(base_url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    """One request on a new connection, so the kernel may hand it to either process."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return client.request(method, path, **kwargs)  # type: ignore[arg-type]


def test_two_processes_share_the_show_actors_and_a_cancelled_show_is_refused_by_both(
    two_process_service: Service,
) -> None:
    assert two_process_service.process is not None
    workers = [p for p in psutil.Process(two_process_service.process.pid).children() if "python" in p.name()]
    assert len(workers) >= 2, workers
    base = two_process_service.base_url
    with httpx.Client(base_url=base, timeout=30) as client:
        show = create_show(client)
        _, user_token = new_user(client, "two-processes")
        admin = admin_headers(client)
    # Holds through fresh connections land in both processes; all of them reach the one actor.
    answers = [
        fresh(
            base,
            "POST",
            f"/HoldSeat/api/v0/{show.movie_id}",
            headers=seed_headers(user_token),
            json=hold_body(show, [seat]),
        )
        for seat in ["A1", "A2", "A3", "A4"]
    ]
    assert [a.status_code for a in answers] == [200] * 4
    mine = fresh(base, "GET", f"/api/v1/shows/{show.show_id}/holds", headers={"Authorization": f"Bearer {user_token}"})
    assert sorted(s for h in mine.json() for s in h["seats"]) == ["A1", "A2", "A3", "A4"]
    cancelled = fresh(base, "POST", f"/api/v1/admin/shows/{show.show_id}/cancel", headers=admin)
    assert cancelled.status_code == 200, cancelled.text
    seen: Counter[int] = Counter()
    deadline = time.monotonic() + 20
    streak = 0
    while streak < 10 and time.monotonic() < deadline:
        answer = fresh(
            base,
            "POST",
            f"/HoldSeat/api/v0/{show.movie_id}",
            headers=seed_headers(user_token),
            json=hold_body(show, ["B1"]),
        )
        seen[answer.status_code] += 1
        assert answer.status_code != 200, "a seat of a cancelled show was sold"
        streak = streak + 1 if answer.status_code == 409 else 0
        if answer.status_code != 409:
            time.sleep(0.5)
    print(f"\nholds after the cancellation, by answer: {dict(seen)}")
    assert streak == 10, seen
