"""Rate limits per IP and per account: the limiter trips, answers 429 with Retry-After, and recovers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api_client import admin_headers, bulk_users, create_show
from tests.conftest import Backing, Service


@pytest.fixture(scope="module")
def limited(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A second service on the same data, with a small limit: 60 a minute, counted over 3 s windows."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = Service(
        backing=backing,
        port=port,
        extra_env={
            "BOOKING_RATE_LIMIT_PER_MINUTE": "60",
            "BOOKING_RATE_LIMIT_WINDOW_SECONDS": "3",
            "BOOKING_REDIS_PREFIX": backing.redis_prefix + "limited:",
        },
    )
    svc.log_path = tmp_path_factory.mktemp("limited") / "service.log"
    svc.start()
    yield svc
    svc.stop()


def test_the_limiter_trips_answers_429_and_recovers(limited: Service) -> None:
    with httpx.Client(base_url=limited.base_url, timeout=10) as client:
        statuses = [client.get("/api/v1/movies").status_code for _ in range(6)]
        assert statuses[:3] == [200, 200, 200]
        assert 429 in statuses
        refused = client.get("/api/v1/movies")
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 3
        assert client.get("/healthz").status_code == 200  # health checks are never limited
        time.sleep(retry_after + 0.5)
        assert client.get("/api/v1/movies").status_code == 200


def test_one_account_is_limited_across_addresses(limited: Service, backing: Backing) -> None:
    """The account budget holds whatever IP the requests come from (127.0.0.x are distinct client IPs)."""
    ((_, token),) = bulk_users(backing.database_url, 1)
    statuses = []
    for i in range(8):
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{i + 2}")
        with httpx.Client(base_url=limited.base_url, timeout=10, transport=transport) as client:
            statuses.append(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code)
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses


def test_admins_block_and_unblock_a_network(live_service: Service) -> None:
    blocked = httpx.HTTPTransport(local_address="127.0.0.9")
    with (
        httpx.Client(base_url=live_service.base_url, timeout=10) as admin_client,
        httpx.Client(base_url=live_service.base_url, timeout=10, transport=blocked) as client,
    ):
        admin = admin_headers(admin_client)
        assert client.get("/api/v1/movies").status_code == 200
        added = admin_client.post(
            "/api/v1/admin/blocked-networks", headers=admin, json={"network": "127.0.0.8/31", "reason": "scalper"}
        )
        assert added.status_code == 201
        assert added.json()["network"] == "127.0.0.8/31"
        refused = client.get("/api/v1/movies")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert admin_client.get("/api/v1/movies").status_code == 200  # 127.0.0.1 is not in 127.0.0.8/31
        listed = admin_client.get("/api/v1/admin/blocked-networks", headers=admin).json()
        assert {"network": "127.0.0.8/31", "reason": "scalper"}.items() <= listed[0].items()
        bad = admin_client.post("/api/v1/admin/blocked-networks", headers=admin, json={"network": "1.2.3.999"})
        assert bad.status_code == 422
        removed = admin_client.delete(
            "/api/v1/admin/blocked-networks", headers=admin, params={"network": "127.0.0.8/31"}
        )
        assert removed.status_code == 204
        assert client.get("/api/v1/movies").status_code == 200


def test_a_cached_seat_map_is_the_routes_answer_and_a_blocked_network_still_gets_403(live_service: Service) -> None:
    """Seat maps rendered a moment ago are answered before routing (``RenderedSeatMaps``): the answer is
    the route's, byte for byte, and the block list still comes first."""
    blocked = httpx.HTTPTransport(local_address="127.0.0.11")
    with (
        httpx.Client(base_url=live_service.base_url, timeout=10) as admin_client,
        httpx.Client(base_url=live_service.base_url, timeout=10, transport=blocked) as client,
    ):
        admin = admin_headers(admin_client)
        show = create_show(admin_client)
        path = f"/api/v1/shows/{show.show_id}/seats"
        first, again = admin_client.get(path), admin_client.get(path)  # rendered by the route, then cached
        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
        assert admin_client.get(f"/api/v1/shows/{show.show_id}/x/seats").status_code == 404  # not a seat map
        added = admin_client.post(
            "/api/v1/admin/blocked-networks", headers=admin, json={"network": "127.0.0.11/32", "reason": "test"}
        )
        assert added.status_code == 201
        try:
            assert admin_client.get(path).status_code == 200  # fresh in the cache now
            refused = client.get(path)
            assert refused.status_code == 403
            assert refused.headers["content-type"].startswith("application/problem+json")
        finally:
            admin_client.delete("/api/v1/admin/blocked-networks", headers=admin, params={"network": "127.0.0.11/32"})
        assert client.get(path).status_code == 200
