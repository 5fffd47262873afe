"""The published schema of free text matches what the API accepts: required text that is blank after
stripping (Unicode whitespace included) is refused, and the pattern the OpenAPI document carries says so,
so a client (or a fuzzer) that follows the schema never sends text the API then rejects. Request bodies take
no coerced types either: what the schema calls a number is the only thing accepted as one."""

import re
from typing import Annotated

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.routes.holds import HoldIn
from api.schemas import MovieIn, RowIn, ShowIn, text

REQUIRED = TypeAdapter(Annotated[str, text(100)])
OPTIONAL = TypeAdapter(Annotated[str, text(100, min_length=0)])


@pytest.mark.parametrize("blank", [" ", "\u0085", "\u00a0\u2003", "\t\n"])
def test_blank_required_text_is_refused_and_the_schema_says_so(blank: str) -> None:
    with pytest.raises(ValidationError):
        REQUIRED.validate_python(blank)
    assert not re.search(REQUIRED.json_schema()["pattern"], blank)


@pytest.mark.parametrize("value", ["Í", " a ", "x\u0085y", "Screen 1\n"])
def test_text_with_one_visible_character_is_taken_and_matches_the_schema(value: str) -> None:
    assert REQUIRED.validate_python(value) == value.strip()
    assert re.search(REQUIRED.json_schema()["pattern"], value)


def test_optional_text_may_be_blank() -> None:
    assert OPTIONAL.validate_python("\u0085") == ""
    assert re.search(OPTIONAL.json_schema()["pattern"], "\u0085")


SHOW = {
    "movie_id": "00000000-0000-0000-0000-000000000001",
    "screen_id": "00000000-0000-0000-0000-000000000002",
    "starts_at": "2026-12-24T18:30:00Z",
    "prices": {"standard": 250},
}


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (MovieIn, {"title": "Up", "duration_minutes": True}),
        (MovieIn, {"title": "Up", "duration_minutes": "96"}),
        (MovieIn, {"title": "Up", "duration_minutes": 96.5}),
        (RowIn, {"row": "A", "seats": False}),
        (HoldIn, {"count": "2"}),
        (ShowIn, {**SHOW, "prices": {"standard": True}}),
        (ShowIn, {**SHOW, "hold_ttl_seconds": "600"}),
    ],
)
def test_a_body_whose_number_is_not_a_json_number_is_refused(model: type[BaseModel], body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(body)


def test_strict_bodies_still_take_iso_times_and_whole_prices() -> None:
    show = ShowIn.model_validate({**SHOW, "sales_open_at": "2026-12-01T09:00:00+05:30"})
    assert show.starts_at.isoformat() == "2026-12-24T18:30:00+00:00"
    assert show.prices == {"standard": 250.0}
    assert MovieIn.model_validate({"title": "Up", "duration_minutes": 96}).duration_minutes == 96


def test_a_whole_number_written_with_a_fraction_is_an_integer_as_json_schema_says() -> None:
    assert MovieIn.model_validate({"title": "Up", "duration_minutes": 410.0}).duration_minutes == 410
    assert HoldIn.model_validate({"count": 3.0}).count == 3
    assert ShowIn.model_validate({**SHOW, "hold_ttl_seconds": 898.0}).hold_ttl_seconds == 898
