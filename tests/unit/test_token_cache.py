"""The verified-token cache (api/auth.py): bounded, least recently used out first, never past a token's
expiry."""

from __future__ import annotations

import time

import jwt
import pytest

from api.auth import Caller, TokenService
from api.problems import ApiProblem


class CountingTokens(TokenService):
    """Counts the signature checks, i.e. the verifications the cache did not answer."""

    def __init__(self, ttl_seconds: int, cache_size: int) -> None:
        super().__init__("unit-test-secret-of-thirty-two-bytes!", ttl_seconds, cache_size=cache_size)
        self.decoded: list[str] = []

    def _decode(self, token: str) -> tuple[Caller, float]:
        self.decoded.append(token)
        return super()._decode(token)


def test_at_capacity_the_least_recently_used_token_goes_and_the_others_stay() -> None:
    tokens = CountingTokens(ttl_seconds=3600, cache_size=3)
    t1, t2, t3, t4 = (tokens.issue(f"u-{i}", "customer") for i in range(1, 5))
    for t in (t1, t2, t3):
        tokens.verify(t)
    assert tokens.verify(t1) == Caller("u-1", "customer")  # t1 used again: t2 is now the least recent
    tokens.verify(t4)  # the cache is full: one entry makes room
    tokens.decoded.clear()
    for t in (t1, t3, t4):
        tokens.verify(t)
    assert tokens.decoded == []  # still cached (a cache emptied at capacity decodes all three again)
    assert tokens.verify(t2) == Caller("u-2", "customer")
    assert tokens.decoded == [t2]  # only the least recently used one was dropped


def test_an_expired_token_is_not_served_from_the_cache() -> None:
    tokens = CountingTokens(ttl_seconds=1, cache_size=10)
    token = tokens.issue("u-1", "customer")
    assert tokens.verify(token) == Caller("u-1", "customer")
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    while time.time() <= expires_at:  # wait on the clock itself, not for a guessed while
        time.sleep(0.05)
    with pytest.raises(ApiProblem) as refused:
        tokens.verify(token)
    assert refused.value.status == 401
    assert tokens.decoded == [token, token]  # the second verification was not the cache's
