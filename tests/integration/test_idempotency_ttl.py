"""An Idempotency-Key past its lifetime, through the HTTP API: the service started with a lifetime of five
seconds replays a request within it, and runs the same request anew after it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api_client import bulk_users, create_show
from tests.conftest import Backing, Service, serving

TTL_SECONDS = 5.0


@pytest.fixture(scope="module")
def short_lived_keys(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = {
        "BOOKING_IDEMPOTENCY_KEY_TTL_HOURS": str(TTL_SECONDS / 3600),
        "BOOKING_RETENTION_INTERVAL_SECONDS": "0",  # the lookup alone must honour the lifetime
        "BOOKING_PREWARM_LEAD_SECONDS": "0",
    }
    with serving(backing, tmp_path_factory, "idempotency-ttl", settings) as svc:
        yield svc


def test_a_key_past_its_lifetime_runs_the_request_anew(short_lived_keys: Service, backing: Backing) -> None:
    with httpx.Client(base_url=short_lived_keys.base_url, timeout=30) as client:
        show = create_show(client)
        (_, warm), (_, token) = bulk_users(backing.database_url, 2)
        url = f"/api/v1/shows/{show.show_id}/holds"
        # Start the show's actor first: its cold start (seconds on a busy machine) would otherwise count
        # against the key's lifetime, which runs from the first request's arrival.
        assert client.post(url, headers={"Authorization": f"Bearer {warm}"}, json={"count": 1}).status_code == 201
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "best-one"}

        first = client.post(url, headers=headers, json={"count": 1})
        assert first.status_code == 201, first.text
        replayed = client.post(url, headers=headers, json={"count": 1})
        assert replayed.json() == first.json()  # within the lifetime: the first answer, nothing held anew

        time.sleep(TTL_SECONDS + 0.5)  # the lifetime is measured by the database clock, which this outlasts
        anew = client.post(url, headers=headers, json={"count": 1})
        assert anew.status_code == 201, anew.text
        assert anew.json()["id"] != first.json()["id"]
        assert anew.json()["seats"] != first.json()["seats"]
