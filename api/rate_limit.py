"""Request rate limits: per client IP and per account on every route (``BOOKING_RATE_LIMIT_PER_MINUTE``;
0 turns every limit off, the login limits included), and a much tighter budget for login attempts per
account and per address (``BOOKING_LOGIN_*``), against credential stuffing.

Counting is the ``limits`` library's sliding-window counter kept in Redis, so every API process shares
the budget. Redis only holds what may be lost: when it is unreachable (or slower than 0.5 s) the limiter
falls back to an in-process counter for 5 s (limits stay on, per process) rather than refusing or waving
everything through.

Every answer of a limited route carries the quota that is closest to running out, in the fields of
draft-ietf-httpapi-ratelimit-headers-06 (the last draft with separate fields): ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy`` (``limit;w=window``);
every 429 also carries ``Retry-After``. On the hot path a request costs one Redis round trip, numbers
included: ``limits``' own acquire script and its window-read script, for the address and for the account,
travel in one pipeline (:class:`_SlidingWindowWithStats`). Probes (``/healthz``, ``/livez``,
``/readyz``) and the docs are never limited.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis
from redis.exceptions import NoScriptError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import TokenService
from api.problems import ApiProblem, problem

log = logging.getLogger("booking.rate_limit")

# Never limited: a load balancer's probes would otherwise fail a healthy process under a crowd.
EXEMPT_PATHS = ("/healthz", "/livez", "/readyz", "/docs", "/openapi.json", "/redoc", "/static-offline-docs")
FALLBACK_SECONDS = 5.0
# Where a route's own, tighter quota (the login's) is left for the middleware's response headers.
STATE_KEY = "rate_limit_quota"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Quota:
    """One policy's numbers after a hit: what the RateLimit-* fields say."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the window admits at least one more request
    window_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        fields = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
            (b"ratelimit-policy", f"{self.limit};w={self.window_seconds}".encode()),
        ]
        if not self.allowed:
            fields.append((b"retry-after", str(max(1, self.reset_seconds)).encode()))
        return fields

    def header_dict(self) -> dict[str, str]:
        return {name.decode(): value.decode() for name, value in self.headers()}


def _quota(item: RateLimitItem, allowed: bool, remaining: int, reset_at: float, now: float) -> Quota:
    return Quota(
        allowed=allowed,
        limit=item.amount,
        remaining=max(0, remaining),
        reset_seconds=max(0, math.ceil(reset_at - now)),
        window_seconds=item.get_expiry(),
    )


class _SlidingWindowWithStats:
    """``limits``' sliding-window counter in Redis, hit and read in one round trip.

    ``SlidingWindowCounterRateLimiter.hit`` answers only yes or no; the remaining budget takes a second
    call (``get_window_stats``), a second round trip per request on the hot path. Here the library's own
    two Lua scripts (acquire, then read the window) are sent in one pipeline on the storage's own
    connection and keys, and the numbers are worked out as ``get_window_stats`` does. Only for the
    redis-py bridge; tests/unit/test_rate_limit.py checks the numbers against the library's."""

    def __init__(self, storage: RedisStorage) -> None:
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        bridge = storage.bridge
        self._bridge = bridge if isinstance(bridge, RedispyBridge) else None

    @property
    def limiter(self) -> SlidingWindowCounterRateLimiter:
        return self._limiter

    async def hit(self, item: RateLimitItem, identity: str) -> Quota:
        return (await self.hit_all(item, [identity]))[0]

    async def hit_all(self, item: RateLimitItem, identities: Sequence[str]) -> list[Quota]:
        """Hit ``item`` for each identity, all in one round trip; their quotas in the same order."""
        if self._bridge is None:  # another client library: the library's two calls per identity
            quotas = []
            for identity in identities:
                allowed = await self._limiter.hit(item, identity)
                stats = await self._limiter.get_window_stats(item, identity)
                quotas.append(_quota(item, allowed, stats.remaining, stats.reset_time, time.time()))
            return quotas
        bridge = self._bridge
        windows = []
        for identity in identities:
            key = item.key_for(identity)
            previous = bridge.prefixed_key(self._storage._previous_window_key(key))
            current = bridge.prefixed_key(self._storage._current_window_key(key))
            windows.append([previous, current])
        expiry = item.get_expiry()
        answers = await self._pipelined(bridge, windows, [item.amount, expiry, 1], [expiry])
        now = time.time()
        return [_window_quota(item, expiry, acquired, window, now) for acquired, window in answers]

    @staticmethod
    async def _pipelined(
        bridge: RedispyBridge, windows: list[list[str]], acquire_args: list[int], read_args: list[int]
    ) -> list[tuple[bool, list[Any]]]:
        """For each window's keys, acquire, then read the window; all in one round trip. A Redis that
        does not know the library's scripts yet (new, restarted or flushed) gets them loaded and the
        pipeline again."""
        acquire, read = bridge.lua_acquire_sliding_window, bridge.lua_sliding_window
        connection = cast(Redis, bridge.get_connection())  # the redis-py bridge's client
        for attempt in (1, 2):
            pipe = connection.pipeline(transaction=False)
            for keys in windows:
                pipe.evalsha(acquire.sha, len(keys), *keys, *acquire_args)
                pipe.evalsha(read.sha, len(keys), *keys, *read_args)
            try:
                replies = await pipe.execute()
            except NoScriptError:
                if attempt == 2:
                    raise
                for script in (acquire, read):
                    await connection.script_load(script.script)
                continue
            return [
                (bool(acquired), list(read_window or [0, 0, 0, 0]))
                for acquired, read_window in zip(replies[::2], replies[1::2], strict=True)
            ]
        raise AssertionError("unreachable")


