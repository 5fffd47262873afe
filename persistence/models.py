"""SQLModel tables: the durable truth of the service.

The constraints here, not the actors, are what finally guarantee the promises: ``seat_claims`` has one
row per (show, seat) at most, so two live holds or two bookings of one seat cannot both commit whatever
an actor believes; ``shows.epoch`` fences stale actor copies; ``seat_ledger`` is append-only (a trigger
refuses UPDATE and DELETE, see the migration). Table models stay inside ``persistence/``: other layers
get plain dataclasses from the repositories.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import CIDR, JSONB, TSVECTOR
from sqlmodel import Field, SQLModel, col

UTC_NOW = text("now()")


def _ts(nullable: bool = False, default_now: bool = False) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable, server_default=UTC_NOW if default_now else None)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        Index("ux_users_email_lower", text("lower(email)"), unique=True),
        CheckConstraint("role in ('customer', 'box_office', 'gate', 'admin')", name="ck_users_role"),
    )

    id: str = Field(primary_key=True, max_length=36)
    email: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    role: str = Field(default="customer", max_length=20)
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class Movie(SQLModel, table=True):
    __tablename__ = "movies"

    id: str = Field(primary_key=True, max_length=36)
    title: str = Field(max_length=300)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    duration_minutes: int
    language: str | None = Field(default=None, max_length=50)
    genres: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(50)), nullable=False, server_default="{}")
    )
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))
    # Written by PostgreSQL only (migration 0002 defines the function); read by persistence/search.py.
    search_document: str | None = Field(
        default=None,
        sa_column=Column(
            TSVECTOR, Computed("movie_search_document(title, language, genres, description)", persisted=True)
        ),
    )


Index("ix_movies_search_document", col(Movie.search_document), postgresql_using="gin")
Index(
    "ix_movies_title_trgm",
    func.lower(col(Movie.title)).label("title_lower"),
    postgresql_using="gin",
    postgresql_ops={"title_lower": "gin_trgm_ops"},
)


class Theater(SQLModel, table=True):
    __tablename__ = "theaters"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    city: str = Field(max_length=100, index=True)
    address: str = Field(max_length=500)
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class Screen(SQLModel, table=True):
    __tablename__ = "screens"

    id: str = Field(primary_key=True, max_length=36)
    theater_id: str = Field(sa_column=Column(String(36), ForeignKey("theaters.id"), nullable=False, index=True))
    name: str = Field(max_length=100)
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class ScreenSection(SQLModel, table=True):
    """A section of a venue layout (migration 0016): seated rows, or a standing zone of ``capacity``
    places. A cinema screen has none (one unnamed section)."""

    __tablename__ = "screen_sections"

    screen_id: str = Field(sa_column=Column(String(36), ForeignKey("screens.id"), primary_key=True))
    code: str = Field(primary_key=True, max_length=6)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=10)
    category: str = Field(max_length=50)
    capacity: int
    ordinal: int


class ScreenSeat(SQLModel, table=True):
    """One place of a screen's layout. ``row_index`` 0 is its section's row nearest the screen or stage;
    a standing zone's places have no row (``standing``, ``number`` 1..capacity)."""

    __tablename__ = "screen_seats"

    screen_id: str = Field(sa_column=Column(String(36), ForeignKey("screens.id"), primary_key=True))
    seat_id: str = Field(primary_key=True, max_length=16)
    row_label: str = Field(max_length=8)
    row_index: int
    number: int
    category: str = Field(max_length=50)
    section: str = Field(default="", sa_column=Column(String(6), nullable=False, server_default=""))
    standing: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))


class ShowZone(SQLModel, table=True):
    """A standing zone of a show: its capacity and how many of its places are claimed. ``taken`` is kept
    by a trigger on ``seat_claims`` and bounded by a CHECK constraint (migration 0016): PostgreSQL refuses
    the claim that would overfill the zone, whoever writes it."""

    __tablename__ = "show_zones"
    __table_args__ = (CheckConstraint("taken BETWEEN 0 AND capacity", name="ck_show_zones_capacity"),)

    show_id: str = Field(sa_column=Column(String(36), ForeignKey("shows.id"), primary_key=True))
    zone: str = Field(primary_key=True, max_length=6)
    capacity: int
    taken: int = 0


