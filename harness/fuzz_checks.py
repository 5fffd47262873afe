"""A schemathesis check of our own: schema-valid requests are accepted, except where the answer is a
business outcome or a rule that no JSON Schema can express, each refused with its own problem ``type``.

Loaded by schemathesis as a hooks module (``SCHEMATHESIS_HOOKS=harness.fuzz_checks``, see
``harness.fuzz``), it replaces the built-in ``positive_data_acceptance``. That check judges by status code
alone (2xx, 3xx, 401, 403, 404, 409, 429 and 5xx count as accepted), so a schema-valid request answered
400, 402, 410 or 422 fails it, whatever the answer says. A declined card (402) and an expired hold (410)
are what a valid payment may meet; a rule between fields, between the path and the body, or against the
clock or earlier requests cannot be put in a schema. Those answers are listed here, each with its reason,
and only they pass: any other such refusal of a schema-valid request (the schema promising more than the
service accepts) still fails.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis import CheckContext, Response
from schemathesis.core.failures import Failure
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

PROBLEM_TYPE_BASE = "https://seatwise.dev/problems/"

# Problem type -> (status, why no schema can rule it out).
BEYOND_SCHEMA: dict[str, tuple[int, str]] = {
    "payment-declined": (402, "the card was declined: an outcome of a valid payment"),
    "hold-expired": (410, "the hold expired before it was paid: an outcome of a valid payment, against the clock"),
    "movie-mismatch": (400, "HoldSeat: the body's movie_id must be the path's"),
    "event-mismatch": (400, "SubmitPayment: the body's event_id must be the path's"),
    "idempotency-key-reused": (422, "an Idempotency-Key sent before with another request (IETF draft)"),
    "duplicate-rows": (422, "a screen's row labels are unique: unique by one property, not whole items"),
    "show-in-past": (422, "a new show starts in the future: against the clock"),
    "sales-close-after-start": (422, "sales close no later than the show starts: between two fields"),
    "sales-window-empty": (422, "sales open before they close: between two fields"),
    "missing-prices": (422, "a show prices every seat category of its screen: against stored data"),
    "unknown-category": (400, "a best-available hold names a category of the show's screen: against stored data"),
    "unknown-section": (400, "a best-available hold names a section of the show's venue: against stored data"),
    "date-out-of-range": (422, "report dates lie in 2000..2999: a bound on a date, not a number"),
    "empty-date-range": (422, "a report's end is not before its start: between two parameters"),
    "date-range-too-long": (422, "a report covers at most 400 days: between two parameters"),
}


def problem_type(response: Response) -> str:
    """The problem ``type`` of a problem+json answer, short form (``""`` for anything else)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    kind = body.get("type", "") if isinstance(body, dict) else ""
    return kind.removeprefix(PROBLEM_TYPE_BASE) if isinstance(kind, str) else ""


@schemathesis.check
def positive_data_acceptance_beyond_schema(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """``positive_data_acceptance``, except for the answers listed in ``BEYOND_SCHEMA``."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        expected = BEYOND_SCHEMA.get(problem_type(response))
        if expected is not None and expected[0] == response.status_code:
            return None
        raise
