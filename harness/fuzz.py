"""What schemathesis checks against the service's OpenAPI description.

One definition for ``tests/integration/test_schemathesis.py`` and reliability scenario 10
(``reliability.scenarios.s10_schemathesis``), so the CI test and the suite judge the service alike.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CHECKS", "EXCLUDED_CHECKS", "HOOKS", "hooks_env"]

# The value of schemathesis' ``--checks`` option: every check it has, built in or ours (``HOOKS``).
CHECKS = "all"
# ``--exclude-checks``: the built-in positive-data check is replaced by ``harness.fuzz_checks``' own, which
# also accepts the refusals of rules no schema can express (listed there, each with its reason).
EXCLUDED_CHECKS = "positive_data_acceptance"
# The module schemathesis loads for our checks (``SCHEMATHESIS_HOOKS``).
HOOKS = "harness.fuzz_checks"


def hooks_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (usually ``os.environ``) with ``SCHEMATHESIS_HOOKS`` set, for the schemathesis subprocess."""
    return {**base, "SCHEMATHESIS_HOOKS": HOOKS}
