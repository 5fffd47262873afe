"""Webhook secrets at rest (``notifications.secret_box``): sealing, key rotation, the generated key file."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from notifications.secret_box import SecretBox, UnreadableSecret, load_or_create_key_file, parse_keys
from notifications.signing import new_secret


def key() -> str:
    return Fernet.generate_key().decode()


def test_a_sealed_secret_does_not_contain_the_secret_and_opens_to_it() -> None:
    box, secret = SecretBox([key()]), new_secret()
    sealed = box.seal(secret)
    assert secret not in sealed
    assert secret.removeprefix("whsec_") not in sealed
    assert box.open(sealed) == secret
    assert box.seal(secret) != sealed  # a fresh IV each time
    with pytest.raises(UnreadableSecret):
        SecretBox([key()]).open(sealed)


def test_after_rotation_an_old_seal_still_opens_and_is_resealed_under_the_new_first_key() -> None:
    old, new = key(), key()
    secret = new_secret()
    sealed_by_old = SecretBox([old]).seal(secret)
    rotated = SecretBox([new, old])
    assert rotated.open(sealed_by_old) == secret
    assert not rotated.is_current(sealed_by_old)
    resealed = rotated.reseal(sealed_by_old)
    assert rotated.is_current(resealed)
    assert SecretBox([new]).open(resealed) == secret  # the old key can go now
    assert rotated.is_current(rotated.seal(secret))
    with pytest.raises(UnreadableSecret):
        SecretBox([new]).open(sealed_by_old)
    with pytest.raises(UnreadableSecret):
        SecretBox([key()]).reseal(sealed_by_old)


def test_keys_are_a_comma_or_newline_separated_list_and_a_bad_one_is_named_by_position_not_echoed() -> None:
    first, second = key(), key()
    assert parse_keys(f" {first} ,{second}\n") == [first, second]
    assert parse_keys(f"{first}\n{second}\n") == [first, second]
    with pytest.raises(ValueError, match="key 2 of 2") as refused:
        parse_keys(f"{first},not-a-fernet-key")
    assert "not-a-fernet-key" not in str(refused.value)
    with pytest.raises(ValueError, match="no webhook secret keys"):
        parse_keys(" , ")


def test_the_key_file_is_generated_once_owner_only_and_every_process_reads_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "data" / "webhook-secret-keys"
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: tuple(load_or_create_key_file(path)), range(16)))
    assert len(set(found)) == 1
    assert len(found[0]) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging files left behind
    assert load_or_create_key_file(path) == list(found[0])
