"""Rows to records: the one mapping from a database row to the frozen dataclasses ``persistence/`` hands out.

A record's fields are named after the columns it is read from, so an ORM object or a SQL row (``SELECT``
columns named like the fields) maps to it by name. ``from_row`` reads every field from the attribute of the
same name; the caller passes only what is not a plain copy (a JSON list kept as a tuple, a price map read as
``Decimal``). The API's response models read the records in turn with pydantic's ``from_attributes``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def from_row(record: type[R], row: Any, **values: Any) -> R:
    """A ``record`` with each field read from ``row``'s attribute of the same name, except those in ``values``."""
    return record(**{f.name: getattr(row, f.name) for f in fields(record) if f.name not in values}, **values)
