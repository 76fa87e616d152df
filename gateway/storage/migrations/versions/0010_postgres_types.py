"""column types PostgreSQL enforces as the service expects them (issue #16)

SQLite never enforces a VARCHAR length and its INTEGER is 64-bit; PostgreSQL does and is not:
- webhook.description: VARCHAR(2000) while ClickStack (and our validation) allow 2048, so a
  2001..2048-character description was a 500;
- event.impressions, event.clicks: whole numbers up to 2^53 - 1 are accepted, INTEGER stops
  at 2^31 - 1 (such a row was refused);
- event.id, audit_log.id: they grow with traffic; a serial INTEGER runs out at 2^31.

On SQLite nothing changes (altering a column there copies the table, which fails while
alerts reference their webhooks, and would buy nothing).

Revision ID: 0010_postgres_types
Revises: 0009_user_pixels
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_postgres_types"
down_revision: str | Sequence[str] | None = "0009_user_pixels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("ALTER TABLE webhook ALTER COLUMN description TYPE VARCHAR(2048)")
    # One statement per table: PostgreSQL rewrites the table once.
    op.execute("ALTER TABLE event ALTER COLUMN id TYPE BIGINT, "
               "ALTER COLUMN impressions TYPE BIGINT, ALTER COLUMN clicks TYPE BIGINT")
    op.execute("ALTER SEQUENCE event_id_seq AS BIGINT")
    op.execute("ALTER TABLE audit_log ALTER COLUMN id TYPE BIGINT")
    op.execute("ALTER SEQUENCE audit_log_id_seq AS BIGINT")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("ALTER SEQUENCE audit_log_id_seq AS INTEGER")
    op.execute("ALTER TABLE audit_log ALTER COLUMN id TYPE INTEGER")
    op.execute("ALTER SEQUENCE event_id_seq AS INTEGER")
    op.execute("ALTER TABLE event ALTER COLUMN id TYPE INTEGER, "
               "ALTER COLUMN impressions TYPE INTEGER, ALTER COLUMN clicks TYPE INTEGER")
    op.execute("ALTER TABLE webhook ALTER COLUMN description TYPE VARCHAR(2000)")
