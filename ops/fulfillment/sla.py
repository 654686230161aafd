"""Warehouse SLA policies (cut-off, business days, handling days): who may read them, and the audited edit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.fulfillment.metrics import DOW_NAMES
from ops.models import AggFulfilDaily, Holiday, Warehouse

SLA_COLUMNS = ["warehouse", "name", "cutoff_time", "business_days", "business_day_names", "handling_days",
               "holidays", "version"]


def _policy_warehouses(viewer: Viewer) -> ColumnElement[bool]:
    """Warehouses whose SLA policy ``viewer`` may read.

    Staff: all. A 3PL: the warehouses it operates. A supplier or carrier: only the warehouses
    that shipped order lines they sold or carried (the lines the page shows them), never the
    whole network with its operators.
    """
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.is_kind("warehouse"):
        return access.warehouse_condition(viewer)
    t = AggFulfilDaily
    return Warehouse.id.in_(select(t.warehouse_id).where(access.fulfil_agg_condition(viewer, t),
                                                         t.warehouse_id.is_not(None)).distinct())


def day_names(business_days: str) -> str:
    """Mon=0 digits as people read them: ``"01234"`` -> ``"Mon, Tue, Wed, Thu, Fri"``."""
    return ", ".join(DOW_NAMES[int(d)] for d in str(business_days or "") if d.isdigit() and int(d) < 7)


@data_function
def sla_policies(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """The SLA policy of every warehouse relevant to the viewer (see :func:`_policy_warehouses`).

    A vendor other than the warehouse's own 3PL sees the warehouse code as its ``name``: the
    name may carry the operator's (another vendor's) name.

    Returns
    -------
    DataFrame with columns ``warehouse`` (str, code), ``name`` (str), ``cutoff_time`` (str HH:MM),
    ``business_days`` (str, Mon=0 digits), ``business_day_names`` (str, "Mon, Tue, ..."),
    ``handling_days`` (int64), ``holidays`` (int64, own plus global), ``version`` (int64).
    """
    require_viewer(viewer)
    global_n = session.scalar(select(func.count()).select_from(Holiday).where(Holiday.warehouse_id.is_(None))) or 0
    own = dict(session.execute(select(Holiday.warehouse_id, func.count()).where(Holiday.warehouse_id.is_not(None))
                               .group_by(Holiday.warehouse_id)).all())
    show_name = not viewer.is_vendor or viewer.is_kind("warehouse")
    rows = [{"warehouse": w.code, "name": w.name if show_name else w.code,
             "cutoff_time": (w.cutoff_time or dt.time(14)).strftime("%H:%M"),
             "business_days": w.business_days, "business_day_names": day_names(w.business_days),
             "handling_days": int(w.handling_days or 0),
             "holidays": int(global_n + own.get(w.id, 0)), "version": int(w.version or 1)}
            for w in session.scalars(select(Warehouse).where(_policy_warehouses(viewer)).order_by(Warehouse.code))]
    return pd.DataFrame(rows, columns=SLA_COLUMNS).astype({"handling_days": "int64", "holidays": "int64",
                                                           "version": "int64"})


def update_sla(session: Session, *, viewer: Viewer, warehouse_code: str, cutoff_time: Any,
               business_days: str, handling_days: int, expected_version: int,
               why: str | None = None) -> int:
    """Change one warehouse's SLA policy: :func:`ops.decisions.set_sla_policy` (the one write path).

    The write does not rebuild the aggregates: call :func:`ops.fulfillment.refresh` in its own
    transaction after this one commits, so derived deadlines follow the new policy.
    """
    from ops.decisions import set_sla_policy

    return set_sla_policy(session, viewer=viewer, warehouse_code=warehouse_code, cutoff_time=cutoff_time,
                          business_days=business_days, handling_days=handling_days,
                          expected_version=expected_version, why=why)
