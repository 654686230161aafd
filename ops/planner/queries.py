"""Scoped reads behind the reorder planner: what the catalogue needs to be planned.

Every read here is for internal planners (admin, manager, planner): a vendor asking gets
:class:`ops.access.AccessDenied` (nothing), except :func:`shared_drafts`, where a supplier reads the
draft PO lines a manager shared with it, and only those.

Sources, in order of preference (the page says which one each number came from):

- **Demand**: the forecast package's latest successful run (its weekly forecasts and choices, kept
  per SKU in ``agg_planner_forecast``) when that module exists and has a run; else the last 52 weeks
  of demand history in ``agg_inventory_pair`` (weekly units and sum of squares per SKU x warehouse).
- **Lead time**: the supplier scorecard's measured lead time (``ops.scorecards.leadtime.lead_time_stats``:
  mean and spread of received PO lines, kept per supplier in ``agg_planner_lead_time``) when it has
  at least 2 receipts; else the stated lead time (product's, else supplier's, as copied into
  ``agg_inventory_pair.lead_time_days``) with spread 0.
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
from ops.db import driver_rows
from ops.filters import Filters
from ops.inventory.queries import _epoch_days as epoch_days
from ops.inventory.queries import days_to_datetime, gc_paused
from ops.models import (
    AggInventoryPair,
    AggInventoryPo,
    AggPlannerForecast,
    AggPlannerLeadTime,
    PlannerSharedDraft,
    Product,
    Supplier,
    Warehouse,
)
from ops.planner.refresh import (
    FORECAST_WEEKS,
    LEAD_STAT_COLUMNS,
    empty_forecast_summary,
    forecast_summary,
    lead_time_rows,
    stored_forecast_run,
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


# planning_inputs' read: (column, structured dtype kind); a nullable integer comes as objects
_INPUT_LAYOUT = [
    ("product_id", "i8"), ("warehouse_id", "i8"), ("sku", "O"), ("name", "O"), ("category", "O"),
    ("supplier", "O"), ("warehouse", "O"), ("unit_cost", "f8"), ("price", "f8"), ("as_of", "f8"),
    ("on_hand", "i8"), ("wk_units", "i8"), ("wk_sumsq", "f8"), ("sku_wk_units", "f8"), ("units_28", "i8"),
    ("lead_time_stated", "i8"), ("moq", "O"), ("case_pack", "O"),
]
_OPEN_PO_LAYOUT = np.dtype([("product_id", "i8"), ("warehouse_id", "i8"), ("po_number", "O"),
                            ("ordered_on", "f8"), ("expected_on", "f8"), ("qty_open", "i8")])


def _whole(values: np.ndarray, default: int) -> np.ndarray:
    """A nullable integer column read as objects: int64, ``default`` where NULL."""
    try:
        return values.astype("int64")
    except TypeError:  # a NULL
        return np.where(pd.isna(values), default, values).astype("int64")


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
                   A.unit_cost, A.price, epoch_days(session, A.as_of), A.on_hand, A.wk_units, A.wk_sumsq,
                   A.sku_wk_units, A.units_28, A.lead_time_days, Product.moq, Product.case_pack)
            .join(Product, Product.id == A.product_id)
            .where(Product.active.is_(True)))
    if filters.warehouses:
        stmt = stmt.where(A.warehouse.in_(list(filters.warehouses)))
    # The driver's row tuples straight into one structured array, then a contiguous array per
    # column (as ops.inventory.queries.read_pairs): no Row objects, no per-value conversions.
    with gc_paused():
        t = np.array(driver_rows(session, stmt, binary=True), dtype=np.dtype([(f"c{k}", kind) for k, (_, kind)
                                                                  in enumerate(_INPUT_LAYOUT)]))
        cols = {name: np.ascontiguousarray(t[f"c{k}"]) for k, (name, _) in enumerate(_INPUT_LAYOUT)}
        del t
        cols["as_of"] = days_to_datetime(cols["as_of"])
        cols["moq"], cols["case_pack"] = _whole(cols["moq"], 1), _whole(cols["case_pack"], 1)
        sup = cols["supplier"]
        if len(sup) and any(v is None for v in sup):
            cols["supplier"] = np.array(["" if v is None else str(v) for v in sup], dtype=object)
        df = pd.DataFrame(cols, columns=INPUT_COLUMNS, copy=False)
    # Rows come in the join's order; sort only when that is not (sku, warehouse) already.
    sku, wh = cols["sku"], cols["warehouse"]
    if len(sku) > 1 and not bool(np.all((sku[1:] > sku[:-1]) | ((sku[1:] == sku[:-1]) & (wh[1:] >= wh[:-1])))):
        df = df.sort_values(["sku", "warehouse"], kind="mergesort", ignore_index=True)
    return df


@data_function
def open_po_lines(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Open purchase-order lines per SKU x warehouse (``agg_inventory_po``: open POs, units not yet
    received), earliest expected first.

    Returns
    -------
    DataFrame with columns product_id, warehouse_id (int64); po_number (str); ordered_on,
    expected_on (datetime64, NaT = no expected day); qty_open (int64). Sorted by product_id,
    warehouse_id, expected_on (NaT last), po_number.
    """
    require_role(viewer, *PLANNER_ROLES)
    P = AggInventoryPo
    stmt = select(P.product_id, P.warehouse_id, P.po_number, epoch_days(session, P.ordered_on),
                  epoch_days(session, P.expected_on), P.qty_open)
    if filters.warehouses:
        stmt = stmt.join(Warehouse, Warehouse.id == P.warehouse_id).where(Warehouse.code.in_(list(filters.warehouses)))
    with gc_paused():
        t = np.array(driver_rows(session, stmt, binary=True), dtype=_OPEN_PO_LAYOUT)
        df = pd.DataFrame({
            "product_id": t["product_id"], "warehouse_id": t["warehouse_id"], "po_number": t["po_number"],
            "ordered_on": days_to_datetime(t["ordered_on"]), "expected_on": days_to_datetime(t["expected_on"]),
            "qty_open": t["qty_open"],
        }, columns=OPEN_PO_COLUMNS)
    return df.sort_values(["product_id", "warehouse_id", "expected_on", "po_number"], kind="mergesort",
                          ignore_index=True)


