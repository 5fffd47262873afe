"""Checks an on-sale's waiting-room order from what the service published: ``python -m waiting_room.verify``.

    python -m waiting_room.verify --base-url http://127.0.0.1:8000 --show <show id> [--entry <your entry id>]

It needs no account and trusts nothing but SHA-256: it fetches the fairness record and the published
pre-queue, and checks that (1) the revealed seed hashes to the commitment published before sales opened,
(2) the pre-queue's numbers run 1, 2, 3… in exactly the order of ``sha256(seed + ":" + entry_id)``,
(3) the Merkle root published at the opening is the root of exactly these entry ids, and, with
``--entry``, (4) that your entry is among them, at the number the service told you. Exit status 0 when
every check passes, 1 when one fails, 2 when the record cannot be read (not opened yet, for instance).
What the checks prove and what they cannot is in ``docs/waiting-room.md``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx

from waiting_room import fairness

PAGE = 10_000


@dataclass
class Verdict:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append((name, ok, detail))

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)


def check(record: dict[str, Any], published: list[tuple[int, str]], entry_id: str | None = None) -> Verdict:
    """The checks on a fairness record and the published pre-queue ``(number, entry_id)``."""
    verdict = Verdict()
    seed, commitment = record.get("seed"), record.get("commitment")
    verdict.add(
        "the seed hashes to the commitment",
        isinstance(seed, str) and fairness.commitment(seed) == commitment,
        f"sha256(seed) = {fairness.commitment(seed) if isinstance(seed, str) else '—'}, commitment = {commitment}",
    )
    numbers = [n for n, _ in published]
    ids = [e for _, e in published]
    verdict.add(
        "the pre-queue is numbered 1…n without gaps",
        numbers == list(range(1, len(numbers) + 1)) and len(numbers) == record.get("pre_queue_size"),
        f"{len(numbers)} entries published, pre_queue_size = {record.get('pre_queue_size')}",
    )
    if isinstance(seed, str):
        expected = fairness.pre_queue_order(seed, ids)
        wrong = next((i for i, (a, b) in enumerate(zip(expected, ids, strict=True)) if a != b), None)
        verdict.add(
            "the order is sha256(seed:entry_id) ascending",
            wrong is None,
            "every place as computed" if wrong is None else f"first difference at number {wrong + 1}",
        )
    root = fairness.merkle_root(ids)
    verdict.add(
        "the Merkle root is the root of these entries",
        root == record.get("merkle_root"),
        f"computed {root}, published {record.get('merkle_root')}",
    )
    if entry_id is not None:
        place = next((n for n, e in published if e == entry_id), None)
        verdict.add("your entry is in the pre-queue", place is not None, f"number {place}" if place else "not found")
        if place is not None:
            proof = fairness.merkle_proof(ids, entry_id)
            verdict.add(
                "your entry's Merkle proof leads to the published root",
                fairness.verify_merkle_proof(str(record.get("merkle_root")), entry_id, proof),
                f"{len(proof)} steps",
            )
    return verdict


def fetch(base_url: str, show_id: str, progress: bool = True) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.get(f"/api/v1/shows/{show_id}/queue/fairness")
        response.raise_for_status()
        record: dict[str, Any] = response.json()
        published: list[tuple[int, str]] = []
        while True:
            page = client.get(
                f"/api/v1/shows/{show_id}/queue/fairness/pre-queue", params={"after": len(published), "limit": PAGE}
            )
            page.raise_for_status()
            rows = page.json()
            published.extend((int(r["number"]), str(r["entry_id"])) for r in rows)
            if progress:
                print(
                    f"\rread {len(published):,} of {record.get('pre_queue_size') or 0:,} entries",
                    end="",
                    file=sys.stderr,
                )
            if len(rows) < PAGE:
                break
        if progress:
            print(file=sys.stderr)
    return record, published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m waiting_room.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--show", required=True, help="the show's id")
    parser.add_argument("--entry", help="your entry id, to check your own place")
    args = parser.parse_args(argv)
    try:
        record, published = fetch(args.base_url, args.show)
    except httpx.HTTPError as exc:
        print(f"cannot read the fairness record: {exc}", file=sys.stderr)
        return 2
    if record.get("seed") is None:
        print("sales have not opened yet: only the commitment is published", record.get("commitment"))
        return 2
    verdict = check(record, published, args.entry)
    for name, ok, detail in verdict.checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    print("verified: the order is the committed seed's" if verdict.ok else "NOT verified")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
