"""The booking service's and the scheduling rules' own refusals (``booking.errors``) answer exactly as
the ``ApiProblem``s raised before they left ``api/``: same status, problem type, detail and headers, byte for byte."""

from __future__ import annotations

import pickle

import pytest

from actors.errors import BookingError
from api.problems import booking_problem, problem, status_of
from booking.errors import (
    IdempotencyKeyReused,
    MissingPrices,
    NoShowOnSale,
    RequestInProgress,
    SalesCloseAfterStart,
    SalesWindowEmpty,
    ShowInPast,
)

BEFORE = [
    (NoShowOnSale(), 404, "no show of that movie in that theater is on sale", "no-show-on-sale"),
    (IdempotencyKeyReused(), 422, "this Idempotency-Key was used with a different request", "idempotency-key-reused"),
    (RequestInProgress(), 409, "a request with this Idempotency-Key is still being processed", "request-in-progress"),
    (ShowInPast(), 422, "starts_at must be in the future", "show-in-past"),
    (SalesCloseAfterStart(), 422, "sales_close_at must not be after starts_at", "sales-close-after-start"),
    (SalesWindowEmpty(), 422, "sales_open_at must be before sales close", "sales-window-empty"),
    (MissingPrices(["box", "vip"]), 422, "no price for seat categories: box, vip", "missing-prices"),
]


@pytest.mark.parametrize(("error", "status", "detail", "code"), BEFORE)
def test_a_service_refusal_answers_as_before(error: BookingError, status: int, detail: str, code: str) -> None:
    now = booking_problem(error, "/api/v1/shows/s/holds")
    before = problem(status, detail, code, {}, {}, "/api/v1/shows/s/holds")
    assert status_of(error) == status
    assert (now.status_code, now.body, now.headers.raw) == (before.status_code, before.body, before.headers.raw)


@pytest.mark.parametrize(("error", "status", "detail", "code"), BEFORE)
def test_a_service_refusal_survives_pickling(error: BookingError, status: int, detail: str, code: str) -> None:
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert clone == error
    assert vars(clone) == vars(error)
    assert (clone.detail, clone.code) == (detail, code)


def test_a_refusal_without_fixed_words_needs_a_detail() -> None:
    with pytest.raises(TypeError):
        BookingError()
    assert NoShowOnSale("no show on sale here").detail == "no show on sale here"
