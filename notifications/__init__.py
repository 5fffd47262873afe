"""Notifications: booking and hold events, from the outbox table to people's inboxes and admins' webhooks.

The pipeline, each stage safe to run in every API process at once::

    show actor ─┐ (same transaction as the change)
    reminder ───┴▶ notification_outbox ──relay──▶ Redis Stream ──consumer group──▶ e-mail (SMTP / .eml)
    sweep                (PostgreSQL)        {prefix}notifications                 └▶ signed webhooks
                                                                     after the last attempt ▼
                                                                  {prefix}notifications:dead ──replay──┘

The outbox id is the idempotency key of the whole pipeline: stream entries carry it, the delivery ledger
(``notification_deliveries``) records each (event, channel, target) that succeeded, and webhook receivers
get it as ``X-Seatwise-Delivery``. Redis may lose or repeat entries in transit; PostgreSQL decides what was
delivered. ``NotificationService`` (``notifications.service``) runs the stages as asyncio tasks.
"""

from notifications.service import NotificationConfig, NotificationService

__all__ = ["NotificationConfig", "NotificationService"]
