"""Ticket codes (tickets/codes.py, tickets/keys.py): what verifies and what each kind of copy or forgery
gets back. Real Ed25519 keys and real signatures; the clock is an argument."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tickets.codes import (
    Invalid,
    TicketClaims,
    rotating_code,
    rotating_secret,
    sign,
    verify,
)
from tickets.keys import KeyRing, StoredKey, new_key

NOW = datetime(2026, 12, 8, 19, 30, 7, tzinfo=UTC)
SHOW = "5d7a2c4e-0000-4000-8000-000000000001"
OTHER_SHOW = "5d7a2c4e-0000-4000-8000-000000000002"
MASTER = "master-secret-for-tests"
STATIC = TicketClaims("b0a1-booking", SHOW, ("A1", "A2"), "Asha Rao", "static")
ROTATING = TicketClaims("b0a1-booking", SHOW, ("A1", "A2"), "Asha Rao", "rotating")


def ring_of(*keys: StoredKey, now: datetime = NOW) -> KeyRing:
    return KeyRing.of(keys, now)


@pytest.fixture(scope="module")
def k1() -> StoredKey:
    return StoredKey(*new_key(1))


@pytest.fixture(scope="module")
def ring(k1: StoredKey) -> KeyRing:
    return ring_of(k1)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_static_code_verifies_by_itself(ring: KeyRing) -> None:
    code = sign(ring, STATIC, NOW)
    assert verify(code, SHOW, ring, MASTER, NOW) == STATIC
    assert verify(f"  {code}\n", SHOW, ring, MASTER, NOW + timedelta(days=30)) == STATIC, "no age limit"
    assert jwt.get_unverified_header(code) == {"alg": "EdDSA", "kid": "k1"}


def test_a_code_signed_with_another_key_is_forged(ring: KeyRing) -> None:
    stranger = ring_of(StoredKey(*new_key(1)))  # same kid, another key: what a forger would try
    assert verify(sign(stranger, STATIC, NOW), SHOW, ring, MASTER, NOW) == Invalid("bad_signature")


def test_an_altered_code_is_refused(ring: KeyRing) -> None:
    header, payload, signature = sign(ring, STATIC, NOW).split(".")
    claims = json.loads(_unb64(payload))
    claims["st"] = ["A1", "A2", "A3"]  # one more seat, well-formed, under the original signature
    more_seats = ".".join((header, _b64(json.dumps(claims).encode()), signature))
    assert verify(more_seats, SHOW, ring, MASTER, NOW) == Invalid("bad_signature")
    for index in (len(header) + 5, len(header) + len(payload) // 2, len(header) + len(payload) + 10):
        code = sign(ring, STATIC, NOW)
        flipped = code[:index] + ("B" if code[index] != "B" else "C") + code[index + 1 :]
        verdict = verify(flipped, SHOW, ring, MASTER, NOW)
        assert isinstance(verdict, Invalid), f"a byte changed at {index} still verified"
        assert verdict.reason in ("bad_signature", "malformed")


def test_a_code_for_another_show_is_refused(ring: KeyRing) -> None:
    assert verify(sign(ring, STATIC, NOW), OTHER_SHOW, ring, MASTER, NOW) == Invalid("other_show")


def test_a_code_naming_an_unknown_key_is_refused(ring: KeyRing) -> None:
    elsewhere = ring_of(StoredKey(*new_key(7)))
    assert verify(sign(elsewhere, STATIC, NOW), SHOW, ring, MASTER, NOW) == Invalid("unknown_key")


@pytest.mark.parametrize("junk", ["", "SEATWISE:b:s:A1", "a.b.c", "x" * 5000, "eyJhbGciOiJub25lIn0.e30."])
def test_junk_is_malformed(ring: KeyRing, junk: str) -> None:
    assert verify(junk, SHOW, ring, MASTER, NOW) == Invalid("malformed")


def test_an_unsigned_token_is_not_accepted(ring: KeyRing) -> None:
    unsigned = jwt.encode({"b": "x", "s": SHOW, "st": [], "h": "", "k": "s", "iat": 0}, "", algorithm="none")
    assert isinstance(verify(unsigned, SHOW, ring, MASTER, NOW), Invalid)


def test_an_old_key_verifies_until_it_retires_and_not_after(k1: StoredKey) -> None:
    retires_at = NOW + timedelta(hours=1)
    k2 = StoredKey(*new_key(2))
    before = ring_of(k1)
    old_code = sign(before, STATIC, NOW)
    rotated = ring_of(StoredKey(k1.kid, k1.private_pem, k1.public_pem, retires_at), k2)
    assert rotated.signing_kid == "k2", "the new key signs from the rotation on"
    assert jwt.get_unverified_header(sign(rotated, STATIC, NOW))["kid"] == "k2"
    assert verify(old_code, SHOW, rotated, MASTER, NOW) == STATIC
    assert verify(old_code, SHOW, rotated, MASTER, retires_at - timedelta(seconds=1)) == STATIC
    assert verify(old_code, SHOW, rotated, MASTER, retires_at) == Invalid("unknown_key"), "retired in a live ring"
    after = ring_of(StoredKey(k1.kid, k1.private_pem, k1.public_pem, retires_at), k2, now=retires_at)
    assert set(after.verifying) == {"k2"}
    assert [k["kid"] for k in after.jwks()["keys"]] == ["k2"]
    assert verify(old_code, SHOW, after, MASTER, retires_at) == Invalid("unknown_key")


def test_the_jwks_publishes_every_verifying_key_and_verifies_codes(k1: StoredKey) -> None:
    k2 = StoredKey(*new_key(2))
    rotated = ring_of(StoredKey(k1.kid, k1.private_pem, k1.public_pem, NOW + timedelta(days=1)), k2)
    published = rotated.jwks()["keys"]
    assert [k["kid"] for k in published] == ["k2", "k1"]
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and k["alg"] == "EdDSA" for k in published)
    code = sign(rotated, STATIC, NOW)
    public = jwt.PyJWK(published[0]).key
    assert jwt.decode(code, public, algorithms=["EdDSA"], options={"verify_iat": False})["b"] == STATIC.booking_id
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(code, jwt.PyJWK(published[1]).key, algorithms=["EdDSA"])


def test_no_signing_key_is_an_error(k1: StoredKey) -> None:
    with pytest.raises(ValueError, match="no ticket key"):
        ring_of(StoredKey(k1.kid, k1.private_pem, k1.public_pem, NOW + timedelta(days=1)))


def test_rotating_secrets_are_per_booking_and_per_master() -> None:
    secret = rotating_secret(MASTER, "booking-1")
    assert secret == rotating_secret(MASTER, "booking-1")
    assert len(base64.b32decode(secret)) == 20
    assert secret != rotating_secret(MASTER, "booking-2")
    assert secret != rotating_secret("another-master", "booking-1")


def test_a_rotating_code_is_good_for_its_step_and_one_either_side(ring: KeyRing) -> None:
    token = sign(ring, ROTATING, NOW)
    secret = rotating_secret(MASTER, ROTATING.booking_id)
    shown = rotating_code(token, secret, NOW)
    assert verify(shown, SHOW, ring, MASTER, NOW) == ROTATING
    assert verify(shown, SHOW, ring, MASTER, NOW + timedelta(seconds=15)) == ROTATING, "one step old"
    assert verify(shown, SHOW, ring, MASTER, NOW + timedelta(seconds=30)) == Invalid("expired_code"), "two steps"
    assert verify(shown, SHOW, ring, MASTER, NOW + timedelta(seconds=45)) == Invalid("expired_code")
    assert verify(shown, SHOW, ring, MASTER, NOW - timedelta(seconds=45)) == Invalid("expired_code")
    assert verify(rotating_code(token, secret, NOW - timedelta(seconds=45)), SHOW, ring, MASTER, NOW) == Invalid(
        "expired_code"
    )


def test_a_rotating_code_changes_every_fifteen_seconds(ring: KeyRing) -> None:
    token = sign(ring, ROTATING, NOW)
    secret = rotating_secret(MASTER, ROTATING.booking_id)
    step = NOW.replace(second=0)
    codes = [rotating_code(token, secret, step + timedelta(seconds=s)) for s in (0, 14, 15, 30)]
    assert codes[0] == codes[1], "one code for a whole step"
    assert len({codes[0], codes[2], codes[3]}) == 3, "a new code every step"


def test_a_rotating_token_needs_its_time_based_part(ring: KeyRing) -> None:
    token = sign(ring, ROTATING, NOW)
    assert verify(token, SHOW, ring, MASTER, NOW) == Invalid("code_required")
    assert verify(f"{token}~12a456", SHOW, ring, MASTER, NOW) == Invalid("malformed")
    wrong_booking = rotating_code(token, rotating_secret(MASTER, "another-booking"), NOW)
    assert verify(wrong_booking, SHOW, ring, MASTER, NOW) == Invalid("expired_code")
    wrong_master = rotating_code(token, rotating_secret("other", ROTATING.booking_id), NOW)
    assert verify(wrong_master, SHOW, ring, MASTER, NOW) == Invalid("expired_code")


def test_a_static_code_takes_no_time_based_part(ring: KeyRing) -> None:
    token = sign(ring, STATIC, NOW)
    assert verify(rotating_code(token, rotating_secret(MASTER, STATIC.booking_id), NOW), SHOW, ring, MASTER, NOW) == (
        Invalid("malformed")
    )
