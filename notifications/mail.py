"""E-mail: rendering a notification for its account, and the two ways of sending it.

``render_email`` is pure (the consumer looks up the address and the show's details and passes them in).
``SmtpMailer`` sends through the configured server (aiosmtplib, STARTTLS optional); ``MailDirMailer`` is
the embedded default and writes each message as ``<outbox id>-<kind>.eml`` under the mail directory, so a
redelivered event overwrites its file instead of adding another. Messages carry a deterministic
``Message-ID`` and ``X-Seatwise-Delivery`` so mail systems can drop duplicates too.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib

from notifications import events
from notifications.events import Notification
from notifications.signing import DELIVERY_HEADER, EVENT_HEADER


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: str
    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ShowDetails:
    movie_title: str
    theater_name: str
    city: str
    starts_at: datetime


def _one_line(value: object) -> str:
    """Header-safe text: titles may contain newlines, which a header must not."""
    return re.sub(r"\s+", " ", str(value)).strip()


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%a %d %b %Y, %H:%M UTC")


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _seats(payload: dict[str, Any]) -> str:
    seats = payload.get("seat_ids") or []
    return ", ".join(str(s) for s in seats) if isinstance(seats, list) else str(seats)


def _show_lines(show: ShowDetails | None, payload: dict[str, Any]) -> list[str]:
    lines = []
    if show is not None:
        lines += [f"  {_one_line(show.movie_title)}", f"  {_one_line(show.theater_name)}, {_one_line(show.city)}"]
        lines.append(f"  {_when(show.starts_at)}")
    if payload.get("seat_ids"):
        lines.append(f"  Seats: {_seats(payload)}")
    return lines


def _subject_and_body(n: Notification, show: ShowDetails | None) -> tuple[str, list[str]]:
    p = dict(n.payload)
    title = f" for {_one_line(show.movie_title)}" if show else ""
    booking = p.get("booking_id", "")
    if n.kind == events.BOOKING_CONFIRMED:
        body = [f"Your booking {booking} is confirmed.", "", *_show_lines(show, p)]
        if p.get("amount") is not None:
            body.append(f"  Amount paid: {p['amount']}")
        return f"Your booking{title} is confirmed", [*body, "", "Show the booking id at the entrance."]
    if n.kind == events.BOOKING_CANCELLED:
        reason = f" ({_one_line(p['reason'])})" if p.get("reason") else ""
        body = [f"Your booking {booking} was cancelled{reason}.", "", *_show_lines(show, p)]
        return f"Your booking{title} was cancelled", [*body, "", "Any refund due follows in a separate e-mail."]
    if n.kind == events.BOOKING_REFUNDED:
        amount = p.get("amount", "")
        body = [f"A refund of {amount} for booking {booking} is on its way to your card.", "", *_show_lines(show, p)]
        return f"Your refund of {_one_line(amount)}{title}", body
    if n.kind == events.HOLD_EXPIRING:
        expires = _parse_time(p.get("expires_at"))
        until = _when(expires) if expires else str(p.get("expires_at", "soon"))
        body = [f"The seats you are holding are yours until {until}.", "", *_show_lines(show, p)]
        return f"Your seats{title} are held until {until}", [*body, "", "Pay before then to keep them."]
    if n.kind == events.WAITLIST_OFFERED:
        expires = _parse_time(p.get("expires_at"))
        until = _when(expires) if expires else str(p.get("expires_at", "soon"))
        seats = ", ".join(str(s) for s in p.get("seat_ids", []))
        body = [f"Seats came back and they are yours to buy: {seats}, held for you until {until}.", ""]
        body += _show_lines(show, p)
        return f"Seats for you{title}, until {until}", [*body, "", "Pay before then; after that they go to the next."]
    return f"Seatwise: {_one_line(n.kind)}", [f"Event {n.kind}:", "", *(f"  {k}: {v}" for k, v in sorted(p.items()))]


def render_email(n: Notification, to: Recipient, show: ShowDetails | None, sender: str) -> EmailMessage:
    subject, body = _subject_and_body(n, show)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to.email
    message["Subject"] = _one_line(subject)
    message["Date"] = format_datetime(n.created_at.astimezone(UTC))
    message["Message-ID"] = f"<{n.outbox_id}.{n.kind}@seatwise.notifications>"
    message[EVENT_HEADER] = n.kind
    message[DELIVERY_HEADER] = str(n.outbox_id)
    greeting = f"Hello {_one_line(to.name)}," if to.name else "Hello,"
    message.set_content("\n".join([greeting, "", *body, "", "— Seatwise", ""]))
    return message


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    """Sends through an SMTP server; every call opens its own connection (bounded by ``timeout_seconds``)."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    start_tls: bool
    timeout_seconds: float

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.start_tls,
            timeout=self.timeout_seconds,
        )


class MailDirMailer:
    """Writes messages as ``.eml`` files (atomically: a temporary file renamed into place)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, message: EmailMessage) -> Path:
        delivery = re.sub(r"[^0-9A-Za-z]", "", str(message.get(DELIVERY_HEADER, ""))) or "message"
        kind = re.sub(r"[^0-9A-Za-z.-]", "_", str(message.get(EVENT_HEADER, "mail")))
        return self.directory / f"{delivery.zfill(12)}-{kind}.eml"

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path_for(message)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(message.as_bytes())
        partial.replace(path)

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)
