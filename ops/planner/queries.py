"""Scoped reads behind the reorder planner: what the catalogue needs to be planned.

Every read here is for internal planners (admin, manager, planner): a vendor asking gets
:class:`ops.access.AccessDenied` (nothing), except :func:`shared_drafts`, where a supplier reads the
draft PO lines a manager shared with it, and only those.

Sources, in order of preference (the page says which one each number came from):

- **Demand**: the forecast package's latest run (``ops.forecast.queries.latest_forecast`` and
  ``latest_choices``) when that module exists and has a run; else the last 52 weeks of demand
  history in ``agg_inventory_pair`` (weekly units and sum of squares per SKU x warehouse).
- **Lead time**: the supplier scorecard's measured lead time (``ops.scorecards.leadtime.lead_time_stats``:
  mean and spread of received PO lines) when it has at least 2 receipts; else the stated lead time
  (product's, else supplier's, as copied into ``agg_inventory_pair.lead_time_days``) with spread 0.
- **Stock and open POs**: ``agg_inventory_pair`` (on hand at the as-of day) and ``agg_inventory_po``
  (open PO lines: the same rows the Inventory page shows).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import String, false, select, type_coerce
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_role, require_viewer
from ops.filters import Filters
from ops.models import (
    AggInventoryPair,
    AggInventoryPo,
    PlannerSharedDraft,
    Product,
    Supplier,
    Warehouse,
)

PLANNER_ROLES = ("admin", "manager", "planner")
SHARE_ROLES = ("admin", "manager")
FORECAST_MODULE = "ops.forecast.queries"
LEADTIME_MODULE = "ops.scorecards.leadtime"
ALL = Filters()

INPUT_COLUMNS = [
    "product_id", "warehouse_id", "sku", "name", "category", "supplier", "warehouse", "unit_cost", "price",
    "as_of", "on_hand", "wk_units", "wk_sumsq", "sku_wk_units", "units_28", "lead_time_stated", "moq",
    "case_pack",
]
OPEN_PO_COLUMNS = ["product_id", "warehouse_id", "po_number", "ordered_on", "expected_on", "qty_open"]
LEAD_COLUMNS = ["supplier", "lt_mean_days", "lt_std_days", "lt_n", "lt_source"]
FORECAST_COLUMNS = ["sku", "fc_week_mean", "fc_sigma_week", "fc_model"]
SHARED_COLUMNS = ["supplier", "warehouse", "sku", "name", "qty", "unit_cost", "order_value", "expected_on",
                  "shared_at"]


def _text(col: Any) -> Any:
    return type_coerce(col, String)


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce").dt.normalize()


def module_available(name: str) -> bool:
    """Whether an optional sibling module (the forecast or scorecard package's) exists yet."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@data_function
def planning_inputs(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """One row per SKU x warehouse the planner plans: stock, 52-week demand stats, stated lead time,
    MOQ and case pack, as of the inventory aggregates' day.

    Returns
    -------
    DataFrame with columns product_id, warehouse_id (int64); sku, name, category, supplier
    (code, "" when none), warehouse (str); unit_cost, price (float64); as_of (datetime64);
    on_hand, wk_units (int64); wk_sumsq (float64); sku_wk_units (float64, NaN when unknown);
    units_28, lead_time_stated, moq, case_pack (int64). Sorted by sku, warehouse.
    """
    require_role(viewer, *PLANNER_ROLES)
    A = AggInventoryPair
    stmt = (select(A.product_id, A.warehouse_id, A.sku, A.name, A.category, A.supplier, A.warehouse,
                   A.unit_cost, A.price, _text(A.as_of), A.on_hand, A.wk_units, A.wk_sumsq, A.sku_wk_units,
                   A.units_28, A.lead_time_days, Product.moq, Product.case_pack)
            .join(Product, Product.id == A.product_id)
            .where(Product.active.is_(True)))
    if filters.warehouses:
        stmt = stmt.where(A.warehouse.in_(list(filters.warehouses)))
    df = pd.DataFrame(session.connection().execute(stmt).fetchall(), columns=INPUT_COLUMNS)
    for c in ("product_id", "warehouse_id", "on_hand", "wk_units", "units_28", "lead_time_stated"):
        df[c] = df[c].astype("int64")
    for c in ("moq", "case_pack"):
        df[c] = df[c].fillna(1).astype("int64")
    for c in ("unit_cost", "price", "wk_sumsq", "sku_wk_units"):
        df[c] = df[c].astype("float64")
    df["supplier"] = df["supplier"].fillna("").astype(str)
    df["as_of"] = _dates(df["as_of"])
    return df.sort_values(["sku", "warehouse"], kind="mergesort", ignore_index=True)


@data_function
def open_po_lines(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Open purchase-order lines per SKU x warehouse (``agg_inventory_po``: open POs, units not yet
    received), earliest expected first.

    Returns
    -------
    DataFrame with columns product_id, warehouse_id (int64); po_number (str); ordered_on,
    expected_on (datetime64, NaT = no expected day); qty_open (int64).
    """
    require_role(viewer, *PLANNER_ROLES)
    P = AggInventoryPo
    stmt = select(P.product_id, P.warehouse_id, P.po_number, _text(P.ordered_on), _text(P.expected_on), P.qty_open)
    if filters.warehouses:
        stmt = stmt.join(Warehouse, Warehouse.id == P.warehouse_id).where(Warehouse.code.in_(list(filters.warehouses)))
    df = pd.DataFrame(session.connection().execute(stmt).fetchall(), columns=OPEN_PO_COLUMNS)
    for c in ("product_id", "warehouse_id", "qty_open"):
        df[c] = df[c].astype("int64")
    df["ordered_on"], df["expected_on"] = _dates(df["ordered_on"]), _dates(df["expected_on"])
    return df.sort_values(["product_id", "warehouse_id", "expected_on", "po_number"], kind="mergesort",
                          ignore_index=True)


@data_function
def lead_times(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """Lead time mean and spread per supplier: measured where the scorecard has them, else stated.

    Returns
    -------
    DataFrame with columns supplier (str); lt_mean_days, lt_std_days (float64; NaN where only the
    per-product stated lead time applies); lt_n (int64 receipts measured); lt_source ("measured" or
    "stated"). Empty when the scorecard module does not exist yet (the planner then uses stated
    lead times and says so).
    """
    require_role(viewer, *PLANNER_ROLES)
    if not module_available(LEADTIME_MODULE):
        return pd.DataFrame({"supplier": pd.Series(dtype=object), "lt_mean_days": pd.Series(dtype="float64"),
                             "lt_std_days": pd.Series(dtype="float64"), "lt_n": pd.Series(dtype="int64"),
                             "lt_source": pd.Series(dtype=object)})
    mod = importlib.import_module(LEADTIME_MODULE)
    st = mod.lead_time_stats(session, viewer=viewer)
    out = pd.DataFrame({
        "supplier": st["supplier"].astype(str),
        "lt_mean_days": st["lt_mean_days"].astype("float64"),
        "lt_std_days": st["lt_std_days"].astype("float64"),
        "lt_n": st["lt_n"].fillna(0).astype("int64"),
    })
    measured = (out["lt_n"] >= 2) & out["lt_mean_days"].notna()
    out["lt_source"] = np.where(measured, "measured", "stated")
    out.loc[~measured, ["lt_mean_days", "lt_std_days"]] = np.nan
    out["lt_std_days"] = out["lt_std_days"].fillna(0.0).where(measured, np.nan)
    return out


@data_function
def forecast_demand(session: Session, *, viewer: Viewer, weeks: int = 8) -> pd.DataFrame:
    """The latest forecast per SKU (all warehouses): mean weekly units over its first ``weeks``
    weeks and the chosen model's weekly error spread.

    Returns
    -------
    DataFrame with columns sku (str); fc_week_mean, fc_sigma_week (float64); fc_model (str).
    Empty when the forecast module does not exist yet or has no run.
    """
    require_role(viewer, *PLANNER_ROLES)
    empty = pd.DataFrame({"sku": pd.Series(dtype=object), "fc_week_mean": pd.Series(dtype="float64"),
                          "fc_sigma_week": pd.Series(dtype="float64"), "fc_model": pd.Series(dtype=object)})
    if not module_available(FORECAST_MODULE):
        return empty
    mod = importlib.import_module(FORECAST_MODULE)
    if not hasattr(mod, "latest_forecast") or not hasattr(mod, "latest_choices"):
        return empty
    fc = mod.latest_forecast(session, viewer=viewer)
    if fc is None or len(fc) == 0:
        return empty
    fc = fc.sort_values(["sku", "week"])
    first = fc.groupby("sku", sort=True).head(int(weeks))
    mean = first.groupby("sku")["yhat"].mean().clip(lower=0.0)
    ch = mod.latest_choices(session, viewer=viewer)
    sigma = ch.set_index("sku")["sigma_week"] if len(ch) else pd.Series(dtype="float64")
    model = first.groupby("sku")["model"].first()
    out = pd.DataFrame({"sku": mean.index.astype(str), "fc_week_mean": mean.to_numpy(dtype="float64")})
    out["fc_sigma_week"] = out["sku"].map(sigma).astype("float64")
    out["fc_model"] = out["sku"].map(model).astype(object)
    return out


@data_function
def shared_drafts(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """Draft PO lines a manager shared with a supplier. Internal users see every shared line; a
    supplier only the lines addressed to it; carriers and 3PLs nothing.

    Returns
    -------
    DataFrame with columns supplier, warehouse, sku, name (str); qty (int64); unit_cost,
    order_value (float64); expected_on (datetime64); shared_at (datetime64).
    """
    require_viewer(viewer)
    D = PlannerSharedDraft
    stmt = (select(Supplier.code, Warehouse.code, Product.sku, Product.name, D.qty, D.unit_cost,
                   _text(D.expected_on), _text(D.shared_at))
            .join(Supplier, Supplier.id == D.supplier_id)
            .join(Warehouse, Warehouse.id == D.warehouse_id)
            .join(Product, Product.id == D.product_id)
            .order_by(Supplier.code, Warehouse.code, Product.sku))
    if viewer.is_vendor:
        if viewer.vendor_kind != "supplier":
            stmt = stmt.where(false())
        else:
            stmt = stmt.where(Supplier.code == viewer.vendor_code)
    df = pd.DataFrame(session.connection().execute(stmt).fetchall(),
                      columns=["supplier", "warehouse", "sku", "name", "qty", "unit_cost", "expected_on",
                               "shared_at"])
    df["qty"] = df["qty"].astype("int64")
    df["unit_cost"] = df["unit_cost"].astype("float64")
    df["order_value"] = df["qty"] * df["unit_cost"]
    df["expected_on"] = _dates(df["expected_on"])
    df["shared_at"] = pd.to_datetime(df["shared_at"], errors="coerce")
    return df[SHARED_COLUMNS]


def as_of_day(inputs: pd.DataFrame) -> dt.date | None:
    """The planning day: the as-of day of the inventory aggregates (None when there are none)."""
    if len(inputs) == 0 or pd.isna(inputs["as_of"].iloc[0]):
        return None
    return pd.Timestamp(inputs["as_of"].iloc[0]).date()
