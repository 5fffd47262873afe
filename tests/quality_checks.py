"""The linters the quality tests check (ruff, ruff format, import-linter, mypy), run in the background for
the whole test session.

mypy over the whole tree is one of the longest single checks of the suite, and it needs one core while
most of the integration tests wait on sockets and timers. ``start`` (called by ``tests/conftest.py`` once
collection has found the quality tests) launches every check at low priority; each quality test then
waits for its own result. A session that does not collect the quality tests starts nothing; whatever is
still running when the session ends is stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

CHECKS: dict[str, list[str]] = {
    "ruff": [sys.executable, "-m", "ruff", "check", "."],
    "ruff-format": [sys.executable, "-m", "ruff", "format", "--check", "."],
    "layers": [str(BIN / "lint-imports")],
    "mypy": [sys.executable, "-m", "mypy", "."],
}

_running: dict[str, subprocess.Popen[str]] = {}


def _lower_priority() -> None:
    os.nice(10)  # background work: the tests running meanwhile come first


def start() -> None:
    """Launch every check that is not running yet."""
    for name, command in CHECKS.items():
        if name not in _running:
            _running[name] = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                preexec_fn=_lower_priority,  # set up before any thread of the session exists
            )


def result(name: str, timeout: float = 600.0) -> tuple[int, str]:
    """The exit status and output of the check ``name``, started now if the session did not start it."""
    start()
    output, _ = _running[name].communicate(timeout=timeout)
    return _running[name].returncode, output


def stop() -> None:
    for process in _running.values():
        if process.poll() is None:
            process.kill()
            process.communicate()
    _running.clear()
