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


Arrays = dict[str, np.ndarray]
_PAIR_SCOPES = (("sku", "sku"), ("category", "category"), ("warehouse", "wh"))
_INT_COLUMNS = ("on_hand", "on_hand_prev", "units", "stockout_days", "units_28", "stockout_28", "units_prev_28",
                "stockout_prev_28", "wk_units", "wk_nonzero", "on_order", "lead_time_days")
_FLOAT_COLUMNS = ("unit_cost", "price", "revenue", "wk_revenue", "wk_sumsq")
_KPI_INPUTS = ("on_hand", "on_hand_prev", "units_28", "units_prev_28", "stockout_28", "stockout_prev_28",
               "unit_cost", "cover_warning_days")
_NS_PER_DAY = 86_400_000_000_000
_KIND_RANK = {k: i for i, k in enumerate(sorted(EXCEPTION_KINDS))}  # ties in value: kinds alphabetically
_LEAD_TIME_SOURCE = "product / supplier lead time"


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A frame over arrays nobody else holds, one block per column: no copy into 2-D blocks
    (consolidating ~40 columns cost 5-10 ms per table at bench size)."""
    return pd.DataFrame(columns, copy=False)


def _resolve_pairs(stored: pd.DataFrame, name: str, keys: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Threshold ``name`` in force per pair, and where it comes from ("sku SKU-1", "global", ...).

    :func:`ops.decisions.resolve_frame` decides; it is called only on the pairs whose SKU,
    category or warehouse has a stored row of any kind, and once for all the others (whose
    value cannot depend on their keys): at bench size that is a handful of rows, not ~15k.
    """
    n = len(keys["sku"])
    mine = stored[stored["name"] == name] if len(stored) else stored
    scoped = {str(k) for k in mine["scope_key"]} if len(mine) else set()
    miss = "\x00"
    while miss in scoped:  # a key that matches no stored row
        miss += "\x00"
    base = resolve_threshold_frame(stored, pd.DataFrame({c: [miss] for _, c in _PAIR_SCOPES}), name=name,
                                   columns=dict(_PAIR_SCOPES))
    value = np.full(n, float(base["value"].iloc[0]))
    source = np.full(n, base["source_scope"].iloc[0], dtype=object)
    if not scoped or not n:
        return value, source
    hit = np.zeros(n, dtype=bool)
    lookup = pd.Index(sorted(scoped))
    for _, col in _PAIR_SCOPES:
        hit |= lookup.get_indexer(keys[col].astype(str)) >= 0  # as resolve_frame matches: by str()
    at = np.flatnonzero(hit)
    if not len(at):
        return value, source
    frame = pd.DataFrame({col: keys[col][at] for _, col in _PAIR_SCOPES})
    r = resolve_threshold_frame(stored, frame, name=name, columns=dict(_PAIR_SCOPES))
    src = r["source_scope"].astype(object)
    present = set(pd.unique(src.to_numpy()))
    for kind, col in _PAIR_SCOPES:
        if kind in present:  # name the key only where an override applies (most rows use global/default)
            on = src == kind
            src[on] = kind + " " + frame.loc[on, col].astype(str)
    value[at] = r["value"].to_numpy(dtype="float64")
    source[at] = src.to_numpy()
    return value, source


def _thresholds(c: Arrays, stored: pd.DataFrame, overrides: dict[str, float] | None) -> None:
    """The pair thresholds (value and ``*_source``) into ``c``; a what-if override wins everywhere."""
    keys = {"sku": c["sku"], "category": c["category"], "wh": c["warehouse"]}
    n = len(c["sku"])
    for name in PAIR_THRESHOLDS:
        if overrides and name in overrides:
            c[name] = np.full(n, float(overrides[name]))
            c[f"{name}_source"] = np.full(n, "what-if", dtype=object)
        else:
            c[name], c[f"{name}_source"] = _resolve_pairs(stored, name, keys)


