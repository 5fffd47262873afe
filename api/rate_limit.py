"""Request rate limits per client IP and per account (``BOOKING_RATE_LIMIT_PER_MINUTE``; 0 turns them off).

Counting is the ``limits`` library's sliding-window counter kept in Redis, so every API process shares
the budget. Redis only holds what may be lost: when it is unreachable the limiter falls back to an
in-process counter (limits stay on, per process) rather than refusing or waving everything through.
"""

from __future__ import annotations

import contextlib
import logging
import time

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import TokenService
from api.problems import problem

log = logging.getLogger("booking.rate_limit")

EXEMPT_PATHS = ("/healthz", "/docs", "/openapi.json", "/redoc", "/static-offline-docs")


class RateLimiter:
    def __init__(
        self, per_minute: int, redis_url: str, prefix: str, tokens: TokenService, window_seconds: int = 60
    ) -> None:
        self.enabled = per_minute > 0
        self._item = RateLimitItemPerSecond(max(1, round(per_minute * window_seconds / 60)), window_seconds)
        self._per_minute = per_minute
        self._window = window_seconds
        self._tokens = tokens
        self._shared = SlidingWindowCounterRateLimiter(
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

    async def _hit(self, identity: str) -> bool:
        if time.monotonic() >= self._shared_down_until:
            try:
                return await self._shared.hit(self._item, identity)
            except Exception as exc:
                log.warning("rate limiter falls back to per-process counting: %r", exc)
                self._shared_down_until = time.monotonic() + 5
        return await self._local.hit(self._item, identity)

    async def _retry_after(self, identity: str) -> int:
        """Seconds until the window admits this identity again (the whole window if unknown)."""
        try:
            stats = await self._shared.get_window_stats(self._item, identity)
            return max(1, int(stats.reset_time - time.time() + 0.999))
        except Exception:
            return self._window

    async def check(self, request: Request) -> JSONResponse | None:
        if not self.enabled or request.url.path.startswith(EXEMPT_PATHS):
            return None
        for identity in self._identities(request):
            if not await self._hit(identity):
                kind = "IP address" if identity.startswith("ip:") else "account"
                return problem(
                    429,
                    f"more than {self._per_minute} requests a minute from this {kind}; slow down",
                    "rate-limited",
                    {"Retry-After": str(await self._retry_after(identity))},
                )
        return None


class RateLimitMiddleware:
    """Pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await self.limiter.check(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
