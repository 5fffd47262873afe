"""Webhooks: the URLs admins register (``notification_webhooks``) and the signed POST that delivers to one.

Each webhook gets a random secret at registration, returned to the admin once; every delivery is a JSON
POST signed with it (see ``notifications.signing``) and names the event (``X-Seatwise-Event``) and the
outbox id (``X-Seatwise-Delivery``, for the receiver's own dedupe). A 2xx answer is success; anything else,
a timeout or a connection error is a failed attempt. Redirects are not followed.
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
from notifications.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, new_secret, signature_header
from persistence.catalog import Database

USER_AGENT = "Seatwise-Webhooks/1.0"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    description: str
    created_by: str | None
    created_at: datetime
    secret: str = field(repr=False)

    def wants(self, kind: str) -> bool:
        return ALL_KINDS in self.events or kind in self.events


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        events=tuple(row.events),
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
        secret=row.secret,
    )


class WebhookStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def register(self, url: str, events: Sequence[str], description: str, created_by: str | None) -> Webhook:
        async with self._db.engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO notification_webhooks (id, url, events, secret, description, created_by) "
                        "VALUES (:id, :url, :events, :secret, :description, :by) "
                        "RETURNING id, url, events, description, created_by, created_at, secret"
                    ),
                    {
                        "id": str(uuid4()),
                        "url": url,
                        "events": sorted(set(events)),
                        "secret": new_secret(),
                        "description": description,
                        "by": created_by,
                    },
                )
            ).one()
        return _webhook(row)

    async def page(self, limit: int = 100, offset: int = 0) -> list[Webhook]:
        async with self._db.engine.begin() as conn:
            rows = await conn.execute(
                text(
                    "SELECT id, url, events, description, created_by, created_at, secret FROM notification_webhooks "
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
                    "SELECT id, url, events, description, created_by, created_at, secret FROM notification_webhooks "
                    "WHERE :all = ANY(events) OR :kind = ANY(events) ORDER BY id"
                ),
                {"all": ALL_KINDS, "kind": kind},
            )
            return [_webhook(r) for r in rows]


class WebhookSender:
    def __init__(self, timeout_seconds: float, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    async def send(self, hook: Webhook, notification: Notification) -> None:
        body = webhook_body(notification)
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: notification.kind,
            DELIVERY_HEADER: str(notification.outbox_id),
            SIGNATURE_HEADER: signature_header(hook.secret, int(time.time()), body),
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
