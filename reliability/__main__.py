"""``python -m reliability``: run the suite, print the table, exit non-zero if any figure misses its bound.

    python -m reliability                 # the short version (every CI run)
    python -m reliability --full          # the full version (on request; minutes)
    python -m reliability --only 1,2,11   # some scenarios
    python -m reliability --full --write-docs   # and rewrite the table in docs/reliability.md
    python -m reliability --shared        # scenarios share one env where they can (faster, CI)

Services: ``DATABASE_URL`` / ``REDIS_URL`` name shared servers (a fresh database and a key prefix per
scenario), otherwise throwaway embedded ones; scenarios that stop PostgreSQL or Redis always get their
own. ``RELIABILITY_KEEP=1`` keeps each scenario's temp dir (service and gateway logs).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from reliability.core import format_table, run_suite, write_docs


def parse_only(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--only wants scenario numbers like 1,2,11, not {text!r}") from exc
    if not numbers or any(not 1 <= n <= 99 for n in numbers):
        raise argparse.ArgumentTypeError(f"--only wants scenario numbers like 1,2,11, not {text!r}")
    return numbers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--full", action="store_true", help="the full version (long; on request)")
    parser.add_argument("--only", type=parse_only, default=None, help="comma-separated scenario numbers")
    parser.add_argument(
        "--shared", action="store_true", help="run scenarios in one shared env where they allow it (faster)"
    )
    parser.add_argument("--write-docs", action="store_true", help="rewrite the table in docs/reliability.md")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results = run_suite(args.only, args.full, shared=args.shared)
    if not results:
        print("no scenarios found", file=sys.stderr)
        return 2
    print()
    print(format_table(results))
    failed = [f for r in results for f in r.figures if not f.ok]
    if args.write_docs:
        command = "python -m reliability" + (" --full" if args.full else "")
        if args.shared:
            command += " --shared"
        if args.only:
            command += " --only " + ",".join(map(str, args.only))
        write_docs(results, command)
        print("\ntable written to docs/reliability.md", file=sys.stderr)
    print(f"\n{len(failed)} figure(s) out of bounds" if failed else "\nevery figure within its bound")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
