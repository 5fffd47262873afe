"""A batch and its replies survive ``actors.wire`` as the values they were: what the API sends a show's
actor (or a host, by show) and what it gets back, replies that are domain errors included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from actors.commands import CancelShow, ConfirmHolds, Done, HoldBestAvailable, HoldSeats, ReleaseHold
from actors.errors import Moved, SeatsUnavailable, Unavailable
from actors.seat_map_core import Hold
from actors.wire import pack, unpack


def test_a_batch_and_its_replies_come_back_equal() -> None:
    now = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    commands = [
        HoldSeats("u-1", ("A1", "A2"), idempotency_key="k", request_hash="h"),
        HoldBestAvailable("u-2", 3, "standard"),
        ReleaseHold("u-1", "h-1"),
        ConfirmHolds("u-1", ("h-1",), payment_ref="pay-1"),
        CancelShow(),
    ]
    hold = Hold("h-1", "u-1", ("A1", "A2"), now, now + timedelta(minutes=10), Decimal("500.50"), 0, Decimal("2.25"))
    replies: list[object] = [hold, SeatsUnavailable(["A3"]), Done(), Unavailable("retry", 2), Moved("show-1", True)]
    for value in (commands, {"show-1": commands, "show-2": commands[:1]}):
        assert unpack(pack(value)) == value
    back = unpack(pack(replies))
    assert back[0] == hold
    assert back[0].amount == Decimal("500.50")
    assert back[0].expires_at.tzinfo is not None
    for sent, came in zip(replies[1:], back[1:], strict=True):
        assert type(came) is type(sent)
        if isinstance(sent, Exception):  # errors compare by identity: compare what they carry
            assert vars(came) == vars(sent)
            assert isinstance(came, Exception)
            assert came.args == sent.args
        else:
            assert came == sent
