"""API keys' rate tier is one of the known tiers (issue #12)

`api_key.rate_tier` exists since 0001 (a free string of 32 characters, always written through
the keys service, which checked it). The tier now decides each request's rate limits and is
a GraphQL enum, so a value outside the three would fail every listing of keys: stored values
are normalized (case and spaces; anything else becomes `standard`, the default, which never
raises a key's limits), and a CHECK constraint keeps them so. SQLite adds a constraint by
copying the table (batch mode); no other table references `api_key`.

Revision ID: 0010_key_rate_tier
Revises: 0009_user_pixels
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_key_rate_tier"
down_revision: str | Sequence[str] | None = "0009_user_pixels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as this migration knows them (gateway/auth/tiers.py may grow later).
_CHECK = "rate_tier IN ('standard', 'premium', 'enterprise')"


def upgrade() -> None:
    op.execute(sa.text("UPDATE api_key SET rate_tier = lower(trim(rate_tier))"))
    op.execute(sa.text("UPDATE api_key SET rate_tier = 'standard' WHERE NOT (" + _CHECK + ")"))  # noqa: S608  # constant text, no input
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_check_constraint("ck_api_key_rate_tier", _CHECK)


def downgrade() -> None:
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_constraint("ck_api_key_rate_tier", type_="check")
