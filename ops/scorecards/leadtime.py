"""Supplier lead time, stated vs measured: the figures the planner's safety stock reads.

Lead time of a purchase-order line = calendar days from its PO's ``ordered_on`` to the line's
``received_on``, over received lines (``received_on`` set). Per supplier: the count, mean,
sample standard deviation (``ddof=1``) and p90 (numpy ``linear``) of those days, NaN with fewer
than two lines; beside them the supplier's stated ``suppliers.lead_time_days``.

The days are integers, so the query groups received lines by supplier and days in SQL (a
histogram of a few hundred rows) and the statistics are computed exactly from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Integer, and_, cast, false, func, select, true
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.models import PurchaseOrder, PurchaseOrderLine, Supplier
from ops.scorecards.metrics import MIN_LT_LINES, hist_mean_std, hist_quantile

LEAD_TIME_COLUMNS = ["supplier", "lt_stated_days", "lt_n", "lt_mean_days", "lt_std_days", "lt_p90_days"]


def days_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """Calendar days from date ``start`` to date ``end`` as an integer SQL expression."""
    if dialect == "postgresql":
        return cast(end - start, Integer)
    return cast(func.round(func.julianday(end) - func.julianday(start)), Integer)


def _supplier_scope(viewer: Viewer) -> ColumnElement[bool]:
    """Suppliers the viewer may see by code: internal users all, a supplier itself, other vendors none."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "supplier":
        return Supplier.code == viewer.vendor_code
    return false()


@data_function
def lead_time_stats(session: Session, *, viewer: Viewer,
                    supplier_codes: Sequence[str] | None = None) -> pd.DataFrame:
    """Measured lead time per supplier beside the stated one, scoped to ``viewer``.

    Parameters
    ----------
    supplier_codes
        Only these suppliers (``None``: every supplier the viewer may see). Unknown codes give no row.

    Returns
    -------
    DataFrame
        One row per supplier code, sorted by it: ``supplier`` (str), ``lt_stated_days`` (float64,
        NaN if unknown), ``lt_n`` (int64, received PO lines), ``lt_mean_days``, ``lt_std_days``,
        ``lt_p90_days`` (float64 calendar days; NaN when ``lt_n`` < 2). A supplier sees only
        itself; carriers and 3PLs see no rows.
    """
    require_viewer(viewer)
    dialect = session.get_bind().dialect.name
    days = days_between(dialect, PurchaseOrder.ordered_on, PurchaseOrderLine.received_on)
    where = [_supplier_scope(viewer)]
    if supplier_codes is not None:
        where.append(Supplier.code.in_([str(c) for c in supplier_codes]))
    hist = (select(Supplier.code, days.label("days"), func.count().label("n"))
            .select_from(PurchaseOrderLine)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .where(and_(*where), PurchaseOrderLine.received_on.is_not(None))
            .group_by(Supplier.code, days))
    h = pd.DataFrame(session.connection().execute(hist).all(), columns=["supplier", "days", "n"])
    sup = pd.DataFrame(session.execute(select(Supplier.code, Supplier.lead_time_days).where(and_(*where))
                                       .order_by(Supplier.code)).all(), columns=["supplier", "lt_stated_days"])
    rows = []
    groups = dict(tuple(h.groupby("supplier", sort=False))) if len(h) else {}
    for code in sup["supplier"]:
        g = groups.get(code)
        n = 0 if g is None else int(g["n"].sum())
        if g is None or n < MIN_LT_LINES:
            rows.append((code, n, np.nan, np.nan, np.nan))
            continue
        v, c = g["days"].to_numpy(dtype="float64"), g["n"].to_numpy(dtype="int64")
        mean, std = hist_mean_std(v, c)
        rows.append((code, n, mean, std, hist_quantile(v, c, 0.9)))
    stats = pd.DataFrame(rows, columns=["supplier", "lt_n", "lt_mean_days", "lt_std_days", "lt_p90_days"])
    out = sup.merge(stats, on="supplier", how="left")
    out["supplier"] = out["supplier"].astype(str)
    out["lt_stated_days"] = pd.to_numeric(out["lt_stated_days"], errors="coerce").astype("float64")
    out["lt_n"] = out["lt_n"].fillna(0).astype("int64")
    for c in ("lt_mean_days", "lt_std_days", "lt_p90_days"):
        out[c] = out[c].astype("float64")
    return out[LEAD_TIME_COLUMNS].reset_index(drop=True)
