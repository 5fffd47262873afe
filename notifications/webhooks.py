"""Webhooks: the URLs admins register (``notification_webhooks``) and the signed POST that delivers to one.

Each webhook gets a random Standard Webhooks secret at registration, returned to the admin once and kept
only encrypted (``secret_ciphertext``, sealed by ``notifications.secret_box``). Every delivery is a JSON POST
signed with it (``notifications.signing``: ``webhook-id``, the outbox id, for the receiver's dedupe;
``webhook-timestamp``; ``webhook-signature``) that names the event (``X-Seatwise-Event``). A 2xx answer is
success; anything else, a timeout, a connection error or a secret no configured key opens is a failed
attempt. Redirects are not followed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import uuid4

import httpx
from sqlalchemy import text

from notifications.events import ALL_KINDS, DeliveryFailed, Notification, webhook_body
from notifications.secret_box import SecretBox, UnreadableSecret
from notifications.signing import EVENT_HEADER, new_secret, signed_headers
from persistence.database import Database
from persistence.rows import from_row

USER_AGENT = "Seatwise-Webhooks/1.0"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    description: str
    created_by: str | None
    created_at: datetime
    # The plain secret, for registration's answer and for signing. None where the store did not read it (a
    # listing) or could not: ``unreadable`` then says why.
    secret: str | None = field(default=None, repr=False)
    unreadable: str | None = None

    def wants(self, kind: str) -> bool:
        return ALL_KINDS in self.events or kind in self.events


def _webhook(row: Any, secret: str | None = None, unreadable: str | None = None) -> Webhook:
    return from_row(Webhook, row, events=tuple(row.events), secret=secret, unreadable=unreadable)


@dataclass(frozen=True, slots=True)
class SealReport:
    """What ``WebhookStore.seal_secrets`` did: plain secrets encrypted, sealed ones re-encrypted under the
    first key, and sealed ones no configured key opens (left as they are)."""

    encrypted: int = 0
    reencrypted: int = 0
    unreadable: int = 0


class WebhookStore:
    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box

    def _open(self, row: Any) -> Webhook:
        if row.secret is not None:  # plain text from before encryption, until seal_secrets runs
            return _webhook(row, secret=row.secret)
        try:
            return _webhook(row, secret=self._box.open(row.secret_ciphertext))
        except UnreadableSecret:
            return _webhook(
                row,
                unreadable="its signing secret cannot be decrypted with the configured keys "
                "(BOOKING_WEBHOOK_SECRET_KEYS or the data directory's webhook-secret-keys)",
            )

    async def register(self, url: str, events: Sequence[str], description: str, created_by: str | None) -> Webhook:
        """A new webhook with a fresh secret: stored encrypted, returned in plain text this once."""
        secret = new_secret()
        async with self._db.engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO notification_webhooks "
                        "(id, url, events, secret_ciphertext, description, created_by) "
                        "VALUES (:id, :url, :events, :sealed, :description, :by) "
                        "RETURNING id, url, events, description, created_by, created_at"
                    ),
                    {
                        "id": str(uuid4()),
                        "url": url,
                        "events": sorted(set(events)),
                        "sealed": self._box.seal(secret),
                        "description": description,
                        "by": created_by,
                    },
                )
            ).one()
        return _webhook(row, secret=secret)

    async def page(self, limit: int = 100, offset: int = 0) -> list[Webhook]:
        async with self._db.engine.begin() as conn:
            rows = await conn.execute(
                text(
                    "SELECT id, url, events, description, created_by, created_at FROM notification_webhooks "
                    "ORDER BY created_at, id LIMIT :l OFFSET :o"
                ),
                {"l": limit, "o": offset},
            )
            return [_webhook(r) for r in rows]

    async def delete(self, webhook_id: str) -> bool:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                text("DELETE FROM notification_webhooks WHERE id = :id RETURNING id"), {"id": webhook_id}
            )
            return result.first() is not None

    async def matching(self, kind: str) -> list[Webhook]:
        async with self._db.engine.begin() as conn:
            rows = await conn.execute(
                text(
                    "SELECT id, url, events, description, created_by, created_at, secret, secret_ciphertext "
                    "FROM notification_webhooks "
                    "WHERE :all = ANY(events) OR :kind = ANY(events) ORDER BY id"
                ),
                {"all": ALL_KINDS, "kind": kind},
            )
            return [self._open(r) for r in rows]

    async def seal_secrets(self) -> SealReport:
        """Encrypt plain-text secrets (left from before encryption at rest) and clear them; re-encrypt under
        the first key what an older key sealed. Run at start-up; safe to run in several processes at once
        (each row changes only if it still holds what was read)."""
        encrypted = reencrypted = unreadable = 0
        async with self._db.engine.begin() as conn:
            rows = (await conn.execute(text("SELECT id, secret, secret_ciphertext FROM notification_webhooks"))).all()
        for row in rows:
            if row.secret is not None:
                statement = (
                    "UPDATE notification_webhooks SET secret_ciphertext = :new, secret = NULL "
                    "WHERE id = :id AND secret = :old"
                )
                new, old = self._box.seal(row.secret), row.secret
            elif self._box.is_current(row.secret_ciphertext):
                continue
            else:
                try:
                    new, old = self._box.reseal(row.secret_ciphertext), row.secret_ciphertext
                except UnreadableSecret:
                    unreadable += 1
                    continue
                statement = (
                    "UPDATE notification_webhooks SET secret_ciphertext = :new "
                    "WHERE id = :id AND secret_ciphertext = :old"
                )
            async with self._db.engine.begin() as conn:
                changed = (await conn.execute(text(statement), {"id": row.id, "new": new, "old": old})).rowcount
            if changed and row.secret is not None:
                encrypted += 1
            elif changed:
                reencrypted += 1
        return SealReport(encrypted, reencrypted, unreadable)


class WebhookSender:
    def __init__(self, timeout_seconds: float, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    async def send(self, hook: Webhook, notification: Notification) -> None:
        if hook.secret is None:
            raise DeliveryFailed(hook.unreadable or "the webhook's signing secret was not read")
        body = webhook_body(notification)
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: notification.kind,
            **signed_headers(hook.secret, str(notification.outbox_id), int(time.time()), body),
        }
        try:
            response = await self._client.post(hook.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"request failed ({type(exc).__name__})") from exc
        if not response.is_success:
            raise DeliveryFailed(f"answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()
