"""What schemathesis checks against the service's OpenAPI description, and what it leaves out.

Reliability scenario 10 (``reliability.scenarios.s10_schemathesis``) runs it: its short version in every
CI run (``tests/integration/test_reliability.py``), the full one on request.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CHECKS", "EXCLUDED_CHECKS", "EXCLUDED_PATHS", "HOOKS", "hooks_env"]

# The value of schemathesis' ``--checks`` option: every check it has, built in or ours (``HOOKS``).
CHECKS = "all"
# ``--exclude-checks``: the built-in positive-data check is replaced by ``harness.fuzz_checks``' own, which
# also accepts the refusals of rules no schema can express (listed there, each with its reason).
EXCLUDED_CHECKS = "positive_data_acceptance"
# ``--exclude-path-regex`` (schemathesis keeps only the last one given: one regex). Operations that change
# who may use the service are covered by their own tests: fuzzing them as admin could block the fuzzer's
# own address or demote the admin mid-run. Webhooks: a fuzzed registration would make the service POST
# every later event to whatever URL was generated (tests/integration/test_notifications.py covers them).
# Server-Sent Events never end, so every generated request would wait out the request timeout: their
# refusals and protocol are tested in test_stream.py and test_waiting_room.py.
EXCLUDED_PATHS = "^/api/v1/admin/(users|blocked-networks|webhooks)|/seats/stream$|/queue/events$"
# The module schemathesis loads for our checks (``SCHEMATHESIS_HOOKS``).
HOOKS = "harness.fuzz_checks"


def hooks_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (usually ``os.environ``) with ``SCHEMATHESIS_HOOKS`` set, for the schemathesis subprocess."""
    return {**base, "SCHEMATHESIS_HOOKS": HOOKS}