class Show(SQLModel, table=True):
    """A screening. ``epoch`` is bumped by every activation of its actor (fencing token)."""

    __tablename__ = "shows"
    __table_args__ = (
        CheckConstraint("status in ('on_sale', 'closed', 'cancelled')", name="ck_shows_status"),
        Index("ix_shows_movie_starts", "movie_id", "starts_at"),
        Index("ix_shows_theater_starts", "theater_id", "starts_at"),
        Index("ix_shows_starts_at", "starts_at"),
        Index("ix_shows_sales_open_at", "sales_open_at", postgresql_where=text("status = 'on_sale'")),
    )

    id: str = Field(primary_key=True, max_length=36)
    movie_id: str = Field(sa_column=Column(String(36), ForeignKey("movies.id"), nullable=False))
    theater_id: str = Field(sa_column=Column(String(36), ForeignKey("theaters.id"), nullable=False))
    screen_id: str = Field(sa_column=Column(String(36), ForeignKey("screens.id"), nullable=False))
    starts_at: datetime = Field(sa_column=_ts())
    prices: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    hold_ttl_seconds: int
    status: str = Field(default="on_sale", max_length=20)
    epoch: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))
    # The sales schedule: NULL means from creation, and until the show starts.
    sales_open_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    sales_close_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # Under hosted placement: the show runs in a Ray actor of its own (promoted for its crowd), not a host.
    own_actor: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    # Sells only to accounts its waiting room (``waiting_rooms``, ``waiting_room/``) has admitted.
    waiting_room: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    # A ticket may come back in after an exit scan (migration 0017; off by default).
    reentry: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))


class BlockedSeat(SQLModel, table=True):
    __tablename__ = "blocked_seats"

    show_id: str = Field(sa_column=Column(String(36), ForeignKey("shows.id"), primary_key=True))
    seat_id: str = Field(primary_key=True, max_length=16)


