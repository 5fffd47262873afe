"""Rate limits per IP and per account: the limiter trips, answers 429 with Retry-After, and recovers; the
login limit trips long before the general one; probes are never limited; every limited answer carries
the RateLimit-* fields."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api_client import admin_headers, bulk_users, create_show
from tests.conftest import Backing, Service, serving


@pytest.fixture(scope="module")
def limited(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A second service on the same data, with a small limit: 60 a minute, counted over 3 s windows."""
    env = {
        "BOOKING_RATE_LIMIT_PER_MINUTE": "60",
        "BOOKING_RATE_LIMIT_WINDOW_SECONDS": "3",
        "BOOKING_REDIS_PREFIX": backing.redis_prefix + "limited:",
    }
    with serving(backing, tmp_path_factory, "limited", env) as svc:
        yield svc


@pytest.fixture(scope="module")
def defaults(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service with the limits a deployment gets by default (600 a minute; logins 10 per account per
    15 min, 30 per address a minute)."""
    env = {
        "BOOKING_RATE_LIMIT_PER_MINUTE": "600",  # the default (the test services otherwise turn it off)
        "BOOKING_REDIS_PREFIX": backing.redis_prefix + "defaults:",
    }
    with serving(backing, tmp_path_factory, "defaults", env) as svc:
        yield svc


def client_at(service: Service, address: str) -> httpx.Client:
    """A client with its own source address (127.0.0.x are distinct client IPs to the limiter)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=service.base_url, timeout=10, transport=transport)


def login(client: httpx.Client, email: str, password: str = "wrong-password") -> httpx.Response:
    return client.post("/api/v1/auth/token", data={"username": email, "password": password})


def test_the_login_limit_trips_long_before_the_general_one(defaults: Service) -> None:
    """Ten failed logins for one account, then 429, while other routes from the same address still
    answer 200; another account from another address is not limited."""
    with client_at(defaults, "127.0.0.21") as client, client_at(defaults, "127.0.0.22") as other:
        statuses = [login(client, "victim@example.com").status_code for _ in range(10)]
        assert statuses == [401] * 10
        refused = login(client, "VICTIM@example.com")  # e-mails name accounts case-insensitively
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(refused.headers["Retry-After"]) <= 900
        assert refused.headers["RateLimit-Limit"] == "10"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.headers["RateLimit-Policy"] == "10;w=900"
        assert refused.headers.get_list("Retry-After") == [refused.headers["Retry-After"]]
        assert client.get("/api/v1/movies").status_code == 200  # the general limit is far away
        assert login(other, "bystander@example.com").status_code == 401  # control: not limited
        assert login(other, "victim@example.com").status_code == 429  # the account, from any address


def test_a_correct_password_clears_the_accounts_failures(defaults: Service) -> None:
    email = f"forgetful-{secrets.token_hex(4)}@example.com"
    with client_at(defaults, "127.0.0.23") as client:
        registered = client.post("/api/v1/auth/register", json={"email": email, "password": "correct-horse"})
        assert registered.status_code == 201, registered.text
        assert [login(client, email).status_code for _ in range(9)] == [401] * 9
        ok = login(client, email, "correct-horse")
        assert ok.status_code == 200
        assert ok.headers["RateLimit-Limit"] == "10"  # the login quota, the tightest, is the one shown
        assert [login(client, email).status_code for _ in range(10)] == [401] * 10
        assert login(client, email).status_code == 429


def test_one_address_trying_many_accounts_is_limited(defaults: Service) -> None:
    with client_at(defaults, "127.0.0.24") as client, client_at(defaults, "127.0.0.25") as other:
        statuses = [login(client, f"guess-{i}@example.com").status_code for i in range(30)]
        assert statuses == [401] * 30
        refused = login(client, "guess-30@example.com")
        assert refused.status_code == 429
        assert "address" in refused.json()["detail"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert login(other, "guess-30@example.com").status_code == 401  # control: another address


def test_limited_answers_carry_ratelimit_fields_that_count_down(defaults: Service) -> None:
    with httpx.Client(base_url=defaults.base_url, timeout=10) as admin_client, client_at(defaults, "127.0.0.26") as c:
        show = create_show(admin_client)
        answers = [c.get("/api/v1/movies") for _ in range(3)]
        answers += [c.get(f"/api/v1/shows/{show.show_id}/seats") for _ in range(3)]  # cached maps among them
        assert [a.status_code for a in answers] == [200] * 6
        assert [a.headers["RateLimit-Remaining"] for a in answers] == [str(599 - i) for i in range(6)]
        for a in answers:
            assert a.headers["RateLimit-Limit"] == "600"
            assert a.headers["RateLimit-Policy"] == "600;w=60"
            assert 0 <= int(a.headers["RateLimit-Reset"]) <= 60
            assert "Retry-After" not in a.headers
        assert "RateLimit-Limit" not in c.get("/livez").headers  # probes are not limited routes


def test_probes_are_never_limited(defaults: Service) -> None:
    """Exhaust the general limit from one address; /livez, /readyz and /healthz still answer 200, and the
    address is still refused right after them (so they were asked while it was spent)."""
    with client_at(defaults, "127.0.0.27") as client:
        for _ in range(600):
            if client.get("/api/v1/no-such-route").status_code == 429:
                break
        assert client.get("/api/v1/movies").status_code == 429
        for probe in ("/livez", "/readyz", "/healthz"):
            assert client.get(probe).status_code == 200, probe
        assert client.get("/api/v1/movies").status_code == 429


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
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.headers["RateLimit-Limit"] == "3"  # 60 a minute over 3 s windows
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
