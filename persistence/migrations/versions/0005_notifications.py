"""notification delivery: hold reminders, webhooks, the delivery ledger

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000

* ``hold_reminders``: one row per (hold, expiry deadline) that a ``hold.expiring`` outbox row was written
  for. The sweep claims a hold with ``INSERT … ON CONFLICT DO NOTHING RETURNING``, so sweeps running at
  once in several processes write one reminder each; an extension (a new ``expires_at``) earns a new one.
* ``notification_webhooks``: URLs admins register, with an event filter and the secret deliveries are
  signed with.
* ``notification_deliveries``: one row per (outbox event, channel, target): attempts so far, a lease while
  an attempt is in flight, and ``delivered_at`` once it succeeded. A redelivered stream entry finds the
  row delivered and sends nothing.
* ``notification_outcomes``: an event whose stream entry was finished (``delivered``: every target done;
  ``dead``: moved to the dead letters). Redis may lose the stream (the embedded one keeps nothing across a
  restart); events relayed but not finished are then relayed again, and the ledger skips what was sent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hold_reminders",
        sa.Column("hold_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"]),
        sa.PrimaryKeyConstraint("hold_id", "expires_at"),
    )
    op.create_table(
        "notification_webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("channel in ('email', 'webhook')", name="ck_notification_deliveries_channel"),
        sa.ForeignKeyConstraint(["outbox_id"], ["notification_outbox.id"]),
        sa.PrimaryKeyConstraint("outbox_id", "channel", "target"),
    )
    op.create_table(
        "notification_outcomes",
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("outcome in ('delivered', 'dead')", name="ck_notification_outcomes_outcome"),
        sa.ForeignKeyConstraint(["outbox_id"], ["notification_outbox.id"]),
        sa.PrimaryKeyConstraint("outbox_id"),
    )


def downgrade() -> None:
    op.drop_table("notification_outcomes")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_webhooks")
    op.drop_table("hold_reminders")
