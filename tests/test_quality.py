"""The code base stays ruff- and mypy-clean and keeps its layers: part of the one test command, so CI enforces it.

The checks run in the background from the start of the session (``tests/quality_checks.py``); each test
here waits for its own result."""

from __future__ import annotations

from tests import quality_checks


def check(name: str) -> None:
    status, output = quality_checks.result(name)
    assert status == 0, output


def test_ruff_is_clean() -> None:
    check("ruff")


def test_ruff_format_is_clean() -> None:
    check("ruff-format")


def test_the_layers_hold_and_no_package_imports_its_way_back() -> None:
    """import-linter's layers contract (pyproject.toml): also rules out every circle between packages."""
    check("layers")


def test_mypy_strict_is_clean() -> None:
    check("mypy")
