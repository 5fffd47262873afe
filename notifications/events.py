"""The notification event as it travels: outbox row → Redis Stream entry → webhook body.

Pure (no I/O). Every stream entry carries the outbox id, the idempotency key of the whole pipeline. The
kinds of event are defined with the outbox they are written to (``persistence.outbox_kinds`` says why)
and named here as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from persistence.outbox_kinds import BOOKING_CANCELLED as BOOKING_CANCELLED
from persistence.outbox_kinds import BOOKING_CONFIRMED as BOOKING_CONFIRMED
from persistence.outbox_kinds import BOOKING_REFUNDED as BOOKING_REFUNDED
from persistence.outbox_kinds import HOLD_EXPIRING as HOLD_EXPIRING
from persistence.outbox_kinds import KINDS as KINDS
from persistence.outbox_kinds import WAITLIST_OFFERED as WAITLIST_OFFERED

ALL_KINDS = "*"  # a webhook subscribed to every kind


class MalformedEntry(ValueError):
    """A stream entry that is not a notification (it goes straight to the dead letters)."""


class DeliveryFailed(Exception):
    """One attempt to deliver to one target failed; ``reason`` is safe to show an admin."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Notification:
    outbox_id: int
    kind: str
    user_id: str | None
    show_id: str | None
    payload: Mapping[str, Any]
    created_at: datetime

    def stream_fields(self) -> dict[str, str]:
        return {
            "outbox_id": str(self.outbox_id),
            "kind": self.kind,
            "user_id": self.user_id or "",
            "show_id": self.show_id or "",
            "payload": json.dumps(dict(self.payload), separators=(",", ":"), sort_keys=True, default=str),
            "created_at": self.created_at.astimezone(UTC).isoformat(),
        }

    @classmethod
    def from_stream_fields(cls, fields: Mapping[str, str]) -> Notification:
        try:
            payload = json.loads(fields["payload"])
            if not isinstance(payload, dict):
                raise MalformedEntry("payload is not a JSON object")
            created_at = datetime.fromisoformat(fields["created_at"])
            return cls(
                outbox_id=int(fields["outbox_id"]),
                kind=fields["kind"],
                user_id=fields.get("user_id") or None,
                show_id=fields.get("show_id") or None,
                payload=payload,
                created_at=created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC),
            )
        except MalformedEntry:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise MalformedEntry(f"not a notification entry: {exc!r}") from exc

    def recipient_id(self) -> str | None:
        """The account the event is about: the outbox column, else the payload's ``user_id``."""
        value = self.user_id or self.payload.get("user_id")
        return str(value) if value else None

    def is_moot(self, now: datetime) -> bool:
        """A reminder that a hold is about to expire, once it has expired, tells nobody anything."""
        if self.kind != HOLD_EXPIRING:
            return False
        try:
            expires_at = datetime.fromisoformat(str(self.payload.get("expires_at")))
        except ValueError:
            return False
        return (expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)) <= now

    def about_show(self) -> str | None:
        value = self.show_id or self.payload.get("show_id")
        return str(value) if value else None


def webhook_body(notification: Notification) -> bytes:
    """The JSON a webhook receives; the same bytes are signed, so they are rendered once per attempt."""
    document = {
        "id": notification.outbox_id,
        "type": notification.kind,
        "created_at": notification.created_at.astimezone(UTC).isoformat(),
        "data": dict(notification.payload),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()
