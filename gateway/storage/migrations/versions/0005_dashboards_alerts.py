"""dashboards and alerts: views, webhooks, alerts, alert history, evaluation leases (issue #6)

Revision ID: 0005_dashboards_alerts
Revises: 0001
Create Date: 2026-11-23 09:35:40.812416
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import gateway.storage.types

revision: str = '0005_dashboards_alerts'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dashboard_view',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('pixel_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('configuration', sa.JSON(), nullable=False),
    sa.Column('order', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.ForeignKeyConstraint(['pixel_id'], ['pixel.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dashboard_view', schema=None) as batch_op:
        batch_op.create_index('ix_dashboard_view_pixel_type', ['pixel_id', 'type'], unique=False)

    op.create_table('webhook',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('pixel_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('service', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('secret', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('created_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pixel_id'], ['pixel.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_pixel_id'), ['pixel_id'], unique=False)

    op.create_table('alert',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('pixel_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=4096), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('dashboard_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('tile_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('measure', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('threshold_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('interval', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('webhook_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=True),
    sa.Column('last_window_end', gateway.storage.types.UTCDateTime(), nullable=True),
    sa.Column('execution_errors', sa.JSON(), nullable=False),
    sa.Column('created_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.ForeignKeyConstraint(['dashboard_id'], ['dashboard_view.id'], ),
    sa.ForeignKeyConstraint(['pixel_id'], ['pixel.id'], ),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhook.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_dashboard_id'), ['dashboard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_pixel_id'), ['pixel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_webhook_id'), ['webhook_id'], unique=False)

    op.create_table('alert_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('window_start', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('window_end', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('notified', sa.Boolean(), nullable=False),
    sa.Column('delivery_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('created_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_history', schema=None) as batch_op:
        batch_op.create_index('ix_alert_history_alert_window', ['alert_id', 'window_start'], unique=False)

    op.create_table('alert_lease',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('window_start', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('claimed_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('alert_id', 'window_start', name='uq_alert_lease_window')
    )


def downgrade() -> None:
    op.drop_table('alert_lease')
    with op.batch_alter_table('alert_history', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_history_alert_window')

    op.drop_table('alert_history')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_webhook_id'))
        batch_op.drop_index(batch_op.f('ix_alert_pixel_id'))
        batch_op.drop_index(batch_op.f('ix_alert_dashboard_id'))

    op.drop_table('alert')
    with op.batch_alter_table('webhook', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_pixel_id'))

    op.drop_table('webhook')
    with op.batch_alter_table('dashboard_view', schema=None) as batch_op:
        batch_op.drop_index('ix_dashboard_view_pixel_type')

    op.drop_table('dashboard_view')
