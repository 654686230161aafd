"""weekly review tables: annotations with a date range and scope, the exceptions inbox

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'review_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_key', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('assignee', sa.String(length=100), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_by', sa.String(length=100), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('item_key'),
    )
    # Annotations gain a date range and a scope; existing rows keep their one day, unscoped.
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_day', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('scope_kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('scope_key', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.drop_column('scope_key')
        batch_op.drop_column('scope_kind')
        batch_op.drop_column('end_day')
    op.drop_table('review_items')
