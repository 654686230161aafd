"""planner domain tables: planner scenarios, approvals (idempotency) and shared draft POs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'planner_scenarios',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_planner_scenarios')),
        sa.UniqueConstraint('name', name=op.f('uq_planner_scenarios_name')),
    )
    op.create_table(
        'planner_approvals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=64), nullable=False),
        sa.Column('plan_token', sa.String(length=64), nullable=False),
        sa.Column('approved_by', sa.String(length=100), nullable=False),
        sa.Column('approved_at', sa.DateTime(), nullable=False),
        sa.Column('po_numbers', sa.Text(), nullable=False),
        sa.Column('lines', sa.Integer(), nullable=False),
        sa.Column('order_value', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_planner_approvals')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_planner_approvals_idempotency_key')),
    )
    op.create_table(
        'planner_shared_drafts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('share_key', sa.String(length=100), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=False),
        sa.Column('warehouse_id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('qty', sa.Integer(), nullable=False),
        sa.Column('unit_cost', sa.Float(), nullable=False),
        sa.Column('expected_on', sa.Date(), nullable=True),
        sa.Column('shared_by', sa.String(length=100), nullable=False),
        sa.Column('shared_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'],
                                name=op.f('fk_planner_shared_drafts_product_id_products')),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'],
                                name=op.f('fk_planner_shared_drafts_supplier_id_suppliers')),
        sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'],
                                name=op.f('fk_planner_shared_drafts_warehouse_id_warehouses')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_planner_shared_drafts')),
        sa.UniqueConstraint('share_key', 'product_id', name=op.f('uq_planner_shared_drafts_share_key')),
    )
    op.create_index(op.f('ix_planner_shared_drafts_share_key'), 'planner_shared_drafts', ['share_key'])
    op.create_index(op.f('ix_planner_shared_drafts_supplier_id'), 'planner_shared_drafts', ['supplier_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_planner_shared_drafts_supplier_id'), table_name='planner_shared_drafts')
    op.drop_index(op.f('ix_planner_shared_drafts_share_key'), table_name='planner_shared_drafts')
    op.drop_table('planner_shared_drafts')
    op.drop_table('planner_approvals')
    op.drop_table('planner_scenarios')
