"""fulfilment click-to-ship histograms with half-hour buckets and running totals by day (percentiles within
a quarter hour of exact at any range): agg_fulfil_hours and its cells replace agg_fulfil_hist

Derived tables: ``python -m ops init`` rebuilds them after the upgrade of a database holding data.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_KEYS = ('warehouse_id', 'channel_id', 'seller_id', 'carrier_id', 'measure', 'fine', 'bucket')


def _cell_columns() -> list[sa.Column]:
    return [sa.Column('warehouse_id', sa.Integer(), nullable=False),
            sa.Column('channel_id', sa.Integer(), nullable=False),
            sa.Column('seller_id', sa.Integer(), nullable=False),
            sa.Column('carrier_id', sa.Integer(), nullable=False),
            sa.Column('measure', sa.String(length=8), nullable=False),
            sa.Column('fine', sa.Integer(), nullable=False),
            sa.Column('bucket', sa.Integer(), nullable=False)]


def upgrade() -> None:
    op.create_table('agg_fulfil_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('cum', sa.Integer(), nullable=False),
    *_cell_columns(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_fulfil_hours')),
    sa.UniqueConstraint(*_KEYS, 'day', name='uq_agg_fulfil_hours_cell_day'),
    )
    with op.batch_alter_table('agg_fulfil_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agg_fulfil_hours_day'), ['day'], unique=False)
    op.create_table('agg_fulfil_hours_cells',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seller_region', sa.String(length=50), nullable=True),
    sa.Column('coarse', sa.Integer(), nullable=False),
    *_cell_columns(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_fulfil_hours_cells')),
    )
    with op.batch_alter_table('agg_fulfil_hours_cells', schema=None) as batch_op:
        batch_op.create_index('ix_agg_fulfil_hours_cells_find', ['fine', 'measure', 'coarse'], unique=False)
    with op.batch_alter_table('agg_fulfil_hist', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agg_fulfil_hist_day'))
    op.drop_table('agg_fulfil_hist')


def downgrade() -> None:
    op.create_table('agg_fulfil_hist',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('measure', sa.String(length=8), nullable=False),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=True),
    sa.Column('channel_id', sa.Integer(), nullable=True),
    sa.Column('seller_id', sa.Integer(), nullable=True),
    sa.Column('seller_region', sa.String(length=50), nullable=True),
    sa.Column('carrier_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_fulfil_hist'))
    )
    with op.batch_alter_table('agg_fulfil_hist', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agg_fulfil_hist_day'), ['day'], unique=False)
    with op.batch_alter_table('agg_fulfil_hours_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_agg_fulfil_hours_cells_find')
    op.drop_table('agg_fulfil_hours_cells')
    with op.batch_alter_table('agg_fulfil_hours', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agg_fulfil_hours_day'))
    op.drop_table('agg_fulfil_hours')
