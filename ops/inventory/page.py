"""Inventory health: what will run out, what is stuck, what is worth acting on.

This module assembles what the inventory page shows (:func:`inventory_health`, one call per page
load), the projection of one pair (:func:`projection`) and the home page's :func:`headline`.
Each number is defined once in :mod:`ops.inventory.metrics`; the reads are in
:mod:`ops.inventory.queries`.

Definitions (the numbers every table, export and test of this page share)
-------------------------------------------------------------------------
- **As-of day**: the last inventory snapshot day in the database (never the wall clock).
- **Demand**: units on ``order_lines`` of orders not cancelled, on the day the order was
  placed, attributed to the order's warehouse (orders without a warehouse are not counted).
  Revenue is ``qty * unit_price`` of the same lines.
- **Window**: the ``W`` days ending on the as-of day, ``W`` in 28/56/84/112 (snapshots are daily
  for the last 120 days only, weekly before).
- **Stockout day**: a day whose end-of-day ``on_hand`` snapshot is <= 0. A day without a
  snapshot counts as in stock.
- **On hand**: the snapshot of the as-of day (0 when the pair has none). **On order**: open PO
  lines (``qty_ordered - qty_received`` > 0 on POs with status ``open``), by the PO's warehouse.
- Average daily demand, days of cover, projected stockout, gap, ABC / XYZ / demand pattern and
  the KPIs: see :mod:`ops.inventory.metrics`. An open PO expected before the as-of day counts as
  arriving the day after it, flagged ``po_overdue``; an open PO without an expected date counts
  in on order but not in the projection.
- **Lost sales** (window) = average daily demand x stockout days in the window (units), x the
  product's list price (revenue).
- **Lead time**: the product's, else its supplier's stated lead time, else
  ``DEFAULT_LEAD_TIME_DAYS``.
- **Aging**: the whole on-hand quantity of a pair is aged by days since its last receipt
  (a received PO line on or before the as-of day); never received = oldest bucket.
- **Excess**: projected position (on hand + on order) above ``excess_cover_days`` x average
  daily demand; ``po_excess_units`` is the part that open POs would add. **Dead stock**: on hand
  > 0 and no sale for ``dead_stock_days`` (or never).
- **ABC** is computed within the rows the viewer sees (scope and warehouse filter) on the
  52-week revenue (or units). **XYZ / pattern** of a SKU use its total weekly demand over all
  warehouses; of a SKU x warehouse, that pair's own weekly demand.

Exceptions (what needs action now), sorted by value at risk
-----------------------------------------------------------
- ``stockout``: demand > 0 and the projected stockout falls within
  max(lead time, ``cover_warning_days``) days; value at risk = lost revenue from the stockout
  until the next PO lands after it (or, with none, until an order placed today would arrive).
- ``excess``: excess units > 0 (not dead); value at risk = excess units x unit cost.
- ``dead``: dead stock; value at risk = on hand x unit cost.
Each row carries the threshold (name, value, source) that put it there. Acknowledged rows,
and snoozed rows whose ``snooze_until`` is on or after the as-of day, leave the open list.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.decisions import entity_states, thresholds_for
from ops.decisions import resolve as resolve_threshold
from ops.decisions import resolve_frame as resolve_threshold_frame
from ops.domain import HEADLINE_EXCEPTION_COLUMNS, Headline, Kpi
from ops.filters import ALL, Filters
from ops.inventory import metrics as m
from ops.inventory.metrics import DEFAULT_WINDOW, KPI_WINDOW
from ops.inventory.queries import (
    EXCEPTION_KINDS,
    check_window,
    gc_paused,
    read_open_pos,
    read_pairs,
)
from ops.inventory.queries import to_date as _to_date

ENTITY_KIND = "inventory_exception"
PAIR_THRESHOLDS = ("cover_warning_days", "excess_cover_days", "dead_stock_days")
THRESHOLD_NAMES = ("cover_warning_days", "excess_cover_days", "dead_stock_days", "abc_a_cut", "abc_b_cut")
HIDDEN_STATES = ("acknowledged", "snoozed")
HEADLINE_TOP = 10
EMPTY_REASON = ("No stock to show: there are no inventory snapshots for the SKUs and warehouses you can see. "
                "Clear the warehouse filter in the sidebar, or import inventory snapshots.")


def exception_key(kind: str, sku: str, warehouse: str) -> str:
    """The entity key of an exception row: ``kind:sku:warehouse``."""
    return f"{kind}:{sku}:{warehouse}"


def _renumbered(df: pd.DataFrame) -> pd.DataFrame:
    """``df.reset_index(drop=True)`` for a frame nobody else holds, without copying its columns."""
    df.index = pd.RangeIndex(len(df))
    return df


@dataclass(frozen=True)
class InventoryHealth:
    """Everything the inventory page shows, computed once per (viewer, filters, window)."""

    as_of: dt.date | None
    window: int
    positions: pd.DataFrame
    skus: pd.DataFrame
    exceptions: pd.DataFrame
    aging: pd.DataFrame
    kpis: pd.DataFrame
    open_pos: pd.DataFrame
    thresholds: pd.DataFrame


def _thresholds(session: Session, viewer: Viewer, pairs: pd.DataFrame, overrides: dict[str, float] | None
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
    stored = thresholds_for(session, viewer=viewer)
    frame = pairs[["sku", "category", "warehouse"]].rename(columns={"warehouse": "wh"})
    for name in PAIR_THRESHOLDS:
        r = resolve_threshold_frame(stored, frame, name=name,
                                    columns={"sku": "sku", "warehouse": "wh", "category": "category"})
        src = r["source_scope"].astype(object)
        present = set(pd.unique(src.to_numpy()))
        for kind, col in (("sku", "sku"), ("category", "category"), ("warehouse", "wh")):
            if kind in present:  # name the key only where an override applies (most rows use global/default)
                hit = src == kind
                src[hit] = kind + " " + frame.loc[hit, col].astype(str)
        keys = src
        pairs[name] = r["value"].astype("float64")
        pairs[f"{name}_source"] = keys
        if overrides and name in overrides:
            pairs[name] = float(overrides[name])
            pairs[f"{name}_source"] = "what-if"
    glob = {n: resolve_threshold(stored, None, name=n) for n in ("abc_a_cut", "abc_b_cut", *PAIR_THRESHOLDS)}
    return stored, glob


def _add_days(as_of: Any, days: np.ndarray) -> np.ndarray:
    """``as_of + days`` as datetime64[ns] (NaN days -> NaT): ``pd.to_timedelta(days, unit="D")``
    for whole days, without its per-call overhead."""
    d = np.asarray(days, dtype="float64")
    out = np.full(len(d), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(d)
    start = pd.Timestamp(as_of).to_datetime64().astype("datetime64[ns]")
    out[ok] = start + d[ok].astype("int64").astype("timedelta64[D]")
    return out


def _positions(pairs: pd.DataFrame, pos: pd.DataFrame, window: int) -> pd.DataFrame:
    as_of = pairs["as_of"].iloc[0] if len(pairs) else pd.NaT
    p = pairs
    p["avg_daily_demand"] = m.avg_daily_demand(p["units"], window, p["stockout_days"])
    rate = p["avg_daily_demand"]
    p["days_of_cover"] = m.days_of_cover(p["on_hand"], rate)
    # projection with open POs by expected date (overdue -> day 1); pairs are keyed by their row
    # position (integer keys make the projection's grouping and lookups cheap)
    n = len(p)
    pair_at = pd.Index(p["sku"] + "\x1f" + p["warehouse"])  # (sku, warehouse) is unique
    arr = pos[pos["expected_on"].notna()]
    at = pair_at.get_indexer(arr["sku"] + "\x1f" + arr["warehouse"]) if len(arr) else np.zeros(0, dtype="int64")
    day = ((arr["expected_on"] - as_of).dt.days.clip(lower=1).to_numpy(dtype="int64") if len(arr)
           else np.zeros(0, dtype="int64"))
    mine = at >= 0  # POs of pairs not shown (other warehouses) do not count
    proj = m.project_stockouts(
        pd.DataFrame({"key": np.arange(n), "on_hand": p["on_hand"].to_numpy(), "rate": rate.to_numpy()},
                     index=p.index),
        pd.DataFrame({"key": at[mine], "day": day[mine], "qty": arr["qty_open"].to_numpy(dtype=float)[mine]}))
    p["days_to_stockout"] = proj["stockout_day"]
    p["projected_stockout"] = _add_days(as_of, proj["stockout_day"].to_numpy())
    p["gap_days"] = proj["gap_days"]
    first_day = np.full(n, np.nan)
    np.fmin.at(first_day, at[mine], day[mine].astype(float))
    p["next_po"] = _add_days(as_of, first_day)
    overdue = np.zeros(n, dtype=bool)
    if len(arr):
        overdue[at[mine & (arr["expected_on"] < as_of).to_numpy()]] = True
    p["po_overdue"] = overdue
    p["out_of_stock"] = p["on_hand"] <= 0
    p["lost_units"] = rate * p["stockout_days"]
    p["lost_revenue"] = p["lost_units"] * p["price"]
    p["stock_value"] = p["on_hand"].clip(lower=0) * p["unit_cost"]
    p["days_since_receipt"] = (as_of - p["last_receipt"]).dt.days
    p["days_since_sale"] = (as_of - p["last_sale"]).dt.days
    p["age_bucket"] = m.age_bucket(p["days_since_receipt"])
    ws = m.weekly_stats_frame(p["wk_nonzero"], p["wk_units"], p["wk_sumsq"])
    p["cv"] = ws["cv"]
    p["xyz"] = m.xyz_class(ws["cv"])
    p["pattern"] = m.demand_pattern(ws["adi"], ws["cv2"])
    return p


def _flag(p: pd.DataFrame) -> pd.DataFrame:
    rate = p["avg_daily_demand"]
    target = rate * p["excess_cover_days"]
    position = p["on_hand"].clip(lower=0) + p["on_order"]
    p["dead"] = (p["on_hand"] > 0) & (p["days_since_sale"].isna() | (p["days_since_sale"] >= p["dead_stock_days"]))
    p["excess_units"] = np.where(p["dead"], 0.0, (position - target).clip(lower=0))
    p["po_excess_units"] = np.minimum(p["excess_units"], p["on_order"].astype(float))
    p["excess_value"] = p["excess_units"] * p["unit_cost"]
    p["at_risk"] = (rate > 0) & (p["days_of_cover"] < p["cover_warning_days"])
    return p


def _exceptions(session: Session, viewer: Viewer, p: pd.DataFrame, as_of: Any, include_closed: bool
                ) -> pd.DataFrame:
    rate = p["avg_daily_demand"]
    lead = p["lead_time_days"].astype(float)
    horizon = np.maximum(lead, p["cover_warning_days"])
    by_cover = p["cover_warning_days"] >= lead
    common = ["sku", "name", "warehouse", "supplier", "on_hand", "on_order", "avg_daily_demand", "days_of_cover",
              "projected_stockout", "next_po", "gap_days", "po_overdue"]
    # each kind takes only the columns it uses (fewer columns to copy out of the wide frame)
    stock = p.loc[(rate > 0) & p["days_to_stockout"].notna() & (p["days_to_stockout"] <= horizon),
                  [*common, "price", "lead_time_days", "days_to_stockout", "cover_warning_days",
                   "cover_warning_days_source"]]
    so = stock["days_to_stockout"]
    uncovered = stock["gap_days"].where(stock["gap_days"].notna(),
                                        (stock["lead_time_days"] - so).clip(lower=0))
    stock["value_at_risk"] = stock["avg_daily_demand"] * uncovered * stock["price"]
    stock["days_uncovered"] = uncovered
    bc = by_cover.loc[stock.index]
    stock["threshold"] = np.where(bc, "cover_warning_days", "lead_time_days")
    stock["threshold_value"] = np.where(bc, stock["cover_warning_days"], stock["lead_time_days"].astype(float))
    stock["threshold_source"] = np.where(bc, stock["cover_warning_days_source"], "product / supplier lead time")
    stock["kind"] = "stockout"
    days = np.datetime_as_string(stock["projected_stockout"].to_numpy(dtype="datetime64[ns]"), unit="D")
    stock["detail"] = [
        f"out in {d:.0f} d ({s})" + (f"; PO lands {g:.0f} d later" if not math.isnan(g) else "; no PO after")
        + ("; PO overdue" if o else "")
        for d, s, g, o in zip(so, days, stock["gap_days"], stock["po_overdue"], strict=True)
    ]
    exc = p.loc[p["excess_units"] > 0,
                [*common, "excess_units", "po_excess_units", "excess_value", "excess_cover_days",
                 "excess_cover_days_source"]]
    exc["value_at_risk"] = exc["excess_value"]
    exc["days_uncovered"] = np.nan
    exc["threshold"] = "excess_cover_days"
    exc["threshold_value"] = exc["excess_cover_days"]
    exc["threshold_source"] = exc["excess_cover_days_source"]
    exc["kind"] = "excess"
    exc["detail"] = [f"{e:,.0f} units above target" + (f" ({q:,.0f} from open POs)" if q > 0 else "")
                     for e, q in zip(exc["excess_units"], exc["po_excess_units"], strict=True)]
    dead = p.loc[p["dead"], [*common, "stock_value", "days_since_sale", "dead_stock_days", "dead_stock_days_source"]]
    dead["value_at_risk"] = dead["stock_value"]
    dead["days_uncovered"] = np.nan
    dead["threshold"] = "dead_stock_days"
    dead["threshold_value"] = dead["dead_stock_days"]
    dead["threshold_source"] = dead["dead_stock_days_source"]
    dead["kind"] = "dead"
    dead["detail"] = ["never sold" if math.isnan(d) else f"no sale for {d:.0f} d" for d in dead["days_since_sale"]]
    cols = ["kind", "sku", "name", "warehouse", "supplier", "value_at_risk", "detail", "threshold",
            "threshold_value", "threshold_source", "on_hand", "on_order", "avg_daily_demand", "days_of_cover",
            "projected_stockout", "next_po", "gap_days", "po_overdue", "days_uncovered"]
    ex = pd.concat([stock[cols], exc[cols], dead[cols]])
    row = ex.index.to_numpy()  # the row in p, which is in (sku, warehouse) order (see read_pairs)
    ex.index = pd.RangeIndex(len(ex))  # what reset_index(drop=True) gives, without its full copy
    ex["entity_key"] = ex["kind"] + ":" + ex["sku"] + ":" + ex["warehouse"]  # exception_key, vectorised
    states = entity_states(session, viewer=viewer, entity_kind=ENTITY_KIND)
    st = states.set_index("entity_key") if len(states) else pd.DataFrame(
        columns=["state", "note", "snooze_until", "version"])
    ex["state"] = ex["entity_key"].map(st["state"]).fillna("open")
    ex["note"] = ex["entity_key"].map(st["note"])
    ex["snooze_until"] = _to_date(ex["entity_key"].map(st["snooze_until"]))
    ex["version"] = ex["entity_key"].map(st["version"]).fillna(0).astype("int64")
    closed = (ex["state"] == "acknowledged") | ((ex["state"] == "snoozed") & (ex["snooze_until"] >= as_of))
    # value at risk descending (NaN last), then kind, sku, warehouse: the order of
    # sort_values(["value_at_risk", "kind", "sku", "warehouse"], ascending=[False, True, True, True]),
    # by one numeric lexsort (kind by its alphabetical rank, sku and warehouse by the row in p)
    kinds = ex["kind"].to_numpy()
    kind_rank = np.searchsorted(np.array(sorted(EXCEPTION_KINDS), dtype=object), kinds)
    order = np.lexsort((row, kind_rank, -ex["value_at_risk"].to_numpy(dtype="float64")))
    if not include_closed:
        order = order[~closed.to_numpy()[order]]
    ex = ex.take(order)
    ex.index = pd.RangeIndex(len(ex))
    return ex


def _skus(p: pd.DataFrame, stats: pd.DataFrame, glob: dict[str, Any], abc_by: str) -> pd.DataFrame:
    sku = p["sku"].to_numpy()
    sums_cols = ["on_hand", "on_order", "units", "revenue", "stockout_days", "avg_daily_demand", "lost_units",
                 "lost_revenue", "stock_value", "wk_units", "wk_revenue"]
    if len(p) and bool(np.all(sku[1:] >= sku[:-1])):
        # Rows come sorted by SKU (see read_pairs): group on integer run numbers rather than
        # factorising the SKU strings; name / category / supplier are the product's, so the first
        # row of each SKU is what groupby().first() returns.
        first = np.r_[True, sku[1:] != sku[:-1]]
        starts = np.flatnonzero(first)
        g = p.groupby(np.cumsum(first) - 1, sort=True)
        s = p[["name", "category", "supplier"]].take(starts)
        s.index = pd.Index(sku[starts], name="sku")
        s["warehouses"] = g["warehouse"].size().to_numpy()
        sums = g[sums_cols].sum()
        sums.index = s.index
        s = s.join(sums.rename(columns={"wk_units": "units_52w", "wk_revenue": "revenue_52w"}))
        s["earliest_stockout"] = g["projected_stockout"].min().to_numpy()
    else:
        g = p.groupby("sku", sort=True)
        s = g[["name", "category", "supplier"]].first()
        s["warehouses"] = g["warehouse"].size()
        s = s.join(g[sums_cols].sum().rename(columns={"wk_units": "units_52w", "wk_revenue": "revenue_52w"}))
        s["earliest_stockout"] = g["projected_stockout"].min()
    s["days_of_cover"] = m.days_of_cover(s["on_hand"], s["avg_daily_demand"])
    basis = s["revenue_52w"] if abc_by == "revenue" else s["units_52w"]
    s["abc"] = m.abc_classes(basis, a_cut=glob["abc_a_cut"].value, b_cut=glob["abc_b_cut"].value)
    st = stats.set_index("sku").reindex(s.index)
    ws = m.weekly_stats_frame(st["wk_nonzero"].fillna(0), st["wk_units"].fillna(0), st["wk_sumsq"].fillna(0))
    s["cv"] = ws["cv"]
    s["adi"] = ws["adi"]
    s["cv2"] = ws["cv2"]
    s["xyz"] = m.xyz_class(ws["cv"])
    s["pattern"] = m.demand_pattern(ws["adi"], ws["cv2"])
    return s.reset_index()


def _aging(p: pd.DataFrame) -> pd.DataFrame:
    pos = p.loc[p["on_hand"] > 0, ["warehouse", "age_bucket", "on_hand", "stock_value", "sku"]]
    a = (pos.groupby(["warehouse", "age_bucket"], sort=False)
         .agg(units=("on_hand", "sum"), value=("stock_value", "sum"), pairs=("sku", "size")).reset_index())
    a["age_bucket"] = pd.Categorical(a["age_bucket"], categories=m.age_labels(), ordered=True)
    a = a.sort_values(["warehouse", "age_bucket"]).reset_index(drop=True)
    a["age_bucket"] = a["age_bucket"].astype(str)
    return a.astype({"units": "int64", "value": "float64", "pairs": "int64"})


POSITION_COLUMNS = [
    "sku", "name", "category", "supplier", "warehouse", "on_hand", "on_order", "units", "revenue", "stockout_days",
    "avg_daily_demand", "days_of_cover", "projected_stockout", "days_to_stockout", "next_po", "po_overdue",
    "gap_days", "out_of_stock", "lost_units", "lost_revenue", "lead_time_days", "unit_cost", "price", "stock_value",
    "last_receipt", "days_since_receipt", "age_bucket", "last_sale", "days_since_sale", "cv", "xyz", "pattern",
    "excess_units", "po_excess_units", "excess_value", "dead", "at_risk",
    "cover_warning_days", "cover_warning_days_source", "excess_cover_days", "excess_cover_days_source",
    "dead_stock_days", "dead_stock_days_source",
]
SKU_COLUMNS = [
    "sku", "name", "category", "supplier", "warehouses", "on_hand", "on_order", "units", "revenue", "stockout_days",
    "avg_daily_demand", "days_of_cover", "earliest_stockout", "lost_units", "lost_revenue", "stock_value",
    "units_52w", "revenue_52w", "abc", "cv", "adi", "cv2", "xyz", "pattern",
]
EXCEPTION_COLUMNS = [
    "kind", "sku", "name", "warehouse", "supplier", "value_at_risk", "detail", "threshold", "threshold_value",
    "threshold_source", "on_hand", "on_order", "avg_daily_demand", "days_of_cover", "projected_stockout", "next_po",
    "gap_days", "po_overdue", "days_uncovered", "state", "note", "snooze_until", "version", "entity_key",
]
OPEN_PO_COLUMNS = ["sku", "warehouse", "po_number", "ordered_on", "expected_on", "qty_open", "overdue"]


@data_function
def inventory_health(
    session: Session,
    *,
    viewer: Viewer,
    filters: Filters = ALL,
    window: int = DEFAULT_WINDOW,
    abc_by: str = "revenue",
    include_closed: bool = False,
    overrides: dict[str, float] | None = None,
) -> InventoryHealth:
    """Every table of the inventory page for ``viewer`` (definitions in the module docstring).

    ``filters.warehouses`` narrows the warehouses (dates and channels do not apply to stock: the
    as-of day and ``window`` define the period). ``overrides`` replaces pair thresholds for a
    what-if without storing them.

    Returns
    -------
    InventoryHealth with frames:
    positions: one row per SKU x warehouse, columns ``POSITION_COLUMNS``: sku, name, category,
        supplier, warehouse (str); on_hand, on_order, units, stockout_days, lead_time_days (int64);
        revenue, avg_daily_demand, days_of_cover (inf = no demand), days_to_stockout (NaN = none),
        gap_days, lost_units, lost_revenue, unit_cost, price, stock_value, cv, excess_units,
        po_excess_units, excess_value, thresholds (float64); projected_stockout, next_po,
        last_receipt, last_sale (datetime64); po_overdue, out_of_stock, dead, at_risk (bool);
        age_bucket, xyz, pattern, *_source (str).
    skus: one row per SKU, ``SKU_COLUMNS``; abc / xyz / pattern (str), the rest numeric as above.
    exceptions: ``EXCEPTION_COLUMNS``, sorted by value_at_risk (float64) descending; state (str),
        version (int64), entity_key (str) for :func:`ops.decisions.set_entity_state`.
    aging: warehouse, age_bucket (str), units (int64), value (float64), pairs (int64).
    kpis: kpi, label, unit (str), value, previous, change (float64).
    open_pos: ``OPEN_PO_COLUMNS``; qty_open (int64), overdue (bool).
    thresholds: name, value (float64), source (str) of the global values in force.
    """
    require_viewer(viewer)
    window = check_window(window)
    if abc_by not in ("revenue", "units"):
        raise ValueError(f"abc_by must be 'revenue' or 'units' (got {abc_by!r})")
    with gc_paused():  # see gc_paused: many short-lived objects, no cyclic garbage
        return _build_health(session, viewer, filters, window, abc_by, include_closed, overrides)


def _build_health(session: Session, viewer: Viewer, filters: Filters, window: int, abc_by: str,
                  include_closed: bool, overrides: dict[str, float] | None) -> InventoryHealth:
    pairs = read_pairs(session, viewer=viewer, filters=filters, window=window)
    pos = read_open_pos(session, viewer=viewer, filters=filters)
    _stored, glob = _thresholds(session, viewer, pairs, overrides)
    thr = pd.DataFrame([{"name": n, "value": float((overrides or {}).get(n, e.value)),
                         "source": "what-if" if n in (overrides or {}) else e.source} for n, e in glob.items()],
                       columns=["name", "value", "source"])
    if pairs.empty:
        empty = InventoryHealth(
            as_of=None, window=window, positions=pd.DataFrame(columns=POSITION_COLUMNS),
            skus=pd.DataFrame(columns=SKU_COLUMNS), exceptions=pd.DataFrame(columns=EXCEPTION_COLUMNS),
            aging=pd.DataFrame(columns=["warehouse", "age_bucket", "units", "value", "pairs"]),
            kpis=m.kpis(pairs.assign(cover_warning_days=0.0)),
            open_pos=pd.DataFrame(columns=OPEN_PO_COLUMNS), thresholds=thr)
        return empty
    as_of = pairs["as_of"].iloc[0]
    for c in ("on_hand", "on_hand_prev", "units", "stockout_days", "units_28", "stockout_28", "units_prev_28",
              "stockout_prev_28", "wk_units", "wk_nonzero", "on_order", "lead_time_days"):
        if pairs[c].dtype != "int64":
            pairs[c] = pairs[c].astype("int64")
    for c in ("unit_cost", "price", "revenue", "wk_revenue", "wk_sumsq"):
        if pairs[c].dtype != "float64":
            pairs[c] = pairs[c].astype("float64")
    p = _flag(_positions(pairs, pos, window))
    # SKU-level weekly stats came along with the pair rows (agg_inventory_sku, all warehouses)
    stats = (p[["sku", "sku_wk_units", "sku_wk_nonzero", "sku_wk_sumsq"]].drop_duplicates("sku")
             .rename(columns=lambda c: c.replace("sku_wk", "wk")))
    skus = _skus(p, stats, glob, abc_by)
    ex = _exceptions(session, viewer, p, as_of, include_closed)
    open_pos = pos.assign(overdue=pos["expected_on"] < as_of)
    return InventoryHealth(
        as_of=as_of.date(), window=window, positions=_renumbered(p[POSITION_COLUMNS]),
        skus=skus[SKU_COLUMNS], exceptions=ex[EXCEPTION_COLUMNS], aging=_aging(p), kpis=m.kpis(p),
        open_pos=open_pos[OPEN_PO_COLUMNS], thresholds=thr,
    )


@data_function
def projection(
    session: Session, *, viewer: Viewer, sku: str = "", warehouse: str = "", window: int = DEFAULT_WINDOW,
    horizon: int = 90,
) -> pd.DataFrame:
    """Projected end-of-day on hand of one SKU in one warehouse, day by day from the as-of day.

    Returns
    -------
    DataFrame with columns day (datetime64), on_hand (float64, projected), arrivals (float64,
    PO units arriving that day), po_numbers (str, '' when none). Empty when the pair is not
    visible to the viewer.
    """
    require_viewer(viewer)
    window = check_window(window)
    f = Filters(warehouses=(warehouse,)) if warehouse else ALL
    pairs = read_pairs(session, viewer=viewer, filters=f, window=window)
    pairs = pairs[pairs["sku"] == sku]
    cols = ["day", "on_hand", "arrivals", "po_numbers"]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    r = pairs.iloc[0]
    rate = m.avg_daily_demand(r["units"], window, int(r["stockout_days"]))
    pos = read_open_pos(session, viewer=viewer, filters=f)
    pos = pos[(pos["sku"] == sku) & pos["expected_on"].notna()]
    as_of = r["as_of"]
    days = np.maximum((pos["expected_on"] - as_of).dt.days.to_numpy(), 1) if len(pos) else np.zeros(0, int)
    rows = [{"day": as_of, "on_hand": float(r["on_hand"]), "arrivals": 0.0, "po_numbers": ""}]
    stock = float(r["on_hand"])
    for k in range(1, int(horizon) + 1):
        hit = days == k
        qty = float(pos["qty_open"].to_numpy()[hit].sum()) if len(pos) else 0.0
        stock = stock + qty - rate
        rows.append({"day": as_of + pd.Timedelta(days=k), "on_hand": stock, "arrivals": qty,
                     "po_numbers": ", ".join(pos["po_number"].to_numpy()[hit]) if len(pos) else ""})
    return pd.DataFrame(rows, columns=cols)




@data_function
def headline(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> Headline:
    """The inventory page in brief for the home page: its KPI tiles and its top open exceptions.

    The KPIs are :func:`ops.inventory.metrics.kpis` (shares as fractions, previous = the 28 days
    ending a week earlier) plus the value at risk of the open exceptions (no previous period:
    exception states are not kept per day). Exceptions: the :data:`HEADLINE_TOP` open ones with
    the highest value at risk; ``subject`` is ``SKU @ warehouse``. Only the warehouse filter
    applies (stock is measured at the as-of day).
    """
    require_viewer(viewer)
    h = inventory_health(session, viewer=viewer, filters=Filters(warehouses=filters.warehouses))
    if h.as_of is None or h.positions.empty:
        return Headline(kpis=(), exceptions=pd.DataFrame(columns=HEADLINE_EXCEPTION_COLUMNS),
                        empty_reason=EMPTY_REASON)
    kpis = [Kpi(key=str(r.kpi), label=str(r.label), kind=str(r.unit), value=_num(r.value),
                previous=_num(r.previous), higher_is_better=m.KPIS[str(r.kpi)][2], help=m.KPIS[str(r.kpi)][3])
            for r in h.kpis.itertuples(index=False)]
    kpis.append(Kpi(key="value_at_risk", label="Value at risk", kind="money",
                    value=float(h.exceptions["value_at_risk"].sum()), higher_is_better=False,
                    help="What the open exceptions put at risk: sales lost before stock arrives, and excess "
                         "or dead stock at cost."))
    top = h.exceptions.head(HEADLINE_TOP)
    ex = pd.DataFrame({"subject": (top["sku"] + " @ " + top["warehouse"]).astype(object),
                       "kind": top["kind"].astype(object), "detail": top["detail"].astype(object),
                       "value_at_risk": top["value_at_risk"].astype("float64")},
                      columns=HEADLINE_EXCEPTION_COLUMNS)
    ex.index = pd.RangeIndex(len(ex))
    return Headline(kpis=tuple(kpis), exceptions=ex,
                    note=f"As of {h.as_of:%Y-%m-%d} (last inventory snapshot), demand over the last "
                         f"{KPI_WINDOW} days; the date range does not apply to stock")


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)
