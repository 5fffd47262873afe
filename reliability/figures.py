"""A figure: one measured number of one scenario with the bound it must meet, and the usual bounds.

This module owns the suite's vocabulary and nothing else, so everything that measures can import it:
the scenarios, ``reliability.env`` (whose reconciliation reports figures) and ``reliability.core``
(which runs scenarios in an ``Env`` and prints their figures). It imports nothing from the suite, which
keeps ``core → env → figures`` a line rather than a circle.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Figure", "at_least", "at_most", "informational", "zero"]


@dataclass(frozen=True)
class Figure:
    """One measured figure of one scenario and whether it meets its bound."""

    scenario: int  # 1..12
    name: str  # e.g. "seats sold more than once"
    value: float | int | str
    bound: str  # human-readable, e.g. "= 0" or "≤ 5 s" or "informational"
    ok: bool  # does value meet bound


def informational(scenario: int, name: str, value: float | int | str, bound: str = "informational") -> Figure:
    """A figure reported for its own sake: it always passes."""
    return Figure(scenario, name, value, bound, True)


def zero(scenario: int, name: str, value: int) -> Figure:
    """The commonest figure: a count of bad things that must be 0."""
    return Figure(scenario, name, value, "= 0", value == 0)


def at_least(scenario: int, name: str, value: float | int, minimum: float | int) -> Figure:
    return Figure(scenario, name, value, f"≥ {minimum}", value >= minimum)


def at_most(scenario: int, name: str, value: float | int, maximum: float | int, unit: str = "") -> Figure:
    suffix = f" {unit}" if unit else ""
    return Figure(scenario, name, value, f"≤ {maximum}{suffix}", value <= maximum)
