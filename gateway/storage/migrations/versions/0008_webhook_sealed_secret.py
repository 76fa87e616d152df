"""webhook secrets sealed at rest (issue #10): add `webhook.sealed_secret`

A sealed secret (`v1:` + base64 of nonce, ciphertext and tag) is longer than the 256
characters of the clear-text `secret` column, and altering that column's type would make
SQLite copy the table, which its foreign keys (alert.webhook_id) refuse; a new column is a
plain ADD COLUMN. The clear-text rows are sealed by the running gateway on start (the key
derives from GATEWAY_SECRET, which a migration does not see): see
`gateway/services/webhooks.py` (`seal_legacy_secrets`).

Revision ID: 0008_webhook_sealed_secret
Revises: 0007_rollups
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_webhook_sealed_secret"
down_revision: str | Sequence[str] | None = "0007_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_secret", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_column("sealed_secret")