class HoldRow(SQLModel, table=True):
    """Every hold ever made. ``status`` moves active → released | expired | confirmed | closed."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("status in ('active', 'released', 'expired', 'confirmed', 'closed')", name="ck_holds_status"),
        Index("ix_holds_show_active", "show_id", postgresql_where=text("status = 'active'")),
        Index("ix_holds_active_expiry", "expires_at", postgresql_where=text("status = 'active'")),
        Index("ix_holds_user", "user_id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    show_id: str = Field(sa_column=Column(String(36), ForeignKey("shows.id"), nullable=False))
    user_id: str = Field(sa_column=Column(String(36), ForeignKey("users.id"), nullable=False))
    seat_ids: list[str] = Field(sa_column=Column(ARRAY(String(16)), nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    extensions: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    status: str = Field(default="active", max_length=20)
    ended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    fee: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(12, 2), nullable=False, server_default="0"))
    # Set while the hold is being paid for: the payment's idempotency key, and the expiry the hold goes
    # back to if the payment fails (``expires_at`` then covers the bounded payment window).
    payment_key: str | None = Field(default=None, max_length=100)
    resume_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class BookingRow(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("status in ('confirmed', 'cancelled')", name="ck_bookings_status"),
        Index("ix_bookings_user", "user_id"),
        Index("ix_bookings_show", "show_id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    show_id: str = Field(sa_column=Column(String(36), ForeignKey("shows.id"), nullable=False))
    user_id: str = Field(sa_column=Column(String(36), ForeignKey("users.id"), nullable=False))
    seat_ids: list[str] = Field(sa_column=Column(ARRAY(String(16)), nullable=False))
    hold_ids: list[str] = Field(sa_column=Column(ARRAY(String(36)), nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    payment_ref: str | None = Field(default=None, max_length=100)
    # Box-office sales: the staff account that sold it, and the walk-in customer it was sold to.
    sold_by: str | None = Field(default=None, sa_column=Column(String(36), ForeignKey("users.id"), nullable=True))
    customer_name: str | None = Field(default=None, max_length=200)
    status: str = Field(default="confirmed", max_length=20)
    created_at: datetime = Field(sa_column=_ts())
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    fee: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(12, 2), nullable=False, server_default="0"))
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    cancel_reason: str | None = Field(default=None, max_length=30)
    refund_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2), nullable=True))


class SeatClaim(SQLModel, table=True):
    """Who owns a seat right now: at most one row per (show, seat), by primary key.

    A hold inserts claims; release and expiry delete them; confirmation turns them into booked claims
    (``booking_id`` set, ``expires_at`` cleared). A second hold or booking of a claimed seat violates the
    primary key and its whole transaction rolls back.
    """

    __tablename__ = "seat_claims"
    __table_args__ = (CheckConstraint("(booking_id is null) <> (hold_id is null)", name="ck_seat_claims_one_owner"),)

    show_id: str = Field(sa_column=Column(String(36), ForeignKey("shows.id"), primary_key=True))
    seat_id: str = Field(primary_key=True, max_length=16)
    user_id: str = Field(sa_column=Column(String(36), ForeignKey("users.id"), nullable=False))
    hold_id: str | None = Field(default=None, sa_column=Column(String(36), ForeignKey("holds.id")))
    booking_id: str | None = Field(default=None, sa_column=Column(String(36), ForeignKey("bookings.id")))
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class SeatLedger(SQLModel, table=True):
    """Append-only history of every seat: what happened, to which seat, for whom, when, under which
    epoch of the show's actor."""

    __tablename__ = "seat_ledger"
    __table_args__ = (Index("ix_seat_ledger_show_seat", "show_id", "seat_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    show_id: str = Field(max_length=36)
    seat_id: str = Field(max_length=16)
    event: str = Field(max_length=20)
    user_id: str | None = Field(default=None, max_length=36)
    hold_id: str | None = Field(default=None, max_length=36)
    booking_id: str | None = Field(default=None, max_length=36)
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(sa_column=_ts(default_now=True))


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a request carrying an ``Idempotency-Key``, per account and key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),
        Index("ix_idempotency_keys_created_at", "created_at"),  # retention (migration 0009)
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    user_id: str = Field(max_length=36)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class Payment(SQLModel, table=True):
    """One payment attempt for a set of holds, keyed by the idempotency key the gateway is charged with.

    ``status``: ``pending`` (asked for; outcome not yet known here) → ``captured`` (booked) | ``declined`` |
    ``failed`` (the gateway never charged) | ``refund_pending`` (money to give back) → ``refunded``. The
    show actor writes the row in the transaction that puts the holds into payment-pending, so no charge is
    ever asked for that this table does not know; the reconciler settles the rest.
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(
            "status in ('pending', 'captured', 'declined', 'failed', 'refund_pending', 'refunded')",
            name="ck_payments_status",
        ),
        Index("ix_payments_unsettled", "updated_at", postgresql_where=text("status in ('pending', 'refund_pending')")),
        Index("ix_payments_booking", "booking_id"),
    )

    id: str = Field(primary_key=True, max_length=100)
    show_id: str = Field(sa_column=Column(String(36), ForeignKey("shows.id"), nullable=False))
    user_id: str = Field(sa_column=Column(String(36), ForeignKey("users.id"), nullable=False))
    hold_ids: list[str] = Field(sa_column=Column(ARRAY(String(36)), nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    status: str = Field(max_length=20)
    charge_id: str | None = Field(default=None, max_length=100)
    booking_id: str | None = Field(default=None, max_length=36)
    refund_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2), nullable=True))
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    customer_name: str | None = Field(default=None, max_length=200)  # box-office sales: the walk-in customer
    # The Idempotency-Key and fingerprint of the request that began the payment: whoever books it (the
    # request, or the reconciler after a lost answer) stores the booking as that key's answer.
    request_key: str | None = Field(default=None, max_length=255)
    request_hash: str | None = Field(default=None, max_length=64)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))
    updated_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class NotificationOutbox(SQLModel, table=True):
    """Events to notify people of, written in the same transaction as the change they report.

    ``kind``: ``booking.confirmed``, ``booking.cancelled``, ``booking.refunded``, ``hold.expiring``.
    ``payload`` is JSON (ids, seats, amounts, times). A relay copies unrelayed rows, in ``id`` order, to a
    Redis Stream and sets ``relayed_at``; delivery (e-mail, webhooks) reads the stream.
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_unrelayed", "id", postgresql_where=text("relayed_at is null")),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=40)
    user_id: str | None = Field(default=None, max_length=36)
    show_id: str | None = Field(default=None, max_length=36)
    payload: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))
    relayed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ServiceSecret(SQLModel, table=True):
    """Generated secrets that must survive restarts (the token signing key when none is configured)."""

    __tablename__ = "service_secrets"

    name: str = Field(primary_key=True, max_length=50)
    value: str = Field(sa_column=Column(Text, nullable=False))


