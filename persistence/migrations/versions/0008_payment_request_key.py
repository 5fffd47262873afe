"""the request that started a payment, so whoever books it can answer that request

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 23:10:00.000000

* ``payments.request_key`` / ``payments.request_hash``: the ``Idempotency-Key`` (and request fingerprint)
  of the pay or box-office request that began the payment. When the gateway's answer is lost, the
  request answers 503 and frees its key; if the reconciler then books the payment, it stores the
  booking as that key's answer in the booking's transaction, so the client's retry with the same key
  replays the booking instead of being told it holds nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("request_key", sa.String(length=255), nullable=True))
    op.add_column("payments", sa.Column("request_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("payments", "request_hash")
    op.drop_column("payments", "request_key")
