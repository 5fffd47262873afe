"""retention: what the pruning job needs to find old rows cheaply, and a ledger that may outlive its events

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:00:00.000000

* ``ix_idempotency_keys_created_at``: keys past their lifetime, oldest first.
* ``ix_notification_outcomes_delivered``: events finished as ``delivered``, by when (``dead`` ones are kept
  until replayed, so they are not in it).
* ``ix_notification_deliveries_created_at``: delivery-ledger rows, oldest first.
* ``notification_deliveries`` no longer references ``notification_outbox``: the ledger (what was sent to
  whom) is kept longer than the events' payloads by default (30 days against 7), so a ledger row may
  outlive its outbox row. Outbox ids are never reused, so such a row still names one event only; and a
  stream entry redelivered after its event was pruned still finds its targets marked delivered.
  ``notification_outcomes`` keeps its reference: an outcome is pruned with its event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_index(
        "ix_notification_outcomes_delivered",
        "notification_outcomes",
        ["settled_at"],
        postgresql_where=sa.text("outcome = 'delivered'"),
    )
    op.create_index("ix_notification_deliveries_created_at", "notification_deliveries", ["created_at"])
    op.drop_constraint("notification_deliveries_outbox_id_fkey", "notification_deliveries", type_="foreignkey")


def downgrade() -> None:
    # Ledger rows whose event was pruned would violate the restored reference: they go first.
    op.execute(
        "DELETE FROM notification_deliveries d "
        "WHERE NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.id = d.outbox_id)"
    )
    op.create_foreign_key(
        "notification_deliveries_outbox_id_fkey",
        "notification_deliveries",
        "notification_outbox",
        ["outbox_id"],
        ["id"],
    )
    op.drop_index("ix_notification_deliveries_created_at", table_name="notification_deliveries")
    op.drop_index("ix_notification_outcomes_delivered", table_name="notification_outcomes")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
