"""hourly rollups of events (exact, maintained at insert)

Existing events are folded in by the running gateway, in the background (watermark 0).

Revision ID: 0007_rollups
Revises: 0006_merge_heads
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007_rollups"
down_revision: str | Sequence[str] | None = "0006_merge_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMENSIONS = ("utm_source", "utm_medium", "utm_campaign", "channel", "country", "device",
               "platform", "campaign", "currency", "customer_type")
_NUMERIC = ("revenue", "spend", "impressions", "clicks")


def _dimension_columns() -> list[sa.Column[Any]]:
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
    op.create_table(
        "event_rollup_value",
        sa.Column("pixel_id", sa.String(36), nullable=False),
        sa.Column("col", sa.String(16), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("shapes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pixel_id", "col", "value"),
        sqlite_with_rowid=False,
    )
    state = op.create_table(
        "event_rollup_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Existing events are folded by the running gateway, in the background.
    op.bulk_insert(state, [{"id": 1, "last_event_id": 0}])


def downgrade() -> None:
    op.drop_table("event_rollup_state")
    op.drop_table("event_rollup_value")
    op.drop_table("event_rollup_distinct")
    op.drop_table("event_rollup")
