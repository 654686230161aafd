"""entity states carry the owning vendor's response

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('entity_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vendor_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('vendor_note_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('vendor_note_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('entity_states', schema=None) as batch_op:
        batch_op.drop_column('vendor_note_at')
        batch_op.drop_column('vendor_note_by')
        batch_op.drop_column('vendor_note')
