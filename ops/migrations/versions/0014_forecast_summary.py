"""forecast_summary and forecast_catalogue: what the Forecast page shows of a finished run that does not depend
on the viewer (the backtest totals per demand pattern, the choices over the whole catalogue), stored with the
run as it succeeds so a full viewer's page load reads a few rows instead of joining 10,000 choices to their scores

No backfill: a run that succeeded before this revision has no stored rows and its page computes them on load,
as before, until the next run stores its own (ops.forecast.queries).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'forecast_summary',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('pattern', sa.String(length=16), nullable=False),
        sa.Column('skus', sa.Integer(), nullable=False),
        sa.Column('fallbacks', sa.Integer(), nullable=False),
        sa.Column('ae', sa.Float(), nullable=False),
        sa.Column('act', sa.Float(), nullable=False),
        sa.Column('nae', sa.Float(), nullable=True),
        sa.Column('nact', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['forecast_runs.id'],
                                name=op.f('fk_forecast_summary_run_id_forecast_runs')),
        sa.PrimaryKeyConstraint('run_id', 'pattern', name=op.f('pk_forecast_summary')),
    )
    op.create_table(
        'forecast_catalogue',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('skus', sa.Text(), nullable=False),
        sa.Column('labels', sa.Text(), nullable=False),
        sa.Column('codes', sa.LargeBinary(), nullable=False),
        sa.Column('scores', sa.LargeBinary(), nullable=False),
        sa.Column('censored_days', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['forecast_runs.id'],
                                name=op.f('fk_forecast_catalogue_run_id_forecast_runs')),
        sa.PrimaryKeyConstraint('run_id', name=op.f('pk_forecast_catalogue')),
    )


def downgrade() -> None:
    op.drop_table('forecast_catalogue')
    op.drop_table('forecast_summary')
