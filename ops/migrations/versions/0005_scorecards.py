"""scorecards domain tables: scorecard disputes, targets and supplier/carrier aggregates

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agg_scorecard_calendar',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('n_before', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_agg_scorecard_calendar'))
    )
    op.create_table('agg_scorecard_carrier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('carrier_id', sa.Integer(), nullable=True),
    sa.Column('carrier', sa.String(length=64), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('lane', sa.String(length=64), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('attempted', sa.Integer(), nullable=False),
    sa.Column('on_time', sa.Integer(), nullable=False),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('first_attempt_ok', sa.Integer(), nullable=False),
    sa.Column('lost', sa.Integer(), nullable=False),
    sa.Column('damaged', sa.Integer(), nullable=False),
    sa.Column('returned', sa.Integer(), nullable=False),
    sa.Column('cost_sum', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_scorecard_carrier'))
    )
    with op.batch_alter_table('agg_scorecard_carrier', schema=None) as batch_op:
        batch_op.create_index('ix_agg_scorecard_carrier_keys', ['week', 'carrier', 'lane'], unique=False)
    op.create_table('agg_scorecard_transit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('carrier', sa.String(length=64), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('lane', sa.String(length=64), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('bdays', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_scorecard_transit'))
    )
    with op.batch_alter_table('agg_scorecard_transit', schema=None) as batch_op:
        batch_op.create_index('ix_agg_scorecard_transit_keys', ['week', 'carrier', 'lane'], unique=False)
    op.create_table('agg_scorecard_supplier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('supplier', sa.String(length=64), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('on_time', sa.Integer(), nullable=False),
    sa.Column('in_full', sa.Integer(), nullable=False),
    sa.Column('otif', sa.Integer(), nullable=False),
    sa.Column('qty_ordered', sa.Integer(), nullable=False),
    sa.Column('qty_received', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_scorecard_supplier'))
    )
    with op.batch_alter_table('agg_scorecard_supplier', schema=None) as batch_op:
        batch_op.create_index('ix_agg_scorecard_supplier_keys', ['week', 'supplier'], unique=False)
    op.create_table('scorecard_disputes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_kind', sa.String(length=16), nullable=False),
    sa.Column('vendor_code', sa.String(length=64), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_key', sa.String(length=200), nullable=False),
    sa.Column('week', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('raised_by', sa.String(length=100), nullable=False),
    sa.Column('raised_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scorecard_disputes'))
    )
    with op.batch_alter_table('scorecard_disputes', schema=None) as batch_op:
        batch_op.create_index('ix_scorecard_disputes_vendor', ['vendor_kind', 'vendor_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scorecard_disputes', schema=None) as batch_op:
        batch_op.drop_index('ix_scorecard_disputes_vendor')
    op.drop_table('scorecard_disputes')
    with op.batch_alter_table('agg_scorecard_supplier', schema=None) as batch_op:
        batch_op.drop_index('ix_agg_scorecard_supplier_keys')
    op.drop_table('agg_scorecard_supplier')
    with op.batch_alter_table('agg_scorecard_transit', schema=None) as batch_op:
        batch_op.drop_index('ix_agg_scorecard_transit_keys')
    op.drop_table('agg_scorecard_transit')
    with op.batch_alter_table('agg_scorecard_carrier', schema=None) as batch_op:
        batch_op.drop_index('ix_agg_scorecard_carrier_keys')
    op.drop_table('agg_scorecard_carrier')
    op.drop_table('agg_scorecard_calendar')
