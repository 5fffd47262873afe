"""The published schema of free text matches what the API accepts: required text that is blank after
stripping (Unicode whitespace included) is refused, and the pattern the OpenAPI document carries says so,
so a client (or a fuzzer) that follows the schema never sends text the API then rejects."""

import re
from typing import Annotated

import pytest
from pydantic import TypeAdapter, ValidationError

from api.schemas import text

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
