"""query engine: covering index for analytics scans

Revision ID: 0004_query
Revises: 0001
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0004_query'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_analytics', ['pixel_id', 'name', 'ts', 'utm_source',
                                                     'session_id', 'anonymous_id', 'revenue'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_analytics')
