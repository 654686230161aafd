"""returns domain tables: returns aggregates, comment themes and return actions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agg_returns_dim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sale_week', sa.Date(), nullable=False),
    sa.Column('supplier', sa.String(length=64), nullable=True),
    sa.Column('dim', sa.String(length=16), nullable=False),
    sa.Column('member', sa.String(length=100), nullable=False),
    sa.Column('units_sold', sa.Integer(), nullable=False),
    sa.Column('lines_sold', sa.Integer(), nullable=False),
    sa.Column('shipped_lines', sa.Integer(), nullable=False),
    sa.Column('sales_value', sa.Float(), nullable=False),
    sa.Column('units_returned', sa.Integer(), nullable=False),
    sa.Column('return_lines', sa.Integer(), nullable=False),
    sa.Column('returned_value', sa.Float(), nullable=False),
    sa.Column('refund_value', sa.Float(), nullable=False),
    sa.Column('defect_units', sa.Integer(), nullable=False),
    sa.Column('wrong_item_lines', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_returns_dim')),
    )
    with op.batch_alter_table('agg_returns_dim', schema=None) as batch_op:
        batch_op.create_index('ix_agg_returns_dim_dim_week', ['dim', 'sale_week'], unique=False)
    op.create_table('agg_returns_dim_all',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sale_week', sa.Date(), nullable=False),
    sa.Column('dim', sa.String(length=16), nullable=False),
    sa.Column('member', sa.String(length=100), nullable=False),
    sa.Column('units_sold', sa.Integer(), nullable=False),
    sa.Column('lines_sold', sa.Integer(), nullable=False),
    sa.Column('shipped_lines', sa.Integer(), nullable=False),
    sa.Column('sales_value', sa.Float(), nullable=False),
    sa.Column('units_returned', sa.Integer(), nullable=False),
    sa.Column('return_lines', sa.Integer(), nullable=False),
    sa.Column('returned_value', sa.Float(), nullable=False),
    sa.Column('refund_value', sa.Float(), nullable=False),
    sa.Column('defect_units', sa.Integer(), nullable=False),
    sa.Column('wrong_item_lines', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_returns_dim_all')),
    )
    with op.batch_alter_table('agg_returns_dim_all', schema=None) as batch_op:
        batch_op.create_index('ix_agg_returns_dim_all_week', ['sale_week'], unique=False)
    op.create_table('agg_returns_sku_cum',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sale_week', sa.Date(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('size', sa.String(length=32), nullable=True),
    sa.Column('supplier', sa.String(length=64), nullable=True),
    sa.Column('units_sold', sa.Integer(), nullable=False),
    sa.Column('sales_value', sa.Float(), nullable=False),
    sa.Column('units_returned', sa.Integer(), nullable=False),
    sa.Column('returned_value', sa.Float(), nullable=False),
    sa.Column('refund_value', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_returns_sku_cum')),
    )
    with op.batch_alter_table('agg_returns_sku_cum', schema=None) as batch_op:
        batch_op.create_index('ix_agg_returns_sku_cum_week', ['sale_week', 'product_id'], unique=False)
    op.create_table('agg_returns_reason',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sale_week', sa.Date(), nullable=False),
    sa.Column('supplier', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('size', sa.String(length=32), nullable=True),
    sa.Column('reason_code', sa.String(length=32), nullable=False),
    sa.Column('disposition', sa.String(length=16), nullable=True),
    sa.Column('return_lines', sa.Integer(), nullable=False),
    sa.Column('units_returned', sa.Integer(), nullable=False),
    sa.Column('returned_value', sa.Float(), nullable=False),
    sa.Column('refund_value', sa.Float(), nullable=False),
    sa.Column('cost_value', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_returns_reason')),
    )
    with op.batch_alter_table('agg_returns_reason', schema=None) as batch_op:
        batch_op.create_index('ix_agg_returns_reason_week', ['sale_week'], unique=False)
    op.create_table('return_theme_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('n_docs', sa.Integer(), nullable=False),
    sa.Column('n_themes', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('started_by', sa.String(length=100), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_theme_runs')),
    )
    op.create_table('return_themes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('theme_no', sa.Integer(), nullable=False),
    sa.Column('top_terms', sa.Text(), nullable=False),
    sa.Column('n_docs', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['return_theme_runs.id'],
                            name=op.f('fk_return_themes_run_id_return_theme_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_themes')),
    sa.UniqueConstraint('run_id', 'theme_no', name=op.f('uq_return_themes_run_id')),
    )
    op.create_table('return_theme_docs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=False),
    sa.Column('theme_no', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('supplier', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['return_theme_runs.id'],
                            name=op.f('fk_return_theme_docs_run_id_return_theme_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_theme_docs')),
    )
    with op.batch_alter_table('return_theme_docs', schema=None) as batch_op:
        batch_op.create_index('ix_return_theme_docs_run_theme', ['run_id', 'theme_no'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('return_theme_docs', schema=None) as batch_op:
        batch_op.drop_index('ix_return_theme_docs_run_theme')
    op.drop_table('return_theme_docs')
    op.drop_table('return_themes')
    op.drop_table('return_theme_runs')
    with op.batch_alter_table('agg_returns_reason', schema=None) as batch_op:
        batch_op.drop_index('ix_agg_returns_reason_week')
    op.drop_table('agg_returns_reason')
    with op.batch_alter_table('agg_returns_sku_cum', schema=None) as batch_op:
        batch_op.drop_index('ix_agg_returns_sku_cum_week')
    op.drop_table('agg_returns_sku_cum')
    with op.batch_alter_table('agg_returns_dim_all', schema=None) as batch_op:
        batch_op.drop_index('ix_agg_returns_dim_all_week')
    op.drop_table('agg_returns_dim_all')
    with op.batch_alter_table('agg_returns_dim', schema=None) as batch_op:
        batch_op.drop_index('ix_agg_returns_dim_dim_week')
    op.drop_table('agg_returns_dim')
