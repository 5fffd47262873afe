"""What schemathesis checks against the service's OpenAPI description.

One definition for ``tests/integration/test_schemathesis.py`` and reliability scenario 10
(``reliability.scenarios.s10_schemathesis``), so the CI test and the suite judge the service alike.
"""

from __future__ import annotations

__all__ = ["CHECKS"]

# The value of schemathesis' ``--checks`` option.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "ignored_auth",
    ]
)
