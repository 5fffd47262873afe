"""Backing services for the integration tests: ``harness.backing``, re-exported whole under its old name.

It lives in the packaged ``harness`` so the reliability suite and the benchmarks can provision databases
from an installed tree too (the ``tests`` package is not installed).
"""

from __future__ import annotations

from harness.backing import *  # noqa: F403 (this module is harness.backing under another name)
