"""The booking service's own refusals (``booking.errors``) answer exactly as the ``ApiProblem``s the
service raised before it left ``api/``: same status, problem type, detail and headers, byte for byte."""

from __future__ import annotations

import pytest

from actors.errors import BookingError
from api.problems import booking_problem, problem, status_of
from booking.errors import IdempotencyKeyReused, NoShowOnSale, RequestInProgress

BEFORE = [
    (NoShowOnSale(), 404, "no show of that movie in that theater is on sale", "no-show-on-sale"),
    (IdempotencyKeyReused(), 422, "this Idempotency-Key was used with a different request", "idempotency-key-reused"),
    (RequestInProgress(), 409, "a request with this Idempotency-Key is still being processed", "request-in-progress"),
]


@pytest.mark.parametrize(("error", "status", "detail", "code"), BEFORE)
def test_a_service_refusal_answers_as_before(error: BookingError, status: int, detail: str, code: str) -> None:
    now = booking_problem(error, "/api/v1/shows/s/holds")
    before = problem(status, detail, code, {}, {}, "/api/v1/shows/s/holds")
    assert status_of(error) == status
    assert (now.status_code, now.body, now.headers.raw) == (before.status_code, before.body, before.headers.raw)
