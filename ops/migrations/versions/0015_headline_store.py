"""headline store: each domain's headline as one viewer scope saw it at one data version
(ops.headline_store), so the Overview and the Weekly review read stored headlines instead of
computing every page's on each load

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'headline_store',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('domain', sa.String(length=32), nullable=False),
        sa.Column('version', sa.String(length=200), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_headline_store')),
    )


def downgrade() -> None:
    op.drop_table('headline_store')
