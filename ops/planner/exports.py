"""Planner exports: the page's tables as registered exports (``python -m ops export``, download buttons).

Thin wrappers over :mod:`ops.planner.page`, :mod:`ops.planner.scenarios` and
:mod:`ops.planner.queries`, with the page's scoping: planners, managers and admins; a supplier
gets only the draft PO lines shared with it (``planner_shared_drafts``, page ``any``).
``planner_erp_pos`` is the file for the ERP: the purchase orders written by approvals, one row
per PO line.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_role
from ops.exports import register
from ops.filters import Filters
from ops.models import PlannerApproval, Product, PurchaseOrder, PurchaseOrderLine, Supplier, Warehouse
from ops.planner import queries, scenarios
from ops.planner.page import PAGE, planner_page
from ops.planner.queries import PLANNER_ROLES

EXPORTS = ("planner_lines", "planner_plan", "planner_drafts", "planner_erp_pos", "planner_scenarios",
           "planner_compare", "planner_shared_drafts")
PLAN_EXPORT_COLUMNS = [
    "sku", "name", "category", "supplier", "warehouse", "urgency", "suggested_qty", "order_value", "on_hand",
    "on_order", "inventory_position", "demand_per_day", "demand_sd_per_day", "demand_source", "lead_time_days",
    "lead_time_sd_days", "lead_time_source", "review_days", "z", "safety_stock", "reorder_point", "order_up_to",
    "moq", "case_pack", "unit_cost", "cover_days", "open_po", "open_po_expected", "late_po", "exp_short_units",
    "lost_revenue", "fill_rate", "cut_by_budget",
]
ERP_COLUMNS = ["po_number", "supplier", "warehouse", "status", "ordered_on", "expected_on", "sku", "qty",
               "unit_cost", "line_value", "created_by"]
COMPARE_UNITS = {"investment": "money", "order_value": "money", "exp_short_units": "number",
                 "lost_revenue": "money", "fill_rate": "pct", "po_count": "count", "lines": "count",
                 "critical": "count", "below_minimum": "count"}
COMPARE_LABELS = {"investment": "Inventory investment", "order_value": "Order value",
                  "exp_short_units": "Expected stockout units", "lost_revenue": "Expected lost revenue",
                  "fill_rate": "Fill rate", "po_count": "Purchase orders", "lines": "Order lines",
                  "critical": "Critical SKUs", "below_minimum": "POs below supplier minimum"}


@register("planner_lines", title="Suggested order lines", page=PAGE)
@data_function
def export_lines(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return planner_page(session, viewer=viewer, filters=filters).lines


@register("planner_plan", title="Replenishment plan, every SKU x warehouse", page=PAGE)
@data_function
def export_plan(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    out = planner_page(session, viewer=viewer, filters=filters).plan[PLAN_EXPORT_COLUMNS].copy()
    out.attrs = {}
    return out


@register("planner_drafts", title="Draft purchase orders", page=PAGE)
@data_function
def export_drafts(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return planner_page(session, viewer=viewer, filters=filters).drafts


@register("planner_erp_pos", title="Approved purchase orders (ERP)", page=PAGE)
@data_function
def export_erp_pos(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    """One row per line of the purchase orders written by approvals, for the ERP."""
    require_role(viewer, *PLANNER_ROLES)
    numbers: list[str] = []
    for text in session.scalars(select(PlannerApproval.po_numbers)):
        numbers += [str(n) for n in json.loads(text or "[]")]
    cols = (PurchaseOrder.po_number, Supplier.code, Warehouse.code, PurchaseOrder.status,
            type_coerce(PurchaseOrder.ordered_on, String), type_coerce(PurchaseOrder.expected_on, String),
            Product.sku, PurchaseOrderLine.qty_ordered, PurchaseOrderLine.unit_cost, PurchaseOrder.created_by)
    rows: list[Any] = []
    for i in range(0, len(numbers), 500):
        stmt = (select(*cols).join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
                .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
                .join(Warehouse, Warehouse.id == PurchaseOrder.warehouse_id)
                .join(Product, Product.id == PurchaseOrderLine.product_id)
                .where(PurchaseOrder.po_number.in_(numbers[i:i + 500])))
        if filters.warehouses:
            stmt = stmt.where(Warehouse.code.in_(list(filters.warehouses)))
        rows += session.execute(stmt).all()
    df = pd.DataFrame(rows, columns=["po_number", "supplier", "warehouse", "status", "ordered_on", "expected_on",
                                     "sku", "qty", "unit_cost", "created_by"])
    df["qty"] = df["qty"].astype("int64")
    df["unit_cost"] = df["unit_cost"].astype("float64")
    df["line_value"] = df["qty"] * df["unit_cost"]
    for c in ("ordered_on", "expected_on"):
        df[c] = pd.to_datetime(df[c], errors="coerce")
    return df.sort_values(["po_number", "sku"], ignore_index=True)[ERP_COLUMNS]


@register("planner_scenarios", title="Saved planner scenarios", page=PAGE)
@data_function
def export_scenarios(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return scenarios.list_scenarios(session, viewer=viewer)


@data_function
def compare_long(session: Session, *, viewer: Viewer, filters: Filters = queries.ALL) -> pd.DataFrame:
    """Every saved scenario beside the baseline, one row per scenario and measure.

    Returns
    -------
    DataFrame with columns scenario, measure (label), value (float64), unit (``ops.fmt`` kind).
    """
    require_role(viewer, *PLANNER_ROLES)
    inputs = queries.planning_inputs(session, viewer=viewer, filters=filters)
    open_pos = queries.open_po_lines(session, viewer=viewer, filters=filters)
    pols = scenarios.policies(scenarios.list_scenarios(session, viewer=viewer))
    summary, _ = scenarios.compare(inputs, open_pos, pols, lead=queries.lead_times(session, viewer=viewer),
                                   forecast=queries.forecast_demand(session, viewer=viewer))
    long = summary.reset_index().melt(id_vars="measure", var_name="scenario", value_name="value")
    long["unit"] = long["measure"].map(COMPARE_UNITS)
    long["measure"] = long["measure"].map(COMPARE_LABELS)
    return long[["scenario", "measure", "value", "unit"]]


@register("planner_compare", title="Scenarios side by side", page=PAGE)
def export_compare(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    return compare_long(session, viewer=viewer, filters=filters)


@register("planner_shared_drafts", title="Draft purchase orders shared with suppliers", page="any")
def export_shared_drafts(session: Session, *, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    df = queries.shared_drafts(session, viewer=viewer)
    if filters.warehouses:
        df = df[df["warehouse"].isin(list(filters.warehouses))].reset_index(drop=True)
    return df
