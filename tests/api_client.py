"""The HTTP-contract client the tests use: ``harness.client``, re-exported whole under its old name, and the
pinned v0 calls (HoldSeat, SubmitPayment) the tests make over and over.

``harness.client`` lives in the packaged ``harness`` so the benchmarks, the load harness and the reliability
suite can use it from an installed tree too (the ``tests`` package is not installed).
"""

from __future__ import annotations

import httpx

from harness.client import *  # noqa: F403 (this module is harness.client under another name)
from harness.client import ShowFixture, hold_body, pay_body, seed_headers


def seed_hold(client: httpx.Client, show: ShowFixture, user_token: str, seats: list[str]) -> httpx.Response:
    """``POST /HoldSeat/api/v0/{movie}``: hold ``seats`` of ``show`` for the user of ``user_token``."""
    return client.post(
        f"/HoldSeat/api/v0/{show.movie_id}", headers=seed_headers(user_token), json=hold_body(show, seats)
    )


def seed_pay(
    client: httpx.Client, show: ShowFixture, user_token: str, card: str = "4242424242424242", key: str | None = None
) -> httpx.Response:
    """``POST /SubmitPayment/api/v0/{show}``: pay for the user's holds on ``show`` with ``card``, under the
    ``Idempotency-Key`` ``key`` if one is given."""
    headers = seed_headers(user_token) | ({"Idempotency-Key": key} if key else {})
    return client.post(f"/SubmitPayment/api/v0/{show.show_id}", headers=headers, json=pay_body(show, card))
