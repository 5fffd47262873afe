"""Ticket codes: what a QR code on a ticket carries, and how a door tells a real one from a copy.

A code is a JWT (RFC 7519) signed with Ed25519 (``alg`` EdDSA, RFC 8037), the signing key named in its
header's ``kid``. Its claims use short names so the QR code stays small:

====  ==========================================================
b     the booking id
s     the show id
st    the seats (or standing places), as a list
h     the holder's name, for the door to read out
k     ``s`` static (printed: the token alone is the code) or ``r`` rotating (the phone's ticket page)
iat   when it was signed (seconds since the epoch)
====  ==========================================================

A rotating token is not a code by itself: the page appends ``~`` and a 6-digit TOTP (RFC 6238, SHA-1,
15-second steps) of a per-booking secret derived from the service's master secret, so the code on the
screen changes every 15 s and a screenshot of it verifies for one more step at most. A static token is the
whole code (the box office prints it). PyJWT (with ``cryptography``) signs and verifies, pyotp makes and
checks the time-based codes; nothing here hand-rolls either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jwt
import pyotp

from tickets.keys import KeyRing

Kind = Literal["static", "rotating"]
Reason = Literal["malformed", "unknown_key", "bad_signature", "other_show", "code_required", "expired_code"]

TOTP_PERIOD_SECONDS = 15
TOTP_DIGITS = 6
TOTP_WINDOW_STEPS = 1  # a code is good in its own step and one step either side
SEPARATOR = "~"
MAX_CODE_LENGTH = 4096  # far above any ticket's code; longer input is not parsed at all
ALGORITHM = "EdDSA"

_KIND_CLAIM: dict[Kind, str] = {"static": "s", "rotating": "r"}
_KIND_OF_CLAIM: dict[str, Kind] = {v: k for k, v in _KIND_CLAIM.items()}
_REQUIRED = ["b", "s", "st", "h", "k", "iat"]


@dataclass(frozen=True, slots=True)
class TicketClaims:
    """What a ticket names: the booking, its show, its seats, its holder, and which kind of code it is."""

    booking_id: str
    show_id: str
    seats: tuple[str, ...]
    holder: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class Invalid:
    """Not a code this service signed for this show, or one whose moment has passed: ``reason`` says which.

    ``malformed`` (not a ticket code at all), ``unknown_key`` (signed with no key this service has, or with
    a retired one), ``bad_signature`` (forged or altered), ``other_show``, ``code_required`` (a phone's
    rotating token without its time-based part: a copy of the page's data, not of the screen) and
    ``expired_code`` (a time-based part outside its window: a screenshot)."""

    reason: Reason


def sign(ring: KeyRing, claims: TicketClaims, issued_at: datetime) -> str:
    """The signed token for ``claims``, with the ring's signing key."""
    payload: dict[str, Any] = {
        "b": claims.booking_id,
        "s": claims.show_id,
        "st": list(claims.seats),
        "h": claims.holder,
        "k": _KIND_CLAIM[claims.kind],
        "iat": int(issued_at.timestamp()),
    }
    # ``typ`` left out (it would say "JWT" in every code): the header is just the algorithm and the key.
    return jwt.encode(payload, ring.signing_key, algorithm=ALGORITHM, headers={"kid": ring.signing_kid, "typ": None})


def rotating_secret(master: str, booking_id: str) -> str:
    """The booking's TOTP secret (base32, 160 bits): HMAC-SHA256 of its id under the master secret, so any
    process that knows the master can check a booking's code without storing a secret per booking."""
    digest = hmac.new(master.encode(), booking_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS)


def rotating_code(token: str, secret: str, at: datetime) -> str:
    """What the ticket page shows at ``at``: the rotating token, ``~``, and the TOTP of the moment."""
    return f"{token}{SEPARATOR}{_totp(secret).at(at)}"


def _claims(payload: dict[str, Any]) -> TicketClaims | None:
    booking, show, seats, holder, kind = (payload.get(k) for k in ("b", "s", "st", "h", "k"))
    if not (isinstance(booking, str) and isinstance(show, str) and isinstance(holder, str)):
        return None
    if not isinstance(seats, list) or not all(isinstance(s, str) for s in seats):
        return None
    if not isinstance(kind, str) or kind not in _KIND_OF_CLAIM:
        return None
    return TicketClaims(booking, show, tuple(seats), holder, _KIND_OF_CLAIM[kind])


def verify(code: str, show_id: str, ring: KeyRing, master: str, now: datetime) -> TicketClaims | Invalid:
    """The ticket ``code`` names, if it is a genuine code for ``show_id`` at ``now``; otherwise why not."""
    code = code.strip()
    if len(code) > MAX_CODE_LENGTH:
        return Invalid("malformed")
    token, separator, otp = code.partition(SEPARATOR)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return Invalid("malformed")
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or not isinstance(kid, str):
        return Invalid("malformed")
    key = ring.key_for(kid, now)
    if key is None:
        return Invalid("unknown_key")
    try:
        # ``iat`` is checked against ``now`` by nobody: a ticket does not expire by age, only its key does.
        payload = jwt.decode(token, key, algorithms=[ALGORITHM], options={"verify_iat": False, "require": _REQUIRED})
    except jwt.InvalidSignatureError:
        return Invalid("bad_signature")
    except jwt.PyJWTError:
        return Invalid("malformed")
    claims = _claims(payload)
    if claims is None:
        return Invalid("malformed")
    if claims.show_id != show_id:
        return Invalid("other_show")
    if claims.kind == "static":
        return Invalid("malformed") if separator else claims
    if not separator:
        return Invalid("code_required")
    if len(otp) != TOTP_DIGITS or not otp.isdigit():
        return Invalid("malformed")
    if not _totp(rotating_secret(master, claims.booking_id)).verify(otp, for_time=now, valid_window=TOTP_WINDOW_STEPS):
        return Invalid("expired_code")
    return claims
