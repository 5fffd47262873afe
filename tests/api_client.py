"""The HTTP-contract client the tests use: ``harness.client``, re-exported under its old name.

It lives in the packaged ``harness`` so the benchmarks, the load harness and the reliability suite can use
it from an installed tree too (the ``tests`` package is not installed).
"""

from __future__ import annotations

from harness.client import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ShowFixture,
    admin_headers,
    bulk_users,
    create_show,
    hold_body,
    new_user,
    pay_body,
    seed_headers,
    token,
)

__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "ShowFixture",
    "admin_headers",
    "bulk_users",
    "create_show",
    "hold_body",
    "new_user",
    "pay_body",
    "seed_headers",
    "token",
]
