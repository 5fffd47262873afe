"""Webhook signatures per the Standard Webhooks specification (https://www.standardwebhooks.com), made by
its maintained library ``standardwebhooks``, so that a receiver verifies them with stock code in any
language (``Webhook(secret).verify(body, headers)`` in Python).

Every delivery carries ``webhook-id`` (the delivery id: the outbox row's id, the same on every retry of that
event, for the receiver's dedupe), ``webhook-timestamp`` (unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``), keyed with the bytes of the webhook's
``whsec_<base64>`` secret. ``X-Seatwise-Event`` names the event kind, for routing without parsing the body.

Webhooks registered before this scheme hold secrets of another form (``whsec_`` and a URL-safe token, not
base64) and their receivers check ``X-Seatwise-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">``
keyed with the secret's characters, and dedupe on ``X-Seatwise-Delivery``. Deliveries to them keep carrying
both, so nothing those receivers read disappears; they also get the standard headers whenever the library
accepts the old secret (about three in four: it reads it as base64 after dropping ``-`` and ``_``), signed
with the very bytes the library derives on the receiver's side. Registering the URL again gives a standard
secret. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
EVENT_HEADER = "X-Seatwise-Event"
# Sent only to webhooks with a secret of the old form (see the module docstring); e-mails use the delivery
# header too (``notifications.mail``).
DELIVERY_HEADER = "X-Seatwise-Delivery"
LEGACY_SIGNATURE_HEADER = "X-Seatwise-Signature"

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def is_standard_secret(secret: str) -> bool:
    """True for ``whsec_`` followed by strict base64 of 24 to 64 bytes (what ``new_secret`` makes)."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        return False
    return 24 <= len(key) <= 64


def _standard_signer(secret: str) -> Webhook | None:
    """The library's signer for ``secret``, or None if the library refuses it (an old secret it cannot
    read as base64), in which case no receiver could verify a standard signature with it either."""
    try:
        return Webhook(secret)
    except (binascii.Error, EmptyWebhookSecretError):
        return None


def legacy_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The pre-standard ``X-Seatwise-Signature`` value, for receivers of webhooks with old secrets."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signed_headers(secret: str, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The signature headers of one delivery of ``body`` (UTF-8 JSON), sent at ``timestamp`` (unix s)."""
    headers = {ID_HEADER: delivery_id, TIMESTAMP_HEADER: str(timestamp)}
    signer = _standard_signer(secret)
    if signer is not None:
        headers[SIGNATURE_HEADER] = signer.sign(delivery_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    if not is_standard_secret(secret):
        headers[DELIVERY_HEADER] = delivery_id
        headers[LEGACY_SIGNATURE_HEADER] = legacy_signature(secret, timestamp, body)
    return headers
