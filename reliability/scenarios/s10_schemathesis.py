"""Scenario 10: schemathesis against the service's own OpenAPI, positive, negative and stateful.

Runs schemathesis with ``harness.fuzz``'s checks and exclusions (one worker) in every phase (examples,
coverage, fuzzing, stateful) and both generation modes (schema-valid and schema-violating data), and
counts from a HAR report what was really sent and answered: every 5xx is a failure, whatever check would
have caught it. The full version repeats the run with new seeds until at least 10,000 requests have been
sent; the short one sends a few hundred to a thousand.

The other checks (every check schemathesis has, ``--checks all``: status codes, content types, headers
and bodies as documented, schema-valid data accepted and schema-violating data refused, 405 with
``Allow``, authentication not ignored, ...; see ``harness.fuzz``) are counted as schemathesis reports
them, as unique failures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from harness.client import admin_headers, create_show
from harness.fuzz import CHECKS, EXCLUDED_CHECKS, EXCLUDED_PATHS, hooks_env
from reliability.env import Env
from reliability.figures import Figure, at_least, informational, zero

FULL_REQUESTS = 10_000


def run_schemathesis(base_url: str, auth: str, max_examples: int, seed: int, har: Path) -> tuple[int, str]:
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if executable is None:
        raise RuntimeError("schemathesis is a dev dependency: pip install -e '.[dev]'")
    result = subprocess.run(  # noqa: S603 (our own venv's tool, no shell)
        [
            executable,
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            CHECKS,
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--header",
            f"Authorization: {auth}",
            "--mode",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(max_examples),
            "--seed",
            str(seed),
            "--workers",
            # One worker: with several, schemathesis runs Hypothesis in threads, and CPython 3.11's ast module
            # is not thread-safe (Hypothesis's lambda introspection then dies with "SystemError: AST
            # constructor recursion depth mismatch", a tool crash reported as a runtime error).
            "1",
            "--request-timeout",
            "30",
            "--no-color",
            "--exclude-path-regex",
            EXCLUDED_PATHS,
            "--report",
            "har",
            "--report-har-path",
            str(har),
        ],
        capture_output=True,
        text=True,
        env=hooks_env(os.environ),
        timeout=3600,
        check=False,
    )
    return result.returncode, result.stdout


def har_statuses(har: Path) -> list[int]:
    """Every response status in a HAR file (0 for a request that got no response)."""
    data = json.loads(har.read_text())
    return [int(entry.get("response", {}).get("status") or 0) for entry in data["log"]["entries"]]


def unique_failures(summary: str) -> int:
    match = re.search(r"found (\d+) unique failures", summary)
    return int(match.group(1)) if match else 0


def phases(summary: str) -> str:
    """The phases the summary lists, e.g. "examples, coverage, fuzzing, stateful"."""
    section = summary.split("Test Phases:", 1)[-1].split("\n\n", 1)[0]
    names = re.findall(r"^\s+\S+\s+(\w[\w ]*)$", section, re.MULTILINE)
    return ", ".join(n.strip().lower() for n in names) or "?"


class Schemathesis:
    number = 10
    title = "schemathesis: positive, negative, stateful"

    def run(self, env: Env, full: bool) -> list[Figure]:
        n = self.number
        service = env.start_service()
        with service.client() as client:
            create_show(client)  # real ids for the fuzzer to find through the links
            auth = admin_headers(client)["Authorization"]
        statuses: list[int] = []
        failures = 0
        exits: list[int] = []
        ran = ""
        seed = 1
        while True:
            har = env.tmp / f"schemathesis-{seed}.har"
            env.log(f"schemathesis run, seed {seed} ({len(statuses)} requests so far)")
            code, out = run_schemathesis(service.base_url, auth, 40 if full else 4, seed, har)
            exits.append(code)
            if har.exists():
                statuses += har_statuses(har)
            failures += unique_failures(out)
            ran = phases(out)
            if code not in (0, 1):  # 0: all passed, 1: check failures; anything else: the tool broke
                env.log(out[-3000:])
            if not full or len(statuses) >= FULL_REQUESTS or seed >= 10:
                break
            seed += 1
        errors = sum(code not in (0, 1) for code in exits)
        return [
            zero(n, "5xx answers", sum(s >= 500 for s in statuses)),
            at_least(n, "requests sent", len(statuses), FULL_REQUESTS if full else 200),
            zero(n, "other check failures (--checks all: conformance, data acceptance, 405 Allow, auth)", failures),
            zero(n, "schemathesis runs that errored", errors),
            informational(n, "phases (modes: positive + negative)", ran),
        ]


SCENARIO = Schemathesis()
