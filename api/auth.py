"""Accounts and tokens: password hashing (argon2 via pwdlib), signed access tokens (JWT via PyJWT), and
the FastAPI dependencies that turn a request's token into the calling account.

Two token carriers are accepted, as the contract pins: ``Authorization: Bearer <token>`` everywhere, and
the seed API's bare ``AuthorizationToken: <token>`` header. The event streams, which browsers open with
``EventSource`` (it cannot set headers), also take the token as ``?access_token=`` (``StreamToken``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from cachetools import TLRUCache
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pwdlib import PasswordHash

from api.problems import ApiProblem

_hasher = PasswordHash.recommended()
# Verified tokens remembered per process: least recently used first out when full (~300 bytes each).
VERIFIED_CACHE_SIZE = 100_000
bearer_credentials = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>` from /api/v1/auth/token")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher.verify(password, password_hash)
    except Exception:
        return False


async def hash_password_off_loop(password: str) -> str:
    """Argon2 is deliberately slow: keep it off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_off_loop(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(verify_password, password, password_hash)


# A hash to verify against when the e-mail is unknown, so both failures take the same time.
DUMMY_HASH = hash_password("not-a-real-password")


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _token_expiry(_token: str, entry: tuple[Caller, float], _now: float) -> float:
    """A cached verification lives exactly as long as its token (the ``exp`` claim)."""
    return entry[1]


class TokenService:
    def __init__(self, secret: str, ttl_seconds: int, cache_size: int = VERIFIED_CACHE_SIZE) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        # Bounded: at capacity the least recently used token is dropped, not the whole cache; an entry
        # expires with its token (the timer is wall-clock time, as ``exp`` is).
        self._verified: TLRUCache[str, tuple[Caller, float]] = TLRUCache(
            maxsize=cache_size, ttu=_token_expiry, timer=time.time
        )

    def issue(self, user_id: str, role: str) -> str:
        now = datetime.now(UTC)
        claims = {"sub": user_id, "role": role, "iat": now, "exp": now + timedelta(seconds=self.ttl_seconds)}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Caller:
        """Check signature and expiry. Verified tokens are remembered until they expire (a bounded LRU
        cache), so a client's repeated requests cost a lookup, not an HMAC and a JSON parse."""
        cached = self._verified.get(token)
        if cached is not None:
            return cached[0]
        caller, expires_at = self._decode(token)
        self._verified[token] = (caller, expires_at)
        return caller

    def _decode(self, token: str) -> tuple[Caller, float]:
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("the token has expired; ask /api/v1/auth/token for a new one") from exc
        except jwt.PyJWTError as exc:
            raise unauthorized("the token is not valid") from exc
        return Caller(user_id=str(claims["sub"]), role=str(claims.get("role", "customer"))), float(claims["exp"])


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, "unauthorized", headers={"WWW-Authenticate": "Bearer"})


StreamToken = Annotated[
    str | None, Query(max_length=4096, description="the token, for EventSource (it cannot set headers)")
]


def bearer_token(request: Request) -> str | None:
    """The token of the request's ``Authorization: Bearer <token>`` header, if it has one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value if scheme.lower() == "bearer" and value else None


def _tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


async def bearer_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_credentials)]
) -> Caller:
    if credentials is None:
        raise unauthorized("send `Authorization: Bearer <token>`")
    return _tokens(request).verify(credentials.credentials)


async def seed_caller(request: Request) -> Caller:
    """The seed (v0) API's token header, falling back to a Bearer token."""
    token = request.headers.get("AuthorizationToken") or bearer_token(request)
    if not token:
        raise unauthorized("send the `AuthorizationToken: <token>` header")
    return _tokens(request).verify(token.strip())


async def admin_caller(caller: Annotated[Caller, Depends(bearer_caller)]) -> Caller:
    if not caller.is_admin:
        raise ApiProblem(403, "this needs an admin account", "forbidden")
    return caller


async def box_office_caller(caller: Annotated[Caller, Depends(bearer_caller)]) -> Caller:
    if caller.role not in ("box_office", "admin"):
        raise ApiProblem(403, "this needs a box-office account", "forbidden")
    return caller


CurrentCaller = Annotated[Caller, Depends(bearer_caller)]
BoxOfficeCaller = Annotated[Caller, Depends(box_office_caller)]


async def gate_caller(caller: Annotated[Caller, Depends(bearer_caller)]) -> Caller:
    if caller.role not in ("gate", "admin"):
        raise ApiProblem(403, "this needs a gate or admin account", "forbidden")
    return caller


GateCaller = Annotated[Caller, Depends(gate_caller)]
SeedCaller = Annotated[Caller, Depends(seed_caller)]
AdminCaller = Annotated[Caller, Depends(admin_caller)]
