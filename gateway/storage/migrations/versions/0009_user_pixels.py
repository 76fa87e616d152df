"""users may be restricted to some pixels (issue #10)

Existing users keep every pixel of their organization (NULL).

Revision ID: 0009_user_pixels
Revises: 0008_webhook_sealed_secret
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_user_pixels"
down_revision: str | Sequence[str] | None = "0008_webhook_sealed_secret"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pixel_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("pixel_ids")