def _add_days(as_of: Any, days: np.ndarray) -> np.ndarray:
    """``as_of + days`` as datetime64[ns] (NaN days -> NaT): ``pd.to_timedelta(days, unit="D")``
    for whole days, without its per-call overhead."""
    d = np.asarray(days, dtype="float64")
    out = np.full(len(d), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(d)
    start = pd.Timestamp(as_of).to_datetime64().astype("datetime64[ns]")
    out[ok] = start + d[ok].astype("int64").astype("timedelta64[D]")
    return out


def _days_since(as_of: np.datetime64, when: np.ndarray) -> np.ndarray:
    """``(as_of - when).dt.days``: whole days (floor), int64, or float64 with NaN when a day is NaT."""
    missing = np.isnat(when)
    days = (as_of - when).astype("int64") // _NS_PER_DAY
    if not missing.any():
        return days
    out = days.astype("float64")
    out[missing] = np.nan
    return out


def _clip0(x: np.ndarray) -> np.ndarray:
    """``Series.clip(lower=0)`` of a float array: negatives to 0, NaN kept."""
    return np.where((x >= 0) | np.isnan(x), x, 0.0)


def _runs(sku: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each SKU's rows (the rows are in (sku, warehouse) order, see read_pairs)."""
    if not len(sku):
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    starts = np.flatnonzero(np.r_[True, sku[1:] != sku[:-1]])
    return starts, np.diff(np.r_[starts, len(sku)])


def _pair_rows(c: Arrays, starts: np.ndarray, length: np.ndarray, sku: np.ndarray, wh: np.ndarray) -> np.ndarray:
    """The row of each (sku, wh) among the pairs, -1 when the viewer does not see that pair."""
    run = pd.Index(c["sku"][starts]).get_indexer(sku)
    out = np.full(len(sku), -1, dtype="int64")
    if not len(sku):
        return out
    known = run >= 0
    pair_wh = c["warehouse"]
    for j in range(int(length.max()) if len(length) else 0):  # a SKU's warehouses: a few rows
        cand = np.flatnonzero(known & (out < 0))
        cand = cand[length[run[cand]] > j]
        row = starts[run[cand]] + j
        same = pair_wh[row] == wh[cand]
        out[cand[same]] = row[same]
    return out


def _positions(c: Arrays, pos: pd.DataFrame, window: int, as_of: pd.Timestamp, starts: np.ndarray,
               length: np.ndarray) -> None:
    """Per pair: demand rate, cover, projection with open POs, lost sales, aging, XYZ, flags (into ``c``)."""
    day0 = as_of.to_datetime64().astype("datetime64[ns]")
    n = len(c["sku"])
    rate = c["avg_daily_demand"] = m.avg_daily_demand(c["units"], window, c["stockout_days"])
    on_hand = c["on_hand"]
    c["days_of_cover"] = m.days_of_cover(on_hand, rate)
    # projection with open POs by expected date (overdue -> day 1); pairs are keyed by their row
    expected = pos["expected_on"].to_numpy(dtype="datetime64[ns]")
    dated = np.flatnonzero(~np.isnat(expected))
    at = _pair_rows(c, starts, length, pos["sku"].to_numpy()[dated], pos["warehouse"].to_numpy()[dated])
    exp = expected[dated]
    day = np.maximum((exp - day0).astype("int64") // _NS_PER_DAY, 1)
    mine = at >= 0  # POs of pairs not shown (other warehouses) do not count
    stock_day, gap = m.project_stockout_days(on_hand.astype(float), rate, at[mine], day[mine],
                                             pos["qty_open"].to_numpy(dtype=float)[dated][mine])
    c["days_to_stockout"] = stock_day
    c["projected_stockout"] = _add_days(as_of, stock_day)
    c["gap_days"] = gap
    first_day = np.full(n, np.nan)
    np.fmin.at(first_day, at[mine], day[mine].astype(float))
    c["next_po"] = _add_days(as_of, first_day)
    overdue = np.zeros(n, dtype=bool)
    overdue[at[mine & (exp < day0)]] = True
    c["po_overdue"] = overdue
    c["out_of_stock"] = on_hand <= 0
    c["lost_units"] = rate * c["stockout_days"]
    c["lost_revenue"] = c["lost_units"] * c["price"]
    held = np.maximum(on_hand, 0)
    c["stock_value"] = held * c["unit_cost"]
    c["days_since_receipt"] = _days_since(day0, c["last_receipt"])
    c["days_since_sale"] = _days_since(day0, c["last_sale"])
    c["age_index"] = m.age_bucket_index(c["days_since_receipt"])
    c["age_bucket"] = np.array(m.age_labels(), dtype=object)[c["age_index"]]
    cv, adi, cv2 = m.weekly_stats_arrays(c["wk_nonzero"], c["wk_units"], c["wk_sumsq"])
    c["cv"] = cv
    c["xyz"] = m.xyz_labels(cv)
    c["pattern"] = m.pattern_labels(adi, cv2)
    # flags: excess above the target cover, dead stock, at risk
    since_sale = c["days_since_sale"]
    c["dead"] = (on_hand > 0) & (np.isnan(since_sale) | (since_sale >= c["dead_stock_days"]))
    excess = np.where(c["dead"], 0.0, _clip0((held + c["on_order"]) - rate * c["excess_cover_days"]))
    c["excess_units"] = excess
    c["po_excess_units"] = np.minimum(excess, c["on_order"].astype(float))
    c["excess_value"] = excess * c["unit_cost"]
    c["at_risk"] = (rate > 0) & (c["days_of_cover"] < c["cover_warning_days"])


def _exceptions(session: Session, viewer: Viewer, c: Arrays, as_of: Any, include_closed: bool) -> pd.DataFrame:
    rate = c["avg_daily_demand"]
    lead = c["lead_time_days"].astype(float)
    cover = c["cover_warning_days"]
    to_out = c["days_to_stockout"]
    with np.errstate(invalid="ignore"):
        si = np.flatnonzero((rate > 0) & ~np.isnan(to_out) & (to_out <= np.maximum(lead, cover)))
    ei = np.flatnonzero(c["excess_units"] > 0)
    di = np.flatnonzero(c["dead"])
    row = np.r_[si, ei, di]  # the row in c, which is in (sku, warehouse) order (see read_pairs)
    # stockout: lost revenue from the stockout until a PO lands after it (or an order placed today)
    so, gap = to_out[si], c["gap_days"][si]
    uncovered = np.where(~np.isnan(gap), gap, _clip0(c["lead_time_days"][si] - so))
    by_cover = cover[si] >= lead[si]
    source = c["cover_warning_days_source"][si]
    source[~by_cover] = _LEAD_TIME_SOURCE
    days = np.datetime_as_string(c["projected_stockout"][si], unit="D")
    stock_detail = [
        f"out in {d:.0f} d ({s})" + (f"; PO lands {g:.0f} d later" if not math.isnan(g) else "; no PO after")
        + ("; PO overdue" if o else "")
        for d, s, g, o in zip(so.tolist(), days.tolist(), gap.tolist(), c["po_overdue"][si].tolist(), strict=True)
    ]
    excess, po_excess = c["excess_units"][ei].tolist(), c["po_excess_units"][ei].tolist()
    excess_detail = [f"{e:,.0f} units above target" + (f" ({q:,.0f} from open POs)" if q > 0 else "")
                     for e, q in zip(excess, po_excess, strict=True)]
    dead_detail = ["never sold" if math.isnan(d) else f"no sale for {d:.0f} d"
                   for d in c["days_since_sale"][di].tolist()]
    ns, ne, nd = len(si), len(ei), len(di)
    kinds = np.empty(len(row), dtype=object)
    kinds[:ns], kinds[ns:ns + ne], kinds[ns + ne:] = "stockout", "excess", "dead"
    threshold = np.empty(len(row), dtype=object)
    threshold[:ns] = np.where(by_cover, "cover_warning_days", "lead_time_days")
    threshold[ns:ns + ne], threshold[ns + ne:] = "excess_cover_days", "dead_stock_days"
    cols: dict[str, Any] = {  # the exceptions' own columns; the pair columns are taken at the end
        "kind": kinds,
        "value_at_risk": np.r_[rate[si] * uncovered * c["price"][si], c["excess_value"][ei], c["stock_value"][di]],
        # (no exception at all: float64, the dtype pandas gave the empty column before)
        "detail": np.array(stock_detail + excess_detail + dead_detail, dtype=object if len(row) else "float64"),
        "threshold": threshold,
        "threshold_value": np.r_[np.where(by_cover, cover[si], lead[si]), c["excess_cover_days"][ei],
                                 c["dead_stock_days"][di]],
        "threshold_source": np.r_[source, c["excess_cover_days_source"][ei], c["dead_stock_days_source"][di]],
        "days_uncovered": np.r_[uncovered, np.full(ne + nd, np.nan)],
    }
    keys = [f"{k}:{s}:{w}" for k, s, w in zip(kinds.tolist(), c["sku"][row].tolist(), c["warehouse"][row].tolist(),
                                              strict=True)]  # exception_key, row by row
    cols["entity_key"] = np.array(keys, dtype=object)
    states = entity_states(session, viewer=viewer, entity_kind=ENTITY_KIND)
    if len(states) or not len(row):
        key = pd.Series(cols["entity_key"], dtype=object)
        st = states.set_index("entity_key") if len(states) else pd.DataFrame(
            columns=["state", "note", "snooze_until", "version"])
        state = key.map(st["state"]).fillna("open")
        cols["state"] = state.to_numpy()
        cols["note"] = key.map(st["note"]).to_numpy()
        cols["snooze_until"] = _to_date(key.map(st["snooze_until"])).to_numpy()
        cols["version"] = key.map(st["version"]).fillna(0).astype("int64").to_numpy()
        closed = ((cols["state"] == "acknowledged")
                  | ((cols["state"] == "snoozed") & (cols["snooze_until"] >= as_of.to_datetime64())))
    else:  # no stored state: every row open (the columns the maps above give for no match)
        cols["state"] = np.full(len(row), "open", dtype=object)
        cols["note"] = np.full(len(row), np.nan)
        cols["snooze_until"] = np.full(len(row), np.datetime64("NaT"), dtype="datetime64[ns]")
        cols["version"] = np.zeros(len(row), dtype="int64")
        closed = np.zeros(len(row), dtype=bool)
    # value at risk descending (NaN last), then kind, sku, warehouse: the order of
    # sort_values(["value_at_risk", "kind", "sku", "warehouse"], ascending=[False, True, True, True]),
    # by one numeric lexsort (kind by its alphabetical rank, sku and warehouse by the row in c)
    kind_rank = np.r_[np.full(ns, _KIND_RANK["stockout"]), np.full(ne, _KIND_RANK["excess"]),
                      np.full(nd, _KIND_RANK["dead"])]
    order = np.lexsort((row, kind_rank, -cols["value_at_risk"]))
    if not include_closed:
        order = order[~closed[order]]
    pick = row[order]
    return _frame({k: cols[k][order] if k in cols else c[k][pick] for k in EXCEPTION_COLUMNS})


_SKU_FIRST = ("sku", "name", "category", "supplier")
_SKU_INT_SUMS = {"on_hand": "on_hand", "on_order": "on_order", "units": "units", "stockout_days": "stockout_days",
                 "wk_units": "units_52w"}
_SKU_FLOAT_SUMS = {"revenue": "revenue", "avg_daily_demand": "avg_daily_demand", "lost_units": "lost_units",
                   "lost_revenue": "lost_revenue", "stock_value": "stock_value", "wk_revenue": "revenue_52w"}


def _skus(c: Arrays, starts: np.ndarray, length: np.ndarray, glob: dict[str, Any], abc_by: str) -> pd.DataFrame:
    """One row per SKU: its first pair's attributes, sums over its pairs, ABC within the rows seen,
    XYZ / pattern of its weekly demand over all warehouses (came along with the pair rows)."""
    s: dict[str, Any] = {k: c[k][starts] for k in _SKU_FIRST}
    s["warehouses"] = length.astype("int64")
    for k, out in _SKU_INT_SUMS.items():
        s[out] = np.add.reduceat(c[k], starts) if len(starts) else np.zeros(0, dtype=c[k].dtype)
    for k, out in _SKU_FLOAT_SUMS.items():
        s[out] = m.run_sums(c[k], starts)  # the sums groupby().sum() gives, bit for bit
    when = c["projected_stockout"].view("int64").copy()
    never = np.iinfo("int64").max
    when[np.isnat(c["projected_stockout"])] = never
    first = np.minimum.reduceat(when, starts) if len(starts) else np.zeros(0, dtype="int64")
    earliest = first.view("datetime64[ns]").copy()
    earliest[first == never] = np.datetime64("NaT")
    s["earliest_stockout"] = earliest
    s["days_of_cover"] = m.days_of_cover(s["on_hand"], s["avg_daily_demand"])
    basis = s["revenue_52w"] if abc_by == "revenue" else s["units_52w"]
    # the SKUs are in ascending order, so ties in value break by position
    s["abc"] = m.abc_class_array(basis.astype(float), a_cut=glob["abc_a_cut"].value, b_cut=glob["abc_b_cut"].value)
    stats = {}
    for k in ("wk_nonzero", "wk_units", "wk_sumsq"):
        v = c[f"sku_{k}"][starts]
        stats[k] = np.where(np.isnan(v), 0.0, v) if v.dtype.kind == "f" else v
    s["cv"], s["adi"], s["cv2"] = m.weekly_stats_arrays(stats["wk_nonzero"], stats["wk_units"], stats["wk_sumsq"])
    s["xyz"] = m.xyz_labels(s["cv"])
    s["pattern"] = m.pattern_labels(s["adi"], s["cv2"])
    return _frame({k: s[k] for k in SKU_COLUMNS})


_AGING_COLUMNS = ["warehouse", "age_bucket", "units", "value", "pairs"]


def _aging(c: Arrays) -> pd.DataFrame:
    """Units, value and pairs on hand per warehouse and age bucket, youngest bucket first."""
    held = np.flatnonzero(c["on_hand"] > 0)
    wh_code, warehouses = pd.factorize(c["warehouse"][held], sort=True)
    labels = m.age_labels()
    group = wh_code.astype("int64") * len(labels) + c["age_index"][held]
    # the same Kahan-compensated sums in row order as groupby(...).sum() (pandas adds them)
    value = pd.Series(c["stock_value"][held]).groupby(group, sort=True).sum()
    code = value.index.to_numpy()
    units = np.zeros(len(warehouses) * len(labels), dtype="int64")
    np.add.at(units, group, c["on_hand"][held])
    pairs = np.bincount(group, minlength=len(units)).astype("int64")
    return pd.DataFrame({
        "warehouse": np.asarray(warehouses, dtype=object)[code // len(labels)],
        "age_bucket": np.array(labels, dtype=object)[code % len(labels)],
        "units": units[code], "value": value.to_numpy(dtype="float64"), "pairs": pairs[code],
    }, columns=_AGING_COLUMNS)


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
    # One scoped read of the pair aggregate, then the page assembled on its column arrays: every
    # column is computed once into a dict, and each table becomes a frame once, at the end.
    pairs = read_pairs(session, viewer=viewer, filters=filters, window=window)
    pos = read_open_pos(session, viewer=viewer, filters=filters)
    stored = thresholds_for(session, viewer=viewer)
    glob = {n: resolve_threshold(stored, None, name=n) for n in ("abc_a_cut", "abc_b_cut", *PAIR_THRESHOLDS)}
    thr = pd.DataFrame([{"name": n, "value": float((overrides or {}).get(n, e.value)),
                         "source": "what-if" if n in (overrides or {}) else e.source} for n, e in glob.items()],
                       columns=["name", "value", "source"])
    if pairs.empty:
        empty = InventoryHealth(
            as_of=None, window=window, positions=pd.DataFrame(columns=POSITION_COLUMNS),
            skus=pd.DataFrame(columns=SKU_COLUMNS), exceptions=pd.DataFrame(columns=EXCEPTION_COLUMNS),
            aging=pd.DataFrame(columns=_AGING_COLUMNS),
            kpis=m.kpis(pairs.assign(cover_warning_days=0.0)),
            open_pos=pd.DataFrame(columns=OPEN_PO_COLUMNS), thresholds=thr)
        return empty
    as_of = pairs["as_of"].iloc[0]
    c: Arrays = {k: pairs[k].to_numpy() for k in pairs.columns}
    for k in _INT_COLUMNS:
        if c[k].dtype != "int64":
            if np.isnan(c[k]).any():
                raise ValueError(f"agg_inventory_pair.{k} has missing values; refresh the inventory aggregates")
            c[k] = c[k].astype("int64")
    for k in _FLOAT_COLUMNS:
        if c[k].dtype != "float64":
            c[k] = c[k].astype("float64")
    _thresholds(c, stored, overrides)
    starts, length = _runs(c["sku"])
    _positions(c, pos, window, as_of, starts, length)
    open_pos = pos.assign(overdue=pos["expected_on"] < as_of)
    return InventoryHealth(
        as_of=as_of.date(), window=window,
        positions=_frame({k: c[k] for k in POSITION_COLUMNS}),
        skus=_skus(c, starts, length, glob, abc_by),
        exceptions=_exceptions(session, viewer, c, as_of, include_closed), aging=_aging(c),
        kpis=m.kpis(pd.DataFrame({k: c[k] for k in _KPI_INPUTS})),
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
