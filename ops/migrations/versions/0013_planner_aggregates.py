"""planner aggregates: agg_planner_lead_time (measured lead time per supplier) and agg_planner_forecast
(the planner's demand per SKU from the latest forecast run), so the planner page reads neither the
received PO lines nor the weekly forecasts on load

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 13:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'agg_planner_lead_time',
        sa.Column('supplier', sa.String(length=64), nullable=False),
        sa.Column('lt_n', sa.Integer(), nullable=False),
        sa.Column('lt_mean_days', sa.Float(), nullable=True),
        sa.Column('lt_std_days', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('supplier', name=op.f('pk_agg_planner_lead_time')),
    )
    op.create_table(
        'agg_planner_forecast',
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('fc_week_mean', sa.Float(), nullable=False),
        sa.Column('fc_sigma_week', sa.Float(), nullable=True),
        sa.Column('fc_model', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('sku', name=op.f('pk_agg_planner_forecast')),
    )


def downgrade() -> None:
    op.drop_table('agg_planner_forecast')
    op.drop_table('agg_planner_lead_time')
