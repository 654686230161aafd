"""entity states and audit rows carry the owner's vendor kind beside its code

Vendor codes are unique only within a kind (a carrier ``ARC`` and a supplier ``ARC`` may both
exist), so ownership compares kind and code. Existing rows get the kind when their code belongs
to exactly one kind; an ambiguous code stays NULL, which no vendor reads (fail closed).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_suppliers = sa.table('suppliers', sa.column('code', sa.String))
_carriers = sa.table('carriers', sa.column('code', sa.String))
_warehouses = sa.table('warehouses', sa.column('operator_code', sa.String))


def _codes() -> dict[str, sa.Select]:  # type: ignore[type-arg]
    return {
        'supplier': sa.select(_suppliers.c.code).where(_suppliers.c.code.is_not(None)),
        'carrier': sa.select(_carriers.c.code).where(_carriers.c.code.is_not(None)),
        'warehouse': sa.select(_warehouses.c.operator_code).where(_warehouses.c.operator_code.is_not(None)),
    }


def upgrade() -> None:
    for name in ('entity_states', 'decisions'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('vendor_kind', sa.String(length=16), nullable=True))
    codes = _codes()
    for name in ('entity_states', 'decisions'):
        t = sa.table(name, sa.column('vendor_code', sa.String), sa.column('vendor_kind', sa.String))
        for kind, mine in codes.items():
            others = [c for k, c in codes.items() if k != kind]
            op.execute(
                t.update()
                .where(t.c.vendor_kind.is_(None), t.c.vendor_code.in_(mine),
                       *[t.c.vendor_code.not_in(o) for o in others])
                .values(vendor_kind=kind)
            )


def downgrade() -> None:
    for name in ('decisions', 'entity_states'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column('vendor_kind')
