"""index shipments.delivered_at: the weekly review's order cycle time reads a week of deliveries

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 11:30:00
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_shipments_delivered_at', 'shipments', ['delivered_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_shipments_delivered_at', table_name='shipments')
