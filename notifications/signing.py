"""Webhook signatures: HMAC-SHA256 over ``f"{timestamp}.{body}"`` with the webhook's secret.

Sent as ``X-Seatwise-Signature: t=<unix seconds>,v1=<hex digest>``. A receiver recomputes the digest
over the raw body it got, compares in constant time, and refuses timestamps too far from its clock (a
replayed old request). ``verify`` is the receiver's side, used by the tests and offered to integrators.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Seatwise-Signature"
EVENT_HEADER = "X-Seatwise-Event"
DELIVERY_HEADER = "X-Seatwise-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300.0


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and its timestamp is within the tolerance."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
