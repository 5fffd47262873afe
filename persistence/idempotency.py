"""Idempotency keys: the first answer to a request, per account and ``Idempotency-Key``.

A request first claims its key (a row with no answer yet). A replay of a finished request gets the stored
answer; a replay while the first is still running is told so (the caller answers 409); the same key with
another body is refused (422). Successful bookings store their answer in the actor's booking transaction
(``persistence.show_store``); every other final answer is stored here by the API.

A key lives ``ttl`` (``BOOKING_IDEMPOTENCY_KEY_TTL_HOURS``, 24 h by default) from its first request. Past
that it is treated as absent whether or not the pruning job (``persistence.retention``) has deleted it yet:
the same key then starts a new request, whatever the old one was. One exception keeps payments whole: a
key whose payment (``payments.request_key``) is still pending lives on until the payment settles, because
the reconciler stores the booking as that key's answer. Even without it a retry would be safe: the show
actor resumes the pending payment, which the gateway charges under the payment's own key, never twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

# A claim older than this whose request never finished (its process died) may be taken over.
ABANDONED_AFTER_SECONDS = 120
# How long a key is remembered unless the caller says otherwise (the setting's default).
DEFAULT_TTL = timedelta(hours=24)
# Whether a key is past its lifetime: the SQL the lookup and the pruning job share, over ``idempotency_keys
# k`` with the lifetime in seconds as ``:ttl``. A key whose payment is still pending is not.
EXPIRED = (
    "k.created_at < now() - make_interval(secs => :ttl) AND NOT EXISTS ("
    "SELECT 1 FROM payments p WHERE p.status = 'pending' AND p.user_id = k.user_id AND p.request_key = k.key)"
)


def request_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request owns the key; go ahead."""


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InProgress:
    """The first request with this key has not finished yet."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used before with a different request body."""


ClaimResult = Claimed | Replay | InProgress | Mismatch


async def claim(
    session: AsyncSession, user_id: str, key: str, fingerprint: str, ttl: timedelta = DEFAULT_TTL
) -> ClaimResult:
    """Claim ``key`` for this request, or say why not. A key past ``ttl`` is claimed afresh."""
    for _ in range(3):  # the row can vanish between the two statements (pruned, or forgotten by its request)
        inserted = (
            await session.execute(
                text(
                    "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES (:u, :k, :h) "
                    "ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
                ),
                {"u": user_id, "k": key, "h": fingerprint},
            )
        ).first()
        if inserted is not None:
            return Claimed()
        row = (
            await session.execute(
                text(
                    "SELECT request_hash, status_code, response, "  # noqa: S608
                    "k.created_at < now() - make_interval(secs => :abandoned) AS abandoned, "
                    f"{EXPIRED} AS expired "
                    "FROM idempotency_keys k WHERE user_id = :u AND key = :k FOR UPDATE OF k"
                ),
                {"u": user_id, "k": key, "abandoned": ABANDONED_AFTER_SECONDS, "ttl": ttl.total_seconds()},
            )
        ).first()
        if row is not None:
            break
    else:
        return InProgress()  # something keeps taking the key as we look: the caller answers 409, retry later
    if row.expired:
        # Past its lifetime: as if it had never been used, whatever request it was first used for.
        await session.execute(
            text(
                "UPDATE idempotency_keys SET request_hash = :h, status_code = NULL, response = NULL, "
                "created_at = now() WHERE user_id = :u AND key = :k"
            ),
            {"u": user_id, "k": key, "h": fingerprint},
        )
        return Claimed()
    if row.request_hash != fingerprint:
        return Mismatch()
    if row.status_code is not None:
        return Replay(row.status_code, row.response)
    if row.abandoned:
        await session.execute(
            text("UPDATE idempotency_keys SET created_at = now() WHERE user_id = :u AND key = :k"),
            {"u": user_id, "k": key},
        )
        return Claimed()
    return InProgress()


async def finish(session: AsyncSession, user_id: str, key: str, status_code: int, response: dict[str, Any]) -> None:
    await session.execute(
        text(
            "UPDATE idempotency_keys SET status_code = :c, response = CAST(:r AS json) "
            "WHERE user_id = :u AND key = :k AND status_code IS NULL"
        ),
        {"u": user_id, "k": key, "c": status_code, "r": json.dumps(response)},
    )


async def forget(session: AsyncSession, user_id: str, key: str) -> None:
    """Release a claim whose request failed without effect (e.g. 503), so a retry may run again."""
    await session.execute(
        text("DELETE FROM idempotency_keys WHERE user_id = :u AND key = :k AND status_code IS NULL"),
        {"u": user_id, "k": key},
    )
