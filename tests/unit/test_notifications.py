"""The pure parts of notifications: signatures, the retry schedule, stream entries, e-mail rendering."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import time
import typing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from api.routes.notifications import EventFilter
from notifications import events
from notifications.events import MalformedEntry, Notification, webhook_body
from notifications.mail import MailDirMailer, Recipient, ShowDetails, render_email
from notifications.retry import RetryPolicy
from notifications.signing import is_standard_secret, new_secret, signed_headers

CREATED = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
SHOW = ShowDetails("The Long\nNight", "Regal", "Pune", datetime(2026, 12, 2, 13, 30, tzinfo=UTC))
TO = Recipient("u-1", "asha@example.com", "Asha")


def notification(kind: str, **payload: object) -> Notification:
    return Notification(42, kind, "u-1", "s-1", payload, CREATED)


# -- signatures -------------------------------------------------------------------------------------------


def _verified(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """The receiver's side: the ``standardwebhooks`` library's own verifier, nothing of ours."""
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_a_new_secret_is_standard_and_signs_what_the_librarys_verifier_accepts_and_nothing_else() -> None:
    secret, other = new_secret(), new_secret()
    assert secret != other
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:], validate=True)) == 32
    assert is_standard_secret(secret)
    body = webhook_body(notification(events.BOOKING_CONFIRMED, booking_id="b-1", amount="250.00"))
    headers = signed_headers(secret, "42", int(time.time()), body)
    assert headers["webhook-id"] == "42"
    assert _verified(secret, body, headers)
    assert not _verified(other, body, headers)
    assert not _verified(secret, body.replace(b"250.00", b"0.01"), headers)
    assert not _verified(secret, body, {**headers, "webhook-id": "43"})  # the id is signed: no replay as another
    stale = signed_headers(secret, "42", int(time.time()) - 600, body)
    assert not _verified(secret, body, stale)
    assert "X-Seatwise-Signature" not in headers
    assert "X-Seatwise-Delivery" not in headers


def test_an_old_form_secret_keeps_its_old_header_and_gets_the_standard_ones_where_the_library_reads_it() -> None:
    # Old secrets: "whsec_" and secrets.token_urlsafe(32), 43 characters of [A-Za-z0-9_-].
    # The library drops "-" and "_" and reads the rest as base64: 39 characters it reads, 41 it refuses
    # (one more than a multiple of 4).
    readable = "whsec_" + "Ab9" * 13 + "-_-_"
    unreadable = "whsec_" + "A" * 41 + "--"
    body = b'{"id":42}'
    now = int(time.time())
    for secret, standard in ((readable, True), (unreadable, False)):
        assert not is_standard_secret(secret)
        headers = signed_headers(secret, "42", now, body)
        expected = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["X-Seatwise-Signature"] == f"t={now},v1={expected}"
        assert headers["X-Seatwise-Delivery"] == headers["webhook-id"] == "42"
        assert ("webhook-signature" in headers) is standard
        if standard:
            assert _verified(secret, body, headers)
            assert not _verified(secret, body + b" ", headers)
    with pytest.raises(binascii.Error):
        Webhook(unreadable)  # why it gets no standard signature: no receiver could check one


# -- retries ----------------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert RetryPolicy(5, 1.0, 60.0).schedule() == [1.0, 2.0, 4.0, 8.0]
    assert RetryPolicy(7, 0.5, 3.0).schedule() == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert RetryPolicy(1, 1.0, 1.0).schedule() == []
    assert RetryPolicy(100, 1.0, 60.0).delay(10_000) == 60.0


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(3, 0.1, 1.0)
    assert [policy.exhausted(n) for n in range(5)] == [False, False, False, True, True]


def test_jitter_only_shortens_a_delay_and_by_at_most_its_fraction() -> None:
    policy = RetryPolicy(10, 1.0, 60.0, jitter=0.25)
    rng = random.Random(7)
    delays = [policy.delay(4, rng) for _ in range(500)]
    assert all(6.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100


def test_a_waiting_list_offer_names_the_seats_and_until_when() -> None:
    n = notification(events.WAITLIST_OFFERED, seat_ids=["A1", "A2"], hold_id="h-1", expires_at="2026-12-02T13:05:00Z")
    message = render_email(n, TO, SHOW, "s@x")
    assert message["Subject"].startswith("Seats for you for The Long Night, until ")
    body = message.get_content()
    for text in ("A1, A2", "Regal, Pune", "Pay before then"):
        assert text in body


@pytest.mark.parametrize(
    ("attempts", "base", "cap", "jitter"), [(0, 1, 1, 0), (3, 0, 1, 0), (3, 2, 1, 0), (3, 1, 2, 1)]
)
def test_nonsense_policies_are_refused(attempts: int, base: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"need|jitter"):
        RetryPolicy(attempts, base, cap, jitter)


# -- stream entries and webhook bodies ----------------------------------------------------------------------


def test_a_notification_survives_the_stream() -> None:
    original = notification(events.BOOKING_CONFIRMED, booking_id="b-1", seat_ids=["A1", "A2"], amount="250.00")
    fields = original.stream_fields()
    assert all(isinstance(v, str) for v in fields.values())
    assert Notification.from_stream_fields(fields) == original


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"outbox_id": "x", "kind": "k", "payload": "{}", "created_at": CREATED.isoformat()},
        {"outbox_id": "1", "kind": "k", "payload": "[1]", "created_at": CREATED.isoformat()},
        {"outbox_id": "1", "kind": "k", "payload": "{", "created_at": CREATED.isoformat()},
        {"outbox_id": "1", "kind": "k", "payload": "{}", "created_at": "yesterday"},
    ],
)
def test_a_stream_entry_that_is_not_a_notification_is_malformed(fields: dict[str, str]) -> None:
    with pytest.raises(MalformedEntry):
        Notification.from_stream_fields(fields)


def test_a_reminder_for_a_hold_that_has_expired_is_moot() -> None:
    reminder = notification(events.HOLD_EXPIRING, expires_at="2026-12-01T18:10:00.000000Z")
    assert not reminder.is_moot(datetime(2026, 12, 1, 18, 9, 59, tzinfo=UTC))
    assert reminder.is_moot(datetime(2026, 12, 1, 18, 10, tzinfo=UTC))
    assert not notification(events.HOLD_EXPIRING, expires_at="soon").is_moot(CREATED)
    assert not notification(events.BOOKING_CONFIRMED, expires_at="2000-01-01T00:00:00Z").is_moot(CREATED)


def test_the_webhook_body_names_the_event_and_carries_the_payload() -> None:
    body = webhook_body(notification(events.BOOKING_REFUNDED, booking_id="b-1", amount="90.00"))
    assert json.loads(body) == {
        "id": 42,
        "type": "booking.refunded",
        "created_at": "2026-12-01T18:00:00+00:00",
        "data": {"booking_id": "b-1", "amount": "90.00"},
    }
    assert body == webhook_body(notification(events.BOOKING_REFUNDED, amount="90.00", booking_id="b-1"))


def test_the_api_event_filter_offers_every_kind() -> None:
    assert set(typing.get_args(EventFilter)) == {*events.KINDS, events.ALL_KINDS}


# -- e-mail -----------------------------------------------------------------------------------------------


def test_a_confirmation_names_the_movie_theater_time_seats_and_amount() -> None:
    n = notification(events.BOOKING_CONFIRMED, booking_id="b-1", seat_ids=["A1", "A2"], amount="250.00")
    message = render_email(n, TO, SHOW, "Seatwise <no-reply@seatwise.local>")
    assert message["To"] == "asha@example.com"
    assert message["Subject"] == "Your booking for The Long Night is confirmed"
    assert message["Message-ID"] == "<42.booking.confirmed@seatwise.notifications>"
    assert message["X-Seatwise-Delivery"] == "42"
    body = message.get_content()
    for text in ("Hello Asha,", "b-1", "Regal, Pune", "Wed 02 Dec 2026, 13:30 UTC", "Seats: A1, A2", "250.00"):
        assert text in body


@pytest.mark.parametrize(
    ("kind", "payload", "subject", "body_text"),
    [
        (
            events.BOOKING_CANCELLED,
            {"booking_id": "b-1", "reason": "show cancelled"},
            "was cancelled",
            "show cancelled",
        ),
        (events.BOOKING_REFUNDED, {"booking_id": "b-1", "amount": "90.00"}, "refund of 90.00", "A refund of 90.00"),
        (
            events.HOLD_EXPIRING,
            {"hold_id": "h-1", "seat_ids": ["B3"], "expires_at": "2026-12-01T18:10:00.000000Z"},
            "held until Tue 01 Dec 2026, 18:10 UTC",
            "Pay before then",
        ),
        ("something.else", {"x": 1}, "Seatwise: something.else", "x: 1"),
    ],
)
def test_every_kind_renders(kind: str, payload: dict[str, object], subject: str, body_text: str) -> None:
    message = render_email(notification(kind, **payload), TO, SHOW if kind != "something.else" else None, "s@x")
    assert subject in message["Subject"]
    assert body_text in message.get_content()


def test_a_message_without_show_details_or_name_still_renders() -> None:
    message = render_email(notification(events.BOOKING_CONFIRMED), Recipient("u", "a@b.c"), None, "s@x")
    assert message["Subject"] == "Your booking is confirmed"
    assert message.get_content().startswith("Hello,")


def test_the_mail_directory_names_a_file_per_event(tmp_path: Path) -> None:
    mailer = MailDirMailer(tmp_path)
    message = render_email(notification(events.BOOKING_CONFIRMED), TO, SHOW, "s@x")
    assert mailer.path_for(message) == tmp_path / "000000000042-booking.confirmed.eml"
