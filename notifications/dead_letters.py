"""The dead-letter stream (``{prefix}notifications:dead``): events whose delivery ran out of attempts.

A dead letter is the original stream entry plus why it failed (``reason``, and per target the attempts
and last error). The consumer writes it and acknowledges the original in one ``MULTI``, so an event is
always in exactly one of the two streams until it is done. Admins page through dead letters and replay
one: its targets that were never delivered get fresh attempts, the entry goes back to the delivery stream,
and targets that did get it are skipped by the delivery ledger. The dead letters live in Redis, but the
events do not depend on them: should Redis lose them, the relay sends the unfinished events again (see
``notifications.outbox``) and they come back here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from notifications.ledger import DeliveryLedger
from notifications.streams import StreamNames, entries

ORIGINAL_FIELDS = ("outbox_id", "kind", "user_id", "show_id", "payload", "created_at")


@dataclass(frozen=True, slots=True)
class Failure:
    target: str
    attempts: int
    error: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    outbox_id: int | None
    kind: str
    payload: dict[str, Any]
    reason: str
    failures: tuple[Failure, ...]
    failed_at: datetime | None
    source_id: str

    @classmethod
    def from_entry(cls, entry_id: str, fields: Mapping[str, str]) -> DeadLetter:
        try:
            payload = json.loads(fields.get("payload", "{}"))
        except ValueError:
            payload = {"raw": fields.get("payload", "")}
        try:
            failures = tuple(Failure(**f) for f in json.loads(fields.get("failures", "[]")))
        except (ValueError, TypeError):
            failures = ()
        outbox_id = fields.get("outbox_id", "")
        failed_at = fields.get("failed_at")
        return cls(
            id=entry_id,
            outbox_id=int(outbox_id) if outbox_id.isdigit() else None,
            kind=fields.get("kind", ""),
            payload=payload if isinstance(payload, dict) else {"value": payload},
            reason=fields.get("reason", ""),
            failures=failures,
            failed_at=datetime.fromisoformat(failed_at) if failed_at else None,
            source_id=fields.get("source_id", ""),
        )


def dead_letter_fields(
    source_id: str, original: Mapping[str, str], reason: str, failures: Sequence[Failure]
) -> dict[str, str]:
    fields = {k: original[k] for k in ORIGINAL_FIELDS if k in original}
    fields.update(
        reason=reason,
        failures=json.dumps([asdict(f) for f in failures]),
        failed_at=datetime.now(UTC).isoformat(),
        source_id=source_id,
    )
    return fields


class DeadLetters:
    def __init__(self, redis: aioredis.Redis, ledger: DeliveryLedger, names: StreamNames) -> None:
        self._redis = redis
        self._ledger = ledger
        self._names = names

    async def bury(self, source_id: str, original: Mapping[str, str], reason: str, failures: Sequence[Failure]) -> str:
        """Move a stream entry to the dead letters (and acknowledge it) atomically; returns the new id."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self._names.dead, dead_letter_fields(source_id, original, reason, failures))  # type: ignore[arg-type]
            pipe.xack(self._names.stream, self._names.group, source_id)
            pipe.xdel(self._names.stream, source_id)
            dead_id, _, _ = await pipe.execute()
        return str(dead_id)

    async def page(self, limit: int, after: str | None = None) -> tuple[list[DeadLetter], str | None]:
        """Oldest first; ``after`` is the last id of the previous page. Returns the page and the next cursor."""
        found = entries(await self._redis.xrange(self._names.dead, f"({after}" if after else "-", "+", count=limit + 1))
        letters = [DeadLetter.from_entry(entry_id, fields) for entry_id, fields in found[:limit]]
        return letters, (letters[-1].id if len(found) > limit else None)

    async def count(self) -> int:
        return int(await self._redis.xlen(self._names.dead))

    async def replay(self, dead_id: str) -> DeadLetter | None:
        """Put a dead letter back for delivery; None if there is no such dead letter."""
        found = entries(await self._redis.xrange(self._names.dead, dead_id, dead_id, count=1))
        if not found:
            return None
        entry_id, fields = found[0]
        letter = DeadLetter.from_entry(entry_id, fields)
        if letter.outbox_id is not None:
            await self._ledger.reset_attempts(letter.outbox_id)
        replayed = {k: fields[k] for k in ORIGINAL_FIELDS if k in fields}
        replayed["replay_of"] = entry_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self._names.stream, replayed)  # type: ignore[arg-type]
            pipe.xdel(self._names.dead, entry_id)
            await pipe.execute()
        return letter
