"""weekly review aggregates: agg_review_week (the review's own KPI counts per week, warehouse, channel)
and agg_review_cycle (the week's median order cycle time)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'agg_review_week',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('warehouse_id', sa.Integer(), nullable=True),
        sa.Column('channel_id', sa.Integer(), nullable=True),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.Column('cancelled', sa.Integer(), nullable=False),
        sa.Column('shipped_orders', sa.Integer(), nullable=False),
        sa.Column('label_cost', sa.Float(), nullable=False),
        sa.Column('reviews', sa.Integer(), nullable=False),
        sa.Column('score_sum', sa.Integer(), nullable=False),
        sa.Column('shipments', sa.Integer(), nullable=False),
        sa.Column('tracked', sa.Integer(), nullable=False),
        sa.Column('ship_orders', sa.Integer(), nullable=False),
        sa.Column('defect_orders', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_agg_review_week_week', 'agg_review_week', ['week'], unique=False)
    op.create_table(
        'agg_review_cycle',
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('deliveries', sa.Integer(), nullable=False),
        sa.Column('median_days', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('week'),
    )


def downgrade() -> None:
    op.drop_table('agg_review_cycle')
    op.drop_index('ix_agg_review_week_week', table_name='agg_review_week')
    op.drop_table('agg_review_week')