def _window_quota(item: RateLimitItem, expiry: int, acquired: bool, window: list[Any], now: float) -> Quota:
    """The quota after a hit, from the window's counts and lifetimes, worked out as ``get_window_stats``."""
    previous_count, previous_ttl = int(window[0] or 0), max(0.0, float(window[1] or 0)) / 1000
    current_count, current_ttl = int(window[2] or 0), max(0.0, float(window[3] or 0)) / 1000
    weighted = previous_count * previous_ttl / expiry + current_count
    reset_in = 0.0
    if previous_count or current_count:
        reset_in = min(
            previous_ttl % (expiry / previous_count) if previous_count else math.inf,
            current_ttl % expiry if current_count else math.inf,
        )
    return _quota(item, acquired, item.amount - math.floor(weighted), now + reset_in, now)


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        redis_url: str,
        prefix: str,
        tokens: TokenService,
        window_seconds: int = 60,
        login_per_account: int = 0,
        login_account_window_seconds: int = 900,
        login_per_address: int = 0,
        login_address_window_seconds: int = 60,
    ) -> None:
        self.enabled = per_minute > 0
        self._item = RateLimitItemPerSecond(max(1, round(per_minute * window_seconds / 60)), window_seconds)
        self._per_minute = per_minute
        self._window = window_seconds
        self._tokens = tokens
        self._login_account = RateLimitItemPerSecond(max(1, login_per_account), login_account_window_seconds)
        self._login_address = RateLimitItemPerSecond(max(1, login_per_address), login_address_window_seconds)
        self._login_account_on = self.enabled and login_per_account > 0
        self._login_address_on = self.enabled and login_per_address > 0
        self._shared = _SlidingWindowWithStats(
            RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=f"{prefix}ratelimit",
                wrap_exceptions=True,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
        )
        self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._shared_down_until = 0.0

    def _identities(self, request: Request) -> list[str]:
        ids = [f"ip:{request.client.host if request.client else 'unknown'}"]
        header = request.headers.get("Authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else request.headers.get("AuthorizationToken", "")
        if token:
            # A bad token is refused later, by the route; here it only counts against the IP.
            with contextlib.suppress(Exception):
                ids.append(f"user:{self._tokens.verify(token.strip()).user_id}")
        return ids

    async def _shared_call(self, call: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]) -> T:
        """``call`` against Redis, or ``local`` (the in-process counter) while Redis is down or slow."""
        if time.monotonic() >= self._shared_down_until:
            try:
                return await call()
            except Exception as exc:
                log.warning("rate limiter falls back to per-process counting: %r", exc)
                self._shared_down_until = time.monotonic() + FALLBACK_SECONDS
        return await local()

    async def _hit(self, item: RateLimitItem, identity: str) -> Quota:
        return (await self._hit_all(item, [identity]))[0]

    async def _hit_all(self, item: RateLimitItem, identities: Sequence[str]) -> list[Quota]:
        async def local() -> list[Quota]:
            quotas = []
            for identity in identities:
                allowed = await self._local.hit(item, identity)
                stats = await self._local.get_window_stats(item, identity)  # in process: no round trip
                quotas.append(_quota(item, allowed, stats.remaining, stats.reset_time, time.time()))
            return quotas

        return await self._shared_call(lambda: self._shared.hit_all(item, identities), local)

    async def check(self, request: Request) -> tuple[JSONResponse | None, Quota | None]:
        """Count this request against its IP (and account, if it carries a token). Returns the refusal
        (429, with the RateLimit-* fields and Retry-After) or ``None``, and the quota the answer reports."""
        if not self.enabled or request.url.path.startswith(EXEMPT_PATHS):
            return None, None
        reported: Quota | None = None
        identities = self._identities(request)
        # The address and the account are counted in one round trip (a request refused for its address
        # therefore still counts against its account's budget).
        for identity, quota in zip(identities, await self._hit_all(self._item, identities), strict=True):
            if not quota.allowed:
                kind = "IP address" if identity.startswith("ip:") else "account"
                return problem(
                    429,
                    f"more than {self._per_minute} requests a minute from this {kind}; slow down",
                    "rate-limited",
                    quota.header_dict(),
                ), quota
            if reported is None or quota.remaining < reported.remaining:
                reported = quota
        return None, reported

    async def check_login(self, request: Request, username: str) -> None:
        """Count a login attempt against its address and the account it names; raise 429 past either.

        Every attempt counts when it arrives, before the password is checked, so parallel guesses cannot
        all slip through before the first failure is recorded. A successful login then clears its
        account's count (``login_succeeded``): the per-account budget is a budget of failures, so a user
        is never locked out by their own logins, and only a guesser who does not know the password runs
        it down. The per-address budget keeps successes too: one address trying many accounts is the
        stuffing pattern, and 30 a minute is far above what the people behind one address need."""
        checks: list[tuple[RateLimitItem, str, str]] = []
        if self._login_address_on:
            address = request.client.host if request.client else "unknown"
            checks.append((self._login_address, f"login-ip:{address}", "address"))
        if self._login_account_on:
            checks.append((self._login_account, _account_identity(username), "account"))
        reported: Quota | None = None
        for item, identity, kind in checks:
            quota = await self._hit(item, identity)
            if reported is None or quota.remaining < reported.remaining or not quota.allowed:
                reported = quota
            if not quota.allowed:
                request.state.rate_limit_quota = quota
                raise ApiProblem(
                    429,
                    f"too many login attempts for this {kind} ({item.amount} in {item.get_expiry()} s); "
                    f"try again in {max(1, quota.reset_seconds)} s",
                    "login-rate-limited",
                    headers={"Retry-After": str(max(1, quota.reset_seconds))},
                )
        if reported is not None:
            request.state.rate_limit_quota = reported

    async def login_succeeded(self, username: str) -> None:
        """A correct password clears the account's count of failed attempts (see ``check_login``)."""
        if not self._login_account_on:
            return
        identity = _account_identity(username)
        await self._shared_call(
            lambda: self._shared.limiter.clear(self._login_account, identity),
            lambda: self._local.clear(self._login_account, identity),
        )


def _account_identity(username: str) -> str:
    """Accounts are named by e-mail, case-insensitively; the key holds a digest, not the address."""
    return "login-account:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


class RateLimitMiddleware:
    """Pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request).

    It wraps everything inside it, the pure ASGI ``RenderedSeatMaps`` included, so those answers carry the
    RateLimit-* fields too. A route with its own, tighter quota (the login) leaves it in the request
    state; the answer then reports whichever quota has less left."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal, quota = await self.limiter.check(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if quota is None:
            await self.app(scope, receive, send)
            return
        general = quota

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                route_quota: Quota | None = scope.get("state", {}).get(STATE_KEY)
                shown = general
                if route_quota is not None and (not route_quota.allowed or route_quota.remaining <= general.remaining):
                    shown = route_quota
                headers = list(message.get("headers", []))
                if not shown.allowed:  # the route's refusal: one Retry-After, the quota's
                    headers = [(k, v) for k, v in headers if k.lower() != b"retry-after"]
                message["headers"] = [*headers, *shown.headers()]
            await send(message)

        await self.app(scope, receive, send_with_quota)
