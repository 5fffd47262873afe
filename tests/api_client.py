"""The HTTP-contract client the tests use: ``harness.client``, re-exported whole under its old name.

``harness.client`` lives in the packaged ``harness`` so the benchmarks, the load harness and the reliability
suite can use it from an installed tree too (the ``tests`` package is not installed).
"""

from __future__ import annotations

from harness.client import *  # noqa: F403 (this module is harness.client under another name)
