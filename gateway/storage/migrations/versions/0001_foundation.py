"""foundation: organizations, pixels, api keys, events

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:21:51.130951
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import gateway.storage.types

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('organization',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('api_key',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('organization_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('start', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('pixel_ids', sa.JSON(), nullable=True),
    sa.Column('rate_tier', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', gateway.storage.types.UTCDateTime(), nullable=True),
    sa.Column('expires_at', gateway.storage.types.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', gateway.storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_organization_id'), ['organization_id'], unique=False)

    op.create_table('pixel',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('organization_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('created_at', gateway.storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pixel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pixel_organization_id'), ['organization_id'], unique=False)

    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pixel_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('anonymous_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('referrer', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('utm_source', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('utm_medium', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('utm_campaign', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('utm_content', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('utm_term', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('device', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('revenue', sa.Float(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('new_customer', sa.Boolean(), nullable=True),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('campaign', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('spend', sa.Float(), nullable=True),
    sa.Column('impressions', sa.Integer(), nullable=True),
    sa.Column('clicks', sa.Integer(), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['pixel_id'], ['pixel.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pixel_id', 'event_id', name='uq_event_pixel_event_id')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_pixel_name_ts', ['pixel_id', 'name', 'ts'], unique=False)
        batch_op.create_index('ix_event_pixel_ts', ['pixel_id', 'ts'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_pixel_ts')
        batch_op.drop_index('ix_event_pixel_name_ts')

    op.drop_table('event')
    with op.batch_alter_table('pixel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pixel_organization_id'))

    op.drop_table('pixel')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_organization_id'))

    op.drop_table('api_key')
    op.drop_table('organization')
