"""merge the branches of issues #3, #5 and #6 into one head

Revision ID: 0006_merge_heads
Revises: 0002_users_audit, 0004_query, 0005_dashboards_alerts
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_merge_heads"
down_revision: str | Sequence[str] | None = ("0002_users_audit", "0004_query",
                                             "0005_dashboards_alerts")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
