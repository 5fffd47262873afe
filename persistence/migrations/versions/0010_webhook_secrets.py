"""webhook signing secrets encrypted at rest

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00.000000

* ``notification_webhooks.secret_ciphertext``: the webhook's signing secret, Fernet-encrypted with the
  service's webhook secret keys (``notifications/secret_box.py``). New webhooks store only this.
* ``notification_webhooks.secret`` (plain text) becomes nullable and is emptied by the service, not here:
  the keys are the service's configuration (``BOOKING_WEBHOOK_SECRET_KEYS`` or a key file in the data
  directory) and a migration should not need them. At start-up, right after migrating, ``main.py`` seals
  every plain secret still present and clears it (``WebhookStore.seal_secrets``), in the same pass that
  re-encrypts secrets sealed by an older key. Until then, deliveries sign with the plain secret as before.
* A check that every webhook keeps one of the two.

Downgrade restores the plain column only while no row depends on the encrypted one; past that point it
refuses (the secrets cannot be decrypted without the service's keys): register those webhooks anew after
downgrading, or decrypt them with the service first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notification_webhooks", sa.Column("secret_ciphertext", sa.Text(), nullable=True))
    op.alter_column("notification_webhooks", "secret", existing_type=sa.Text(), nullable=True)
    op.create_check_constraint(
        "ck_notification_webhooks_has_secret",
        "notification_webhooks",
        "secret IS NOT NULL OR secret_ciphertext IS NOT NULL",
    )


def downgrade() -> None:
    sealed_only = (
        op.get_bind().execute(sa.text("SELECT count(*) FROM notification_webhooks WHERE secret IS NULL")).scalar_one()
    )
    if sealed_only:
        raise RuntimeError(
            f"{sealed_only} webhooks keep their secret only encrypted; delete them (and register them again "
            "after the downgrade) before downgrading below 0010"
        )
    op.drop_constraint("ck_notification_webhooks_has_secret", "notification_webhooks", type_="check")
    op.alter_column("notification_webhooks", "secret", existing_type=sa.Text(), nullable=False)
    op.drop_column("notification_webhooks", "secret_ciphertext")
