"""The Ed25519 keys that sign tickets, and the key ring a process signs and verifies with.

A key is named by its ``kid``, ``k1``, ``k2``, … in the order the keys were made: short (every ticket's
header carries it, and a short code makes a small QR code), and deterministic, so two processes that both
find no signing key both try to store ``k<n+1>`` and the database keeps one (``persistence.ticket_keys``).
The newest key that is not retiring signs; every key verifies until its ``retires_at``. The public halves
are published as a JWKS (RFC 7517, RFC 8037 for the ``OKP`` key type) so gates and outside checkers can
verify codes themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

_KID = re.compile(r"k([1-9][0-9]*)")


def kid_of(number: int) -> str:
    """The name of the ``number``-th key (1 for the first)."""
    if number < 1:
        raise ValueError("keys are numbered from 1")
    return f"k{number}"


def number_of(kid: str) -> int | None:
    """The position of the key named ``kid``, or None if that is not a key name."""
    matched = _KID.fullmatch(kid)
    return int(matched.group(1)) if matched else None


def new_key(number: int) -> tuple[str, str, str]:
    """A fresh Ed25519 key pair as ``(kid, private PEM, public PEM)``, the ``number``-th key."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return kid_of(number), private_pem, public_pem


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as it is kept: its PEM halves and when it stops verifying (None while it may sign)."""

    kid: str
    private_pem: str
    public_pem: str
    retires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    kid: str
    key: Ed25519PublicKey
    retires_at: datetime | None

    def verifies_at(self, now: datetime) -> bool:
        return self.retires_at is None or now < self.retires_at


def _public(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("a ticket key must be Ed25519")
    return key


def _private(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("a ticket key must be Ed25519")
    return key


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The key that signs (``signing_kid``) and every key that verifies, by kid."""

    signing_kid: str
    signing_key: Ed25519PrivateKey
    verifying: Mapping[str, VerifyingKey]

    @classmethod
    def of(cls, stored: Iterable[StoredKey], now: datetime) -> KeyRing:
        """The ring of the ``stored`` keys at ``now``: retired keys are left out; the newest key with no
        ``retires_at`` signs. ``ValueError`` if no key may sign."""
        live = [k for k in stored if k.retires_at is None or now < k.retires_at]
        signers = [k for k in live if k.retires_at is None and number_of(k.kid) is not None]
        if not signers:
            raise ValueError("no ticket key may sign")
        signer = max(signers, key=lambda k: number_of(k.kid) or 0)
        verifying = {k.kid: VerifyingKey(k.kid, _public(k.public_pem), k.retires_at) for k in live}
        return cls(signer.kid, _private(signer.private_pem), MappingProxyType(verifying))

    def key_for(self, kid: str, now: datetime) -> Ed25519PublicKey | None:
        """The public key named ``kid`` if it still verifies at ``now``."""
        found = self.verifying.get(kid)
        return found.key if found is not None and found.verifies_at(now) else None

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys as a JSON Web Key Set, the signing key first."""
        ordered = sorted(self.verifying.values(), key=lambda k: (k.kid != self.signing_kid, k.kid))
        return {
            "keys": [
                {**OKPAlgorithm.to_jwk(k.key, as_dict=True), "kid": k.kid, "use": "sig", "alg": "EdDSA"}
                for k in ordered
            ]
        }
