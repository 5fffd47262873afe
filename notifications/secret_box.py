"""Webhook signing secrets encrypted at rest: ``SecretBox`` seals and opens them with Fernet keys.

The keys come from ``BOOKING_WEBHOOK_SECRET_KEYS`` (comma-separated Fernet keys) or, when that is unset,
from a key file the service generates once in the data directory (``webhook-secret-keys``, mode 0600). Not
in PostgreSQL, beside the token signing key: a key kept next to the data it protects protects little (a
database dump, a backup or a read replica would carry both). A service whose API processes run on several
machines (the KubeRay manifests) must set the variable, the same on every machine.

Several keys rotate as ``MultiFernet`` does: the first key encrypts, every key decrypts. At start-up
``WebhookStore.seal_secrets`` encrypts plain-text secrets left from before (and clears them) and
re-encrypts under the first key whatever an older key sealed, after which the older key can go.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger("booking.notifications")

KEY_FILE_NAME = "webhook-secret-keys"


class UnreadableSecret(Exception):
    """A sealed secret that none of the configured keys opens (the key that sealed it is not configured)."""


def parse_keys(value: str) -> list[str]:
    """Fernet keys from a comma- or newline-separated list; ValueError (never echoing a key) if one is bad."""
    keys = [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
    if not keys:
        raise ValueError("no webhook secret keys given")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"webhook secret key {position} of {len(keys)} is not a Fernet key "
                "(32 url-safe base64-encoded bytes, as Fernet.generate_key() makes)"
            ) from None
    return keys


def load_or_create_key_file(path: Path) -> list[str]:
    """The keys in ``path``, generating one key there (mode 0600) if the file does not exist yet.

    Race-free across processes and threads: the key is written to a file of the caller's own and linked into place;
    whoever links first wins and everyone reads the winner's key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(Fernet.generate_key().decode() + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(staging, path)
            log.warning(
                "generated the webhook secret key in %s: keep it with the database's backups (without it the "
                "webhook secrets cannot be read); several API machines need BOOKING_WEBHOOK_SECRET_KEYS instead",
                path,
            )
        except FileExistsError:
            pass  # another process generated it first
        finally:
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users than its owner: chmod 600 it", path)
    return parse_keys(path.read_text())


class SecretBox:
    """Seals secrets with the first of ``keys``; opens what any of them sealed."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._primary = Fernet(keys[0])
        self._all = MultiFernet([Fernet(key) for key in keys])

    def seal(self, secret: str) -> str:
        return self._all.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._all.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret("none of the webhook secret keys decrypts this secret") from None

    def is_current(self, sealed: str) -> bool:
        """True if the first key sealed ``sealed`` (nothing to re-encrypt)."""
        try:
            self._primary.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: str) -> str:
        """``sealed`` encrypted again under the first key; UnreadableSecret if no key opens it."""
        try:
            return self._all.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret("none of the webhook secret keys decrypts this secret") from None
