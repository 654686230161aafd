"""Data freshness: when data last arrived and how many rows each table holds (scoped)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.exports import register
from ops.filters import Filters
from ops.models import ImportRun, Order, OrderLine, Product, PurchaseOrder, Return, Shipment, Supplier

# table name -> (model, scope condition for a viewer)
COUNTED = {
    "products": (Product, access.product_condition),
    "orders": (Order, access.order_condition),
    "order_lines": (OrderLine, access.order_line_condition),
    "shipments": (Shipment, access.shipment_condition),
    "purchase_orders": (PurchaseOrder, access.purchase_order_condition),
}


@register("row_counts", title="Rows per table", page="any")
@data_function
def row_counts(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """Rows per main table that ``viewer`` may see.

    Returns
    -------
    DataFrame with columns ``table`` (str), ``rows`` (int64).
    """
    require_viewer(viewer)
    rows = []
    for name, (model, cond) in COUNTED.items():
        n = session.scalar(select(func.count()).select_from(model).where(cond(viewer))) or 0
        rows.append({"table": name, "rows": int(n)})
    if not viewer.is_vendor:
        for name, model in (("returns", Return), ("suppliers", Supplier)):
            rows.append({"table": name, "rows": int(session.scalar(select(func.count()).select_from(model)) or 0)})
    return pd.DataFrame(rows, columns=["table", "rows"]).astype({"rows": "int64"})


@register("data_freshness", title="Last imports", page="any")
@data_function
def data_freshness(session: Session, *, viewer: Viewer, filters: Filters | None = None) -> pd.DataFrame:
    """The ten most recent imports and seeds, newest first.

    Vendors see only when data arrived, not who loaded it or from which file.

    Returns
    -------
    DataFrame with columns ``kind`` (str), ``source`` (str), ``actor`` (str),
    ``finished_at`` (datetime64), ``rows_in`` (int64), ``rows_changed`` (int64), ``status`` (str).
    """
    require_viewer(viewer)
    stmt = select(
        ImportRun.kind, ImportRun.source, ImportRun.actor, ImportRun.finished_at,
        ImportRun.rows_in, ImportRun.rows_changed, ImportRun.status,
    ).order_by(ImportRun.id.desc()).limit(10)
    df = pd.DataFrame(session.execute(stmt).all(), columns=[
        "kind", "source", "actor", "finished_at", "rows_in", "rows_changed", "status"])
    if viewer.is_vendor:
        df["source"] = ""
        df["actor"] = ""
    df["finished_at"] = pd.to_datetime(df["finished_at"])
    return df.astype({"rows_in": "int64", "rows_changed": "int64"})
