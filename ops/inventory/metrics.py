"""Inventory metrics: every number of the inventory page defined once, in plain vectorised numpy.

No database and no Streamlit here, so the page (:mod:`ops.inventory.page`), the exports and the
tests share one definition of every number. Rates and shares are fractions 0..1; percent is
formatting only (``ops.fmt`` kind ``pct``).

Conventions (the page and the exports state the same)
-----------------------------------------------------
- **Average daily demand** over a window of ``W`` days = units in the window /
  (``W`` - stockout days in the window); 0 when the window has no in-stock day. Stockout days
  are left out so a SKU that was out of stock does not look slow.
- **Days of cover** = on hand / average daily demand; ``inf`` when demand is 0 and on hand is
  positive; 0 when on hand <= 0. (A SKU's cover uses the SKU's summed on hand and demand.)
- **Projected stockout**: walk forward from the as-of day (day 0). On day ``k`` (k >= 1) open
  PO quantities expected that day arrive first (an overdue PO, expected before the as-of day
  and not received, arrives on day 1 and is flagged "overdue"), then one day of average demand
  is consumed. The stockout day is the first ``k`` whose projected end-of-day on hand is <= 0
  (the same test as a stockout day in the snapshots). On hand <= 0 today means day 0. With no
  demand there is no stockout. Days beyond ``HORIZON_DAYS`` count as no stockout.
- **Gap**: days from the projected stockout to the first PO arrival after it (None when no PO
  lands after the stockout).
- **ABC**: items sorted by value (revenue or units) descending, ties by key; an item is A while
  the cumulative share *before* it is below the A cut-off (so the item that crosses 80 % is
  still A), B while below the B cut-off (cumulative, 95 % = 15 % of B), else C. Items with
  zero value are C.
- **XYZ**: coefficient of variation of weekly demand over 52 weeks, zero weeks included
  (population standard deviation): X <= 0.5 < Y <= 1.0 < Z; no demand is Z.
- **Demand pattern** (Syntetos-Boylan): ADI = weeks / weeks with demand; CV² = squared
  coefficient of variation of the non-zero weekly quantities (population standard deviation).
  smooth: ADI < 1.32 and CV² < 0.49; erratic: ADI < 1.32, CV² >= 0.49; intermittent:
  ADI >= 1.32, CV² < 0.49; lumpy: both above. No demand is "none".

KPIs (:func:`kpis`), over the 28 days ending on the as-of day; "previous" is the same measure
over the 28 days ending a week earlier, with the on hand of that day
------------------------------------------------------------------------------------------------
- **Inventory value**: on hand (negative counts as 0) x unit cost, summed (money).
- **Turns (annualised)**: cost of the units sold in the 28 days x 365 / 28, over inventory value.
- **Sell-through**: units sold / (units sold + units on hand), a fraction.
- **SKUs at risk**: share of SKU x warehouse pairs with demand whose days of cover is below their
  low-cover warning (``cover_warning_days``), a fraction.
- **Fill rate**: units sold / (units sold + lost units), lost units = average daily demand x
  stockout days, a fraction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, overload

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

WINDOWS = (28, 56, 84, 112)
DEFAULT_WINDOW = 28
KPI_WINDOW = 28
DEFAULT_LEAD_TIME_DAYS = 14
HORIZON_DAYS = 365
WEEKS = 52
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
XYZ_CUTOFFS = (0.5, 1.0)
AGE_BUCKETS = ((30, "0-30 d"), (60, "31-60 d"), (90, "61-90 d"), (180, "91-180 d"), (365, "181-365 d"))
AGE_OLDEST = "> 365 d / never"
_EPS = 1e-9


@overload
def avg_daily_demand(units: float, window_days: int, stockout_days: float) -> float: ...
@overload
def avg_daily_demand(units: ArrayLike, window_days: int, stockout_days: ArrayLike) -> np.ndarray: ...
def avg_daily_demand(units: Any, window_days: int, stockout_days: Any) -> Any:
    """Units per in-stock day: ``units / (window_days - stockout_days)``, 0 with no in-stock day.

    Scalars give a float; arrays (or Series) give a float64 array, element by element.
    """
    u = np.asarray(units, dtype="float64")
    in_stock = window_days - np.asarray(stockout_days, dtype="float64")
    out = np.zeros(np.broadcast(u, in_stock).shape)
    np.divide(u, in_stock, out=out, where=in_stock > 0)
    return float(out) if out.ndim == 0 else out


@overload
def days_of_cover(on_hand: float, rate: float) -> float: ...
@overload
def days_of_cover(on_hand: ArrayLike, rate: ArrayLike) -> np.ndarray: ...
def days_of_cover(on_hand: Any, rate: Any) -> Any:
    """``on_hand / rate``; 0 when on hand <= 0; ``inf`` when rate is 0 and stock is positive.

    Scalars give a float; arrays (or Series) give a float64 array, element by element.
    """
    oh = np.asarray(on_hand, dtype="float64")
    r = np.asarray(rate, dtype="float64")
    out = np.full(np.broadcast(oh, r).shape, math.inf)
    np.divide(oh, r, out=out, where=r > 0)
    out = np.where(oh <= 0, 0.0, out)
    return float(out) if out.ndim == 0 else out


def project_stockout(
    on_hand: float, rate: float, arrivals: Iterable[tuple[int, float]], *, horizon: int = HORIZON_DAYS
) -> int | None:
    """Day offset (0 = as-of day) of the projected stockout, or None (reference implementation).

    ``arrivals`` are ``(day_offset, qty)`` with ``day_offset >= 1`` (overdue POs already mapped
    to 1). Walks day by day; :func:`project_stockouts` is the vectorised equivalent.
    """
    if on_hand <= 0:
        return 0
    if rate <= 0:
        return None
    by_day: dict[int, float] = {}
    for day, qty in arrivals:
        by_day[max(int(day), 1)] = by_day.get(max(int(day), 1), 0.0) + float(qty)
    stock = float(on_hand)
    for k in range(1, horizon + 1):
        stock += by_day.get(k, 0.0)
        stock -= rate
        if stock <= _EPS:
            return k
    return None


def project_stockouts(
    pairs: pd.DataFrame, arrivals: pd.DataFrame, *, horizon: int = HORIZON_DAYS
) -> pd.DataFrame:
    """Vectorised projected stockout and gap for many SKU x warehouse pairs.

    Parameters
    ----------
    pairs : columns ``key`` (any hashable, unique), ``on_hand`` (float), ``rate`` (float).
    arrivals : columns ``key``, ``day`` (int >= 1), ``qty`` (float).

    Returns
    -------
    DataFrame indexed like ``pairs`` with ``stockout_day`` (float, NaN = none within horizon)
    and ``gap_days`` (float, NaN = no PO lands after the stockout).
    """
    n = len(pairs)
    keys = pairs["key"].to_numpy()
    on_hand = pairs["on_hand"].to_numpy(dtype=float)
    rate = pairs["rate"].to_numpy(dtype=float)
    pos = pd.Series(np.arange(n), index=pd.Index(keys))
    arr = arrivals[arrivals["key"].isin(pos.index)]
    arr = arr.assign(day=arr["day"].clip(lower=1).astype("int64"))
    arr = arr.groupby(["key", "day"], as_index=False, sort=False)["qty"].sum()
    a_idx = pos.loc[arr["key"]].to_numpy() if len(arr) else np.zeros(0, dtype=int)
    a_day = arr["day"].to_numpy(dtype=float)
    a_qty = arr["qty"].to_numpy(dtype=float)
    order = np.lexsort((a_day, a_idx))
    a_idx, a_day, a_qty = a_idx[order], a_day[order], a_qty[order]
    # cumulative arrivals within each pair
    cum = np.zeros(len(a_qty))
    if len(a_qty):
        csum = np.cumsum(a_qty)
        first = np.r_[True, a_idx[1:] != a_idx[:-1]]
        starts = np.maximum.accumulate(np.where(first, np.arange(len(a_qty)), 0))
        cum = csum - np.r_[0.0, csum][starts]
    # segments: one starting at day 1 with no arrivals, one at each arrival day
    seg_idx = np.r_[np.arange(n), a_idx]
    seg_start = np.r_[np.ones(n), a_day]
    seg_cum = np.r_[np.zeros(n), cum]
    order = np.lexsort((seg_start, seg_idx))
    seg_idx, seg_start, seg_cum = seg_idx[order], seg_start[order], seg_cum[order]
    nxt_same = np.r_[seg_idx[1:] == seg_idx[:-1], False]
    seg_end = np.where(nxt_same, np.r_[seg_start[1:], 0.0] - 1, float(horizon))
    r = rate[seg_idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.ceil((on_hand[seg_idx] + seg_cum) / r - _EPS)
    cand = np.maximum(seg_start, need)
    ok = (r > 0) & (cand <= seg_end) & (cand <= horizon)
    stock_day = np.full(n, np.nan)
    if ok.any():
        s = pd.Series(cand[ok]).groupby(seg_idx[ok]).min()
        stock_day[s.index.to_numpy()] = s.to_numpy()
    stock_day[on_hand <= 0] = 0.0
    # gap: first arrival strictly after the stockout day
    gap = np.full(n, np.nan)
    if len(a_idx):
        so = stock_day[a_idx]
        after = ~np.isnan(so) & (a_day > so)
        if after.any():
            g = pd.Series(a_day[after] - so[after]).groupby(a_idx[after]).min()
            gap[g.index.to_numpy()] = g.to_numpy()
    return pd.DataFrame({"stockout_day": stock_day, "gap_days": gap}, index=pairs.index)


def abc_classes(values: pd.Series, *, a_cut: float = 80.0, b_cut: float = 95.0) -> pd.Series:
    """ABC class per item of ``values`` (index = item key), by cumulative share before the item.

    ``a_cut``/``b_cut`` are cumulative percentages (80/95 = classes of 80 %, 15 % and 5 %).
    """
    if not 0 <= a_cut <= b_cut <= 100:
        raise ValueError(f"ABC cut-offs must satisfy 0 <= A <= B <= 100 (got A={a_cut}, B={b_cut})")
    v = values.astype(float).clip(lower=0)
    frame = pd.DataFrame({"key": v.index, "v": v.to_numpy()})
    # value descending (NaN last), then key: one stable lexsort, the order of
    # sort_values(["v", "key"], ascending=[False, True], kind="mergesort") without factorising the keys
    frame = frame.take(np.lexsort((frame["key"].to_numpy(), -frame["v"].to_numpy())))
    total = frame["v"].sum()
    before = (frame["v"].cumsum() - frame["v"]) / total if total > 0 else pd.Series(1.0, index=frame.index)
    cls = np.where(before < a_cut / 100 - _EPS, "A", np.where(before < b_cut / 100 - _EPS, "B", "C"))
    cls = np.where(frame["v"].to_numpy() > 0, cls, "C")
    return pd.Series(cls, index=frame["key"].to_numpy()).reindex(values.index)


def weekly_stats(weeks: int, nonzero: float, total: float, sumsq: float) -> tuple[float, float, float]:
    """``(cv, adi, cv2_nonzero)`` from the sums of a weekly series (population SDs); NaN when undefined."""
    if nonzero <= 0 or total <= 0:
        return (math.nan, math.nan, math.nan)
    mean = total / weeks
    var = max(sumsq / weeks - mean * mean, 0.0)
    mean_nz = total / nonzero
    var_nz = max(sumsq / nonzero - mean_nz * mean_nz, 0.0)
    return (math.sqrt(var) / mean, weeks / nonzero, var_nz / (mean_nz * mean_nz))


def weekly_stats_frame(nonzero: pd.Series, total: pd.Series, sumsq: pd.Series, *, weeks: int = WEEKS) -> pd.DataFrame:
    """Vectorised :func:`weekly_stats`: columns ``cv``, ``adi``, ``cv2`` (float, NaN without demand)."""
    nz = nonzero.astype(float)
    tot = total.astype(float)
    sq = sumsq.astype(float)
    has = (nz > 0) & (tot > 0)
    mean = tot / weeks
    var = (sq / weeks - mean**2).clip(lower=0)
    mean_nz = tot / nz.where(has)
    var_nz = (sq / nz.where(has) - mean_nz**2).clip(lower=0)
    out = pd.DataFrame(
        {"cv": np.sqrt(var) / mean.where(has), "adi": weeks / nz.where(has), "cv2": var_nz / mean_nz**2},
        index=nonzero.index,
    )
    return out.where(pd.DataFrame(dict.fromkeys(out.columns, has), index=out.index))


def xyz_class(cv: pd.Series) -> pd.Series:
    """X / Y / Z from the coefficient of variation (NaN = no demand = Z)."""
    x, y = XYZ_CUTOFFS
    c = cv.to_numpy(dtype=float)
    return pd.Series(np.where(c <= x, "X", np.where(c <= y, "Y", "Z")), index=cv.index)


def demand_pattern(adi: pd.Series, cv2: pd.Series) -> pd.Series:
    """smooth / erratic / intermittent / lumpy (Syntetos-Boylan); "none" without demand."""
    a = adi.to_numpy(dtype=float)
    c = cv2.to_numpy(dtype=float)
    pat = np.where(
        a < ADI_CUTOFF,
        np.where(c < CV2_CUTOFF, "smooth", "erratic"),
        np.where(c < CV2_CUTOFF, "intermittent", "lumpy"),
    )
    return pd.Series(np.where(np.isnan(a) | np.isnan(c), "none", pat), index=adi.index)


def age_bucket(days: pd.Series) -> pd.Series:
    """Age bucket label for days since last receipt (NaN = never received)."""
    d = days.to_numpy(dtype=float)
    out = np.full(len(d), AGE_OLDEST, dtype=object)
    for limit, label in reversed(AGE_BUCKETS):
        out = np.where(d <= limit, label, out)
    out = np.where(np.isnan(d), AGE_OLDEST, out)
    return pd.Series(out, index=days.index)


def age_labels() -> list[str]:
    """Age bucket labels, youngest first (for chart ordering)."""
    return [label for _, label in AGE_BUCKETS] + [AGE_OLDEST]


# --- KPIs -------------------------------------------------------------------------------------

# kpi -> (label, ops.fmt kind, higher is better, definition in plain words)
KPIS: dict[str, tuple[str, str, bool, str]] = {
    "inventory_value": ("Inventory value", "money", True,
                        "Units on hand at cost (negative counts as none)."),
    "turns": ("Turns (annualised)", "number", True,
              "Cost of what sold in the last 28 days, scaled to a year, over the stock's value."),
    "sell_through": ("Sell-through 28 d", "pct", True,
                     "Units sold in the last 28 days over units sold plus units on hand."),
    "at_risk_share": ("SKUs at risk", "pct", False,
                      "Share of SKU x warehouse pairs with demand whose cover is below their low-cover warning."),
    "fill_rate": ("Fill rate 28 d", "pct", True,
                  "Units sold over units sold plus the sales lost on stockout days (last 28 days)."),
}
KPI_COLUMNS = ["kpi", "label", "unit", "value", "previous", "change"]


def _kpi_values(on_hand: pd.Series, units: pd.Series, stockout_days: pd.Series, unit_cost: pd.Series,
                cover_warning_days: pd.Series) -> dict[str, float]:
    n = KPI_WINDOW
    rate = avg_daily_demand(units, n, stockout_days)
    oh = on_hand.clip(lower=0)
    value = float((oh * unit_cost).sum())
    sold = float(units.sum())
    lost = float((rate * stockout_days.to_numpy(dtype="float64")).sum())
    held = float(oh.sum())
    demanding = rate > 0
    risk = demanding & (days_of_cover(oh, rate) < cover_warning_days.to_numpy(dtype="float64"))
    return {
        "inventory_value": value,
        "turns": float((units * unit_cost).sum()) * 365 / n / value if value > 0 else math.nan,
        "sell_through": sold / (sold + held) if sold + held > 0 else math.nan,
        "at_risk_share": float(risk.sum()) / float(demanding.sum()) if demanding.sum() else math.nan,
        "fill_rate": sold / (sold + lost) if sold + lost > 0 else math.nan,
    }


def kpis(p: pd.DataFrame) -> pd.DataFrame:
    """The KPI tiles (see the module docstring), now and for the previous period.

    ``p`` has one row per SKU x warehouse with on_hand, on_hand_prev, units_28, units_prev_28,
    stockout_28, stockout_prev_28 (int), unit_cost and cover_warning_days (float).

    Returns
    -------
    DataFrame with columns kpi, label, unit (the ``ops.fmt`` kind: money, number or pct) (str);
    value, previous, change (float64; shares as fractions 0..1).
    """
    cost, warn = p["unit_cost"], p["cover_warning_days"]
    now = _kpi_values(p["on_hand"], p["units_28"], p["stockout_28"], cost, warn)
    prev = _kpi_values(p["on_hand_prev"], p["units_prev_28"], p["stockout_prev_28"], cost, warn)
    rows = [{"kpi": k, "label": label, "unit": kind, "value": now[k], "previous": prev[k],
             "change": now[k] - prev[k]} for k, (label, kind, _up, _help) in KPIS.items()]
    return pd.DataFrame(rows, columns=KPI_COLUMNS)
