"""The order of a waiting room's pre-queue, fixed before anyone can know it and checkable afterwards.

When a show with a waiting room is created, the service draws a secret ``seed`` and publishes only its
``commitment``, ``sha256(seed)``. Everyone who joins before sales open is one pre-queue; at the opening the
pre-queue is closed, its entry ids are published with their Merkle root, the seed is revealed, and the
pre-queue is ordered by ``sha256(seed + ":" + entry_id)`` (lowercase hex, ascending). Later joiners follow
in the order they joined. Anyone holding the published data can recompute the order (``verify``).

Every function here is pure, and the verifier uses the very same ones, so there is one definition of the
order. Hashes are of UTF-8 strings and compared as lowercase hex, as ``../shared/api-contract.md`` pins.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence

__all__ = [
    "commitment",
    "merkle_proof",
    "merkle_root",
    "new_seed",
    "order_key",
    "pre_queue_order",
    "verify_merkle_proof",
]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_seed() -> str:
    """A fresh secret seed: 256 bits from the OS's CSPRNG, as hex."""
    return secrets.token_hex(32)


def commitment(seed: str) -> str:
    """What is published before sales open: ``sha256(seed)``."""
    return _sha256(seed)


def order_key(seed: str, entry_id: str) -> str:
    """An entry's place in the pre-queue: the lower the key, the earlier the number."""
    return _sha256(f"{seed}:{entry_id}")


def pre_queue_order(seed: str, entry_ids: Iterable[str]) -> list[str]:
    """The pre-queue's entry ids in queue order (number 1 first). Ties (equal keys) cannot happen for
    distinct ids short of a SHA-256 collision; the id breaks them anyway so the order is total."""
    return sorted(entry_ids, key=lambda entry: (order_key(seed, entry), entry))


def _leaf(entry_id: str) -> str:
    return _sha256(f"leaf:{entry_id}")


def _node(left: str, right: str) -> str:
    return _sha256(f"node:{left}:{right}")


def _levels(entry_ids: Sequence[str]) -> list[list[str]]:
    """The tree bottom-up, over the ids in ascending order (so the root does not depend on join order);
    an odd node at the end of a level is carried up unchanged."""
    level = [_leaf(e) for e in sorted(entry_ids)]
    levels = [level]
    while len(level) > 1:
        level = [_node(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def merkle_root(entry_ids: Sequence[str]) -> str:
    """The Merkle root of the pre-queue's entry ids, published when the pre-queue closes: it fixes who is in
    it, and each entrant can check with ``merkle_proof`` that their own entry is counted. The empty
    pre-queue's root is ``sha256("")``."""
    if not entry_ids:
        return _sha256("")
    return _levels(entry_ids)[-1][0]


def merkle_proof(entry_ids: Sequence[str], entry_id: str) -> list[tuple[str, str]]:
    """The sibling hashes from ``entry_id``'s leaf to the root, each with its side (``"L"``: the sibling is on
    the left). Raises ``ValueError`` if the entry is not in the pre-queue."""
    levels = _levels(entry_ids)
    index = sorted(entry_ids).index(entry_id)
    proof: list[tuple[str, str]] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(("L" if sibling < index else "R", level[sibling]))
        index //= 2
    return proof


def verify_merkle_proof(root: str, entry_id: str, proof: Sequence[tuple[str, str]]) -> bool:
    """Whether ``proof`` leads from ``entry_id`` to ``root``."""
    node = _leaf(entry_id)
    for side, sibling in proof:
        node = _node(sibling, node) if side == "L" else _node(node, sibling)
    return node == root
