"""The rate limiter's numbers and the login limits, against a real Redis (``REDIS_URL``, or an embedded
one): the one-round-trip hit agrees with the ``limits`` library's own window stats, the login budgets
trip per account and per address, a correct password clears the account's count, probes are exempt."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Request
from limits import RateLimitItemPerSecond

from api.auth import TokenService
from api.problems import ApiProblem
from api.rate_limit import STATE_KEY, Quota, RateLimiter
from harness.backing import provision_redis


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, stop = provision_redis(Path(tmp_path_factory.mktemp("rate-limit")))
    yield url
    stop()


def limiter(redis_url: str, per_minute: int = 600, **login: int) -> RateLimiter:
    tokens = TokenService("unit-test-secret-of-thirty-two-bytes!", 3600)
    return RateLimiter(per_minute, redis_url, f"unit-{secrets.token_hex(4)}:", tokens, **login)


def request(path: str = "/api/v1/movies", address: str = "10.0.0.1") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "headers": [], "client": (address, 4321)})


async def test_one_round_trip_hit_reports_what_the_library_reports(redis_url: str) -> None:
    rl = limiter(redis_url)
    item = RateLimitItemPerSecond(5, 60)
    shared = rl._shared
    seen = []
    for _ in range(6):
        quota = await shared.hit(item, "someone")
        stats = await shared.limiter.get_window_stats(item, "someone")
        assert quota.remaining == stats.remaining
        assert 0 <= quota.reset_seconds <= 60
        seen.append((quota.allowed, quota.remaining))
    assert seen == [(True, 4), (True, 3), (True, 2), (True, 1), (True, 0), (False, 0)]
    assert not await shared.limiter.test(item, "someone")  # the library agrees the budget is spent


async def test_identities_hit_in_one_round_trip_keep_budgets_of_their_own(redis_url: str) -> None:
    shared = limiter(redis_url)._shared
    item = RateLimitItemPerSecond(3, 60)
    together = [await shared.hit_all(item, ["ip:x", "user:y"]) for _ in range(2)]
    assert [[(q.allowed, q.remaining) for q in pair] for pair in together] == [[(True, 2), (True, 2)], [(True, 1)] * 2]
    alone = [await shared.hit_all(item, ["ip:x"]) for _ in range(2)]
    assert [(q.allowed, q.remaining) for [q] in alone] == [(True, 0), (False, 0)]
    for identity, remaining in (("ip:x", 0), ("user:y", 1)):  # the library reads the same counts
        assert (await shared.limiter.get_window_stats(item, identity)).remaining == remaining


async def test_the_quota_fields_and_retry_after_only_on_a_refusal() -> None:
    ok = Quota(allowed=True, limit=600, remaining=599, reset_seconds=60, window_seconds=60).header_dict()
    assert ok == {
        "ratelimit-limit": "600",
        "ratelimit-remaining": "599",
        "ratelimit-reset": "60",
        "ratelimit-policy": "600;w=60",
    }
    refused = Quota(allowed=False, limit=10, remaining=0, reset_seconds=0, window_seconds=900).header_dict()
    assert refused["retry-after"] == "1"  # never 0: a client would retry at once


async def test_probes_are_never_limited(redis_url: str) -> None:
    rl = limiter(redis_url, per_minute=2)
    refusals = [(await rl.check(request()))[0] for _ in range(3)]
    assert refusals[-1] is not None
    assert refusals[-1].status_code == 429
    for path in ("/livez", "/readyz", "/healthz"):
        assert await rl.check(request(path)) == (None, None)
    assert (await rl.check(request()))[0] is not None  # and still spent


async def test_login_attempts_per_account_trip_and_a_correct_password_clears_them(redis_url: str) -> None:
    rl = limiter(redis_url, login_per_account=3, login_per_address=100)
    for _ in range(3):
        await rl.check_login(request(address="10.0.0.2"), "Asha@Example.com")
    with pytest.raises(ApiProblem) as refused:
        await rl.check_login(request(address="10.0.0.3"), " asha@example.com")  # same account, any address
    assert refused.value.status == 429
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 900
    await rl.check_login(request(address="10.0.0.3"), "other@example.com")  # control: another account
    await rl.login_succeeded("asha@example.com")
    first = request(address="10.0.0.2")
    await rl.check_login(first, "asha@example.com")
    quota = first.scope["state"][STATE_KEY]  # where the middleware finds it for the answer's fields
    assert isinstance(quota, Quota)
    assert (quota.limit, quota.remaining) == (3, 2)


async def test_login_attempts_per_address_count_every_account(redis_url: str) -> None:
    rl = limiter(redis_url, login_per_account=100, login_per_address=4)
    for i in range(4):
        await rl.check_login(request(address="10.0.0.4"), f"user-{i}@example.com")
        await rl.login_succeeded(f"user-{i}@example.com")  # successes count against the address
    with pytest.raises(ApiProblem) as refused:
        await rl.check_login(request(address="10.0.0.4"), "user-9@example.com")
    assert refused.value.status == 429
    assert "address" in refused.value.detail
    await rl.check_login(request(address="10.0.0.5"), "user-9@example.com")  # control: another address


async def test_general_limit_off_turns_the_login_limits_off(redis_url: str) -> None:
    rl = limiter(redis_url, per_minute=0, login_per_account=1, login_per_address=1)
    for _ in range(3):
        await rl.check_login(request(address="10.0.0.6"), "asha@example.com")


async def test_with_redis_down_the_limits_hold_per_process(redis_url: str) -> None:
    tokens = TokenService("unit-test-secret-of-thirty-two-bytes!", 3600)
    rl = RateLimiter(2, "redis://127.0.0.1:1/0", "unit-down:", tokens, login_per_account=2, login_per_address=10)
    results = [(await rl.check(request()))[1] for _ in range(2)]
    assert [q.remaining for q in results if q is not None] == [1, 0]
    assert (await rl.check(request()))[0] is not None
    for _ in range(2):
        await rl.check_login(request(address="10.0.0.7"), "asha@example.com")
    with pytest.raises(ApiProblem):
        await rl.check_login(request(address="10.0.0.7"), "asha@example.com")
