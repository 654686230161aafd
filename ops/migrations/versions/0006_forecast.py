"""forecast domain tables: forecast runs, per-SKU model choices and weekly forecasts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'forecast_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('parameters', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('n_skus', sa.Integer(), nullable=False),
        sa.Column('n_done', sa.Integer(), nullable=False),
        sa.Column('n_fallback', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('as_of', sa.Date(), nullable=True),
        sa.Column('pid', sa.Integer(), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_forecast_runs')),
    )
    op.create_table(
        'forecast_choices',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('model', sa.String(length=32), nullable=False),
        sa.Column('pattern', sa.String(length=16), nullable=False),
        sa.Column('wape', sa.Float(), nullable=True),
        sa.Column('mase', sa.Float(), nullable=True),
        sa.Column('bias', sa.Float(), nullable=True),
        sa.Column('sigma_week', sa.Float(), nullable=True),
        sa.Column('baseline_wape', sa.Float(), nullable=True),
        sa.Column('fallback_reason', sa.Text(), nullable=True),
        sa.Column('censored_days', sa.Integer(), nullable=False),
        sa.Column('history_weeks', sa.Integer(), nullable=False),
        sa.Column('chunk', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['forecast_runs.id'],
                                name=op.f('fk_forecast_choices_run_id_forecast_runs')),
        sa.PrimaryKeyConstraint('run_id', 'sku', name=op.f('pk_forecast_choices')),
    )
    op.create_table(
        'forecast_scores',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('model', sa.String(length=32), nullable=False),
        sa.Column('abs_error', sa.Float(), nullable=False),
        sa.Column('error', sa.Float(), nullable=False),
        sa.Column('actual', sa.Float(), nullable=False),
        sa.Column('scale', sa.Float(), nullable=True),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('fit_seconds', sa.Float(), nullable=False),
        sa.Column('failed', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['forecast_runs.id'],
                                name=op.f('fk_forecast_scores_run_id_forecast_runs')),
        sa.PrimaryKeyConstraint('run_id', 'sku', 'model', name=op.f('pk_forecast_scores')),
    )
    op.create_table(
        'forecast_weeks',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('model', sa.String(length=32), nullable=False),
        sa.Column('yhat', sa.Float(), nullable=False),
        sa.Column('lo80', sa.Float(), nullable=False),
        sa.Column('hi80', sa.Float(), nullable=False),
        sa.Column('lo95', sa.Float(), nullable=False),
        sa.Column('hi95', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['forecast_runs.id'],
                                name=op.f('fk_forecast_weeks_run_id_forecast_runs')),
        sa.PrimaryKeyConstraint('run_id', 'sku', 'week', name=op.f('pk_forecast_weeks')),
    )


def downgrade() -> None:
    op.drop_table('forecast_weeks')
    op.drop_table('forecast_scores')
    op.drop_table('forecast_choices')
    op.drop_table('forecast_runs')
