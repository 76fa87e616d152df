"""hourly rollups of events (exact, maintained at insert) and the indexes they need

Backfills every pixel's rollups from its events (gateway/storage/rollups.py), so a database
upgraded in place answers from rollups at once.

Revision ID: 0007_rollups
Revises: 0006_merge_heads
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_rollups"
down_revision: str | Sequence[str] | None = "0006_merge_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMENSIONS = ("utm_source", "utm_medium", "utm_campaign", "channel", "country", "device",
               "platform", "campaign", "currency", "customer_type")
_NUMERIC = ("revenue", "spend", "impressions", "clicks")


def _dimension_columns() -> list[sa.Column]:
    return [*(sa.Column(f, sa.String(256), nullable=True) for f in _DIMENSIONS),
            sa.Column("new_customer", sa.Boolean(), nullable=True)]


def upgrade() -> None:
    op.create_table(
        "event_rollup",
        sa.Column("pixel_id", sa.String(36), nullable=False),
        sa.Column("rollup", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("dk", sa.String(32), nullable=False),
        *_dimension_columns(),
        sa.Column("n", sa.BigInteger(), nullable=False),
        *(c for n in _NUMERIC for c in (
            sa.Column(f"{n}_n", sa.BigInteger(), nullable=False),
            sa.Column(f"{n}_sum", sa.Float(), nullable=True),
            sa.Column(f"{n}_min", sa.Float(), nullable=True),
            sa.Column(f"{n}_max", sa.Float(), nullable=True))),
        sa.PrimaryKeyConstraint("pixel_id", "rollup", "name", "hour", "dk"),
    )
    op.create_table(
        "event_rollup_distinct",
        sa.Column("pixel_id", sa.String(36), nullable=False),
        sa.Column("rollup", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("col", sa.String(16), nullable=False),
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("gap", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dk", sa.String(32), nullable=False),
        *_dimension_columns(),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pixel_id", "rollup", "name", "col", "hour", "gap", "dk"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_pixel_session", ["pixel_id", "session_id"])
        batch_op.create_index("ix_event_pixel_anonymous", ["pixel_id", "anonymous_id"])
        batch_op.create_index("ix_event_pixel_user", ["pixel_id", "user_id"])
    _backfill()


def _backfill() -> None:
    # Imported here: the migration's own table definitions above stay frozen, the
    # maintenance code is the one the running gateway uses.
    from gateway.storage.rollups import SyncExecutor, rebuild_rollups, run_to_completion

    conn = op.get_bind()
    ex = SyncExecutor(conn)
    for (pixel_id,) in conn.execute(sa.text("SELECT DISTINCT pixel_id FROM event")).all():
        run_to_completion(rebuild_rollups(ex, pixel_id))


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_pixel_user")
        batch_op.drop_index("ix_event_pixel_anonymous")
        batch_op.drop_index("ix_event_pixel_session")
    op.drop_table("event_rollup_distinct")
    op.drop_table("event_rollup")
