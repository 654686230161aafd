"""Samples of the rows an import writes, as stored, for the Imports page's preview (taken inside a dry run).

Before each group of a dry run :func:`high_water` notes every previewed table's highest id;
after it, :func:`sample` reads up to ``n`` rows above that mark per table (the rows the import
inserted, exactly as the importer mapped them), with foreign keys shown as the natural keys
they point to (``order_id`` -> the order number, ``product_id`` -> the SKU, ...). The dry run's
transaction is then rolled back, so nothing read here is ever stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.ingest import changes
from ops.models import (
    Carrier,
    Channel,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    Return,
    Review,
    Shipment,
    Supplier,
    Warehouse,
)

TABLES = (Supplier, Warehouse, Carrier, Channel, Product, InventorySnapshot, Order, OrderLine, Shipment, Return,
          Review)
# foreign key column -> (shown as, the referenced table, its natural key column)
KEYS: dict[str, tuple[str, Any, str]] = {
    "order_id": ("order_number", Order, "order_number"),
    "product_id": ("sku", Product, "sku"),
    "warehouse_id": ("warehouse", Warehouse, "code"),
    "carrier_id": ("carrier", Carrier, "code"),
    "channel_id": ("channel", Channel, "code"),
    "supplier_id": ("supplier", Supplier, "code"),
    "seller_id": ("seller", Supplier, "code"),
}
HIDDEN = ("id", "version", "service_id")


def high_water(session: Session) -> dict[str, int]:
    """Each previewed table's highest id now (0 when empty)."""
    return changes.high_water(session, TABLES)


def sample(session: Session, marks: dict[str, int], n: int) -> dict[str, list[dict[str, Any]]]:
    """Up to ``n`` rows per table inserted since ``marks``, foreign keys as natural keys."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in TABLES:
        t = m.__table__
        rows = [dict(r) for r in session.execute(select(t).where(t.c.id > marks[m.__tablename__])
                                                 .order_by(t.c.id).limit(n)).mappings()]
        if not rows:
            continue
        for col, (shown, target, key) in KEYS.items():
            if col not in rows[0]:
                continue
            ids = {r[col] for r in rows if r[col] is not None}
            names: dict[int, Any] = dict(session.execute(select(target.id, getattr(target, key))
                                                         .where(target.id.in_(ids))).all()) \
                if ids else {}
            for r in rows:
                r[shown] = names.get(r.pop(col))
        if "order_line_id" in rows[0]:
            ids = {r["order_line_id"] for r in rows}
            q = (select(OrderLine.id, Order.order_number, OrderLine.line_no, Product.sku)
                 .join(Order, OrderLine.order_id == Order.id).join(Product, OrderLine.product_id == Product.id)
                 .where(OrderLine.id.in_(ids)))
            where = {i: (num, ln, sku) for i, num, ln, sku in session.execute(q).all()}
            for r in rows:
                num, ln, sku = where.get(r.pop("order_line_id"), (None, None, None))
                r["order_number"], r["line_no"], r["sku"] = num, ln, sku
        out[m.__tablename__] = [{k: v for k, v in r.items() if k not in HIDDEN} for r in rows]
    return out
