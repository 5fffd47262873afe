"""payments, fees, the notification outbox and the sales schedule

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:00:00.000000

* ``payments``: one row per payment attempt, keyed by the idempotency key the gateway is called with.
  Written by the show actor in the same transaction that puts the holds into payment-pending, so a charge
  the service ever asked for is known here before the gateway hears of it; the reconciler resolves every
  row whose outcome is unknown and refunds every charge without a booking.
* ``holds.payment_key`` / ``holds.resume_expires_at``: a hold being paid for, and the expiry it returns to
  if the payment fails. ``holds.fee`` / ``bookings.fee``: the convenience fee on top of the seats' price.
* ``bookings.cancelled_at`` / ``cancel_reason`` / ``refund_amount``: how a booking ended.
* ``shows.sales_open_at`` / ``sales_close_at``: the sales schedule (NULL: from creation / until start).
* ``notification_outbox``: events for notification delivery, written in the transaction of the change
  they report; a relay moves them to a Redis Stream.
* ``payment_charges`` is dropped: the simulated gateway is its own service now, with its own ledger
  (schema ``gateway``, created by ``payments.simulator``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("payment_charges")
    op.add_column("holds", sa.Column("payment_key", sa.String(length=100), nullable=True))
    op.add_column("holds", sa.Column("resume_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("holds", sa.Column("fee", sa.Numeric(12, 2), server_default="0", nullable=False))
    op.add_column("bookings", sa.Column("fee", sa.Numeric(12, 2), server_default="0", nullable=False))
    op.add_column("bookings", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("cancel_reason", sa.String(length=30), nullable=True))
    op.add_column("bookings", sa.Column("refund_amount", sa.Numeric(12, 2), nullable=True))
    op.add_column("shows", sa.Column("sales_open_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("shows", sa.Column("sales_close_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("show_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("hold_ids", postgresql.ARRAY(sa.String(length=36)), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("charge_id", sa.String(length=100), nullable=True),
        sa.Column("booking_id", sa.String(length=36), nullable=True),
        sa.Column("refund_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status in ('pending', 'captured', 'declined', 'failed', 'refund_pending', 'refunded')",
            name="ck_payments_status",
        ),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_payments_unsettled",
        "payments",
        ["updated_at"],
        postgresql_where=sa.text("status in ('pending', 'refund_pending')"),
    )
    op.create_index("ix_payments_booking", "payments", ["booking_id"])
    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("show_id", sa.String(length=36), nullable=True),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_notification_outbox_unrelayed",
        "notification_outbox",
        ["id"],
        postgresql_where=sa.text("relayed_at is null"),
    )


def downgrade() -> None:
    op.create_table(
        "payment_charges",
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("charge_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.drop_index("ix_notification_outbox_unrelayed", table_name="notification_outbox")
    op.drop_table("notification_outbox")
    op.drop_index("ix_payments_booking", table_name="payments")
    op.drop_index("ix_payments_unsettled", table_name="payments")
    op.drop_table("payments")
    for table, column in [
        ("shows", "sales_close_at"),
        ("shows", "sales_open_at"),
        ("bookings", "refund_amount"),
        ("bookings", "cancel_reason"),
        ("bookings", "cancelled_at"),
        ("bookings", "fee"),
        ("holds", "fee"),
        ("holds", "resume_expires_at"),
        ("holds", "payment_key"),
    ]:
        op.drop_column(table, column)