@data_function
def lead_times(session: Session, *, viewer: Viewer) -> pd.DataFrame:
    """Lead time mean and spread per supplier: measured where the scorecard has them, else stated.

    Read from ``agg_planner_lead_time`` (:mod:`ops.planner.refresh`: the scorecard's
    ``lead_time_stats`` kept per supplier with receipts) beside every supplier; measured on the
    spot when that table is empty.

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
    L = AggPlannerLeadTime
    if session.execute(select(L.supplier).limit(1)).first() is None:  # never built, or nothing received
        st = lead_time_rows(session)
    else:  # every supplier, as lead_time_stats lists them; those without receipts have no row
        st = pd.DataFrame(session.execute(
            select(Supplier.code, L.lt_n, L.lt_mean_days, L.lt_std_days)
            .outerjoin(L, L.supplier == Supplier.code).order_by(Supplier.code)).all(), columns=LEAD_STAT_COLUMNS)
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


_FORECAST_LAYOUT = np.dtype([("sku", "O"), ("fc_week_mean", "f8"), ("fc_sigma_week", "f8"), ("fc_model", "O")])


@data_function
def forecast_demand(session: Session, *, viewer: Viewer, weeks: int = FORECAST_WEEKS) -> pd.DataFrame:
    """The latest forecast per SKU (all warehouses): mean weekly units over its first ``weeks``
    weeks and the chosen model's weekly error spread.

    Read from ``agg_planner_forecast`` when it was built from the latest successful run (one row
    per SKU); otherwise computed from the run's weekly forecasts (:func:`ops.planner.refresh.forecast_summary`).

    Returns
    -------
    DataFrame with columns sku (str); fc_week_mean, fc_sigma_week (float64); fc_model (str).
    Sorted by sku. Empty when the forecast module does not exist yet or has no run.
    """
    require_role(viewer, *PLANNER_ROLES)
    if not module_available(FORECAST_MODULE):
        return empty_forecast_summary()
    mod = importlib.import_module(FORECAST_MODULE)
    if not hasattr(mod, "latest_run_id"):
        return empty_forecast_summary()
    rid = mod.latest_run_id(session)
    if rid is None:
        return empty_forecast_summary()
    if int(weeks) != FORECAST_WEEKS or stored_forecast_run(session) != rid:
        return forecast_summary(session, rid, weeks=int(weeks))
    F = AggPlannerForecast
    stmt = select(F.sku, F.fc_week_mean, F.fc_sigma_week, F.fc_model)
    with gc_paused():
        t = np.array(driver_rows(session, stmt, binary=True), dtype=_FORECAST_LAYOUT)
        out = pd.DataFrame({c: t[c] for c in FORECAST_COLUMNS}, columns=FORECAST_COLUMNS)
    sku = t["sku"]
    if len(sku) > 1 and not bool(np.all(sku[1:] > sku[:-1])):  # rows come in key order on SQLite
        out = out.sort_values("sku", kind="mergesort", ignore_index=True)
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