class BlockedNetwork(SQLModel, table=True):
    """Client addresses refused before any route runs; admins edit the list through the API."""

    __tablename__ = "blocked_networks"

    network: str = Field(sa_column=Column(CIDR, primary_key=True))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_by: str | None = Field(default=None, max_length=36)
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class HoldReminder(SQLModel, table=True):
    """A ``hold.expiring`` reminder was written for this hold and deadline (migration 0005).

    The reminder sweep claims a hold by inserting here with ``ON CONFLICT DO NOTHING``, so concurrent sweeps
    write one reminder per deadline; extending a hold (a new ``expires_at``) earns a new reminder.
    """

    __tablename__ = "hold_reminders"

    hold_id: str = Field(sa_column=Column(String(36), ForeignKey("holds.id"), primary_key=True))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    reminded_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class NotificationWebhook(SQLModel, table=True):
    """A URL an admin registered for notification events. ``events`` lists the kinds it wants (``*``: all);
    its secret signs every delivery (Standard Webhooks) and is shown once, at registration. The secret is
    kept Fernet-encrypted in ``secret_ciphertext`` (``notifications/secret_box.py``); ``secret`` holds a
    plain one only from before migration 0010, until the service's start-up encrypts it and clears it."""

    __tablename__ = "notification_webhooks"
    __table_args__ = (
        CheckConstraint(
            "secret IS NOT NULL OR secret_ciphertext IS NOT NULL", name="ck_notification_webhooks_has_secret"
        ),
    )

    id: str = Field(primary_key=True, max_length=36)
    url: str = Field(sa_column=Column(Text, nullable=False))
    events: list[str] = Field(sa_column=Column(ARRAY(String(40)), nullable=False))
    secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    secret_ciphertext: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_by: str | None = Field(default=None, max_length=36)
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class NotificationDelivery(SQLModel, table=True):
    """One outbox event to one target (``channel`` ``email``: a user id; ``webhook``: a webhook id).

    ``delivered_at`` set: done, never sent again, however often the stream entry is redelivered.
    ``lease_until`` in the future: an attempt is in flight in some process. ``attempts`` counts every
    attempt started, so the retry bound holds across consumer crashes.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        CheckConstraint("channel in ('email', 'webhook')", name="ck_notification_deliveries_channel"),
        Index("ix_notification_deliveries_created_at", "created_at"),  # retention (migration 0009)
    )

    # No reference to the outbox row: the ledger may be kept longer than the event (migration 0009).
    outbox_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    channel: str = Field(primary_key=True, max_length=20)
    target: str = Field(primary_key=True, max_length=100)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    lease_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))


class NotificationOutcome(SQLModel, table=True):
    """An event whose stream entry was finished: ``delivered`` (every target) or ``dead`` (dead-lettered).

    If Redis loses the stream, relayed events without an outcome are relayed again (migration 0005).
    """

    __tablename__ = "notification_outcomes"
    __table_args__ = (
        CheckConstraint("outcome in ('delivered', 'dead')", name="ck_notification_outcomes_outcome"),
        Index("ix_notification_outcomes_delivered", "settled_at", postgresql_where=text("outcome = 'delivered'")),
    )

    outbox_id: int = Field(sa_column=Column(BigInteger, ForeignKey("notification_outbox.id"), primary_key=True))
    outcome: str = Field(max_length=20)
    settled_at: datetime | None = Field(default=None, sa_column=_ts(default_now=True))
