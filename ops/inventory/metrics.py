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
# label lookups (object arrays, so a lookup gives plain str cells)
_ABC = np.array(["A", "B", "C"], dtype=object)
_XYZ = np.array(["X", "Y", "Z"], dtype=object)
_PATTERNS = np.array(["smooth", "erratic", "intermittent", "lumpy", "none"], dtype=object)
_AGES = np.array([label for _, label in AGE_BUCKETS] + [AGE_OLDEST], dtype=object)
_AGE_LIMITS = np.array([limit for limit, _ in AGE_BUCKETS], dtype=float)


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
    pos = pd.Series(np.arange(n), index=pd.Index(pairs["key"].to_numpy()))
    arr = arrivals[arrivals["key"].isin(pos.index)]
    a_idx = pos.loc[arr["key"]].to_numpy() if len(arr) else np.zeros(0, dtype="int64")
    stock_day, gap = project_stockout_days(
        pairs["on_hand"].to_numpy(dtype=float), pairs["rate"].to_numpy(dtype=float), a_idx,
        arr["day"].clip(lower=1).to_numpy(dtype="int64"), arr["qty"].to_numpy(dtype=float), horizon=horizon)
    return pd.DataFrame({"stockout_day": stock_day, "gap_days": gap}, index=pairs.index)


def project_stockout_days(
    on_hand: np.ndarray, rate: np.ndarray, a_idx: np.ndarray, a_day: np.ndarray, a_qty: np.ndarray, *,
    horizon: int = HORIZON_DAYS,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`project_stockouts` on arrays: pairs are positions ``0..n-1``.

    ``on_hand`` and ``rate`` (float) per pair; each arrival is a pair position ``a_idx`` (int,
    0 <= a_idx < n), a day ``a_day`` (int >= 1) and a quantity ``a_qty`` (float). Returns
    ``(stockout_day, gap_days)``, float arrays of length n (NaN = none).
    """
    n = len(on_hand)
    on_hand = np.asarray(on_hand, dtype=float)
    rate = np.asarray(rate, dtype=float)
    a_idx = np.asarray(a_idx, dtype="int64")
    a_day = np.maximum(np.asarray(a_day, dtype="int64"), 1)
    a_qty = np.asarray(a_qty, dtype=float)
    # one arrival per pair and day, in (pair, day) order: quantities of the same day are summed
    # as pandas' groupby().sum() adds them (see run_sums), in the order they came
    order = np.lexsort((a_day, a_idx))
    a_idx, a_day, a_qty = a_idx[order], a_day[order], a_qty[order]
    if len(a_idx):
        new = np.r_[True, (a_idx[1:] != a_idx[:-1]) | (a_day[1:] != a_day[:-1])]
        starts = np.flatnonzero(new)
        a_qty = run_sums(a_qty, starts)
        a_idx, a_day = a_idx[starts], a_day[starts]
    a_day = a_day.astype(float)
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
    np.fmin.at(stock_day, seg_idx[ok], cand[ok])
    stock_day[on_hand <= 0] = 0.0
    # gap: first arrival strictly after the stockout day
    gap = np.full(n, np.nan)
    if len(a_idx):
        so = stock_day[a_idx]
        after = ~np.isnan(so) & (a_day > so)
        np.fmin.at(gap, a_idx[after], a_day[after] - so[after])
    return stock_day, gap


def run_sums(values: ArrayLike, starts: np.ndarray) -> np.ndarray:
    """Sum of each run ``values[starts[i]:starts[i + 1]]`` (the last run to the end), float64.

    Added exactly as pandas' ``groupby(...).sum()`` adds a float group (Kahan-compensated, in
    row order, NaN skipped, 0.0 for a run of NaN only), so sums taken here equal, bit for bit,
    the ones a groupby would give. Vectorised over the runs: one pass per position in a run,
    so it suits many short runs (a SKU's warehouses), not a few long ones.
    """
    v = np.asarray(values, dtype="float64")
    starts = np.asarray(starts, dtype="int64")
    total = np.zeros(len(starts))
    if not len(starts):
        return total
    length = np.diff(np.r_[starts, len(v)])
    comp = np.zeros(len(starts))
    for j in range(int(length.max())):
        live = np.flatnonzero(length > j)
        val = v[starts[live] + j]
        ok = ~np.isnan(val)
        if not ok.all():
            live, val = live[ok], val[ok]
        s, y = total[live], val - comp[live]
        t = s + y
        c = t - s - y
        c[np.isnan(c)] = 0.0  # an infinite value: pandas resets the compensation too
        comp[live] = c
        total[live] = t
    return total


def abc_classes(values: pd.Series, *, a_cut: float = 80.0, b_cut: float = 95.0) -> pd.Series:
    """ABC class per item of ``values`` (index = item key), by cumulative share before the item.

    ``a_cut``/``b_cut`` are cumulative percentages (80/95 = classes of 80 %, 15 % and 5 %).
    """
    cls = abc_class_array(values.to_numpy(dtype=float), values.index.to_numpy(), a_cut=a_cut, b_cut=b_cut)
    return pd.Series(cls, index=values.index)


def abc_class_array(values: np.ndarray, keys: np.ndarray | None = None, *, a_cut: float = 80.0,
                    b_cut: float = 95.0) -> np.ndarray:
    """:func:`abc_classes` on arrays: ``values`` (float) per item, ties broken by ``keys``
    (ascending; None = the items are already in key order). Returns an object array of "A" / "B" / "C".
    """
    if not 0 <= a_cut <= b_cut <= 100:
        raise ValueError(f"ABC cut-offs must satisfy 0 <= A <= B <= 100 (got A={a_cut}, B={b_cut})")
    v = np.asarray(values, dtype=float)
    v = np.where((v >= 0) | np.isnan(v), v, 0.0)  # clip(lower=0), NaN kept
    # value descending (NaN last), then key: one stable lexsort
    order = np.lexsort((np.arange(len(v)) if keys is None else keys, -v))
    sv = v[order]
    missing = np.isnan(sv)
    filled = np.where(missing, 0.0, sv)
    total = filled.sum()  # Series.sum: NaN counts as 0
    if total > 0:
        cum = np.cumsum(filled)  # Series.cumsum: NaN skipped and kept in place
        cum[missing] = np.nan
        before = (cum - sv) / total
    else:
        before = np.ones(len(sv))
    code = np.where(before < a_cut / 100 - _EPS, 0, np.where(before < b_cut / 100 - _EPS, 1, 2))
    code = np.where(sv > 0, code, 2)
    out = np.empty(len(v), dtype=object)
    out[order] = _ABC[code]
    return out


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
    cv, adi, cv2 = weekly_stats_arrays(nonzero.to_numpy(dtype=float), total.to_numpy(dtype=float),
                                       sumsq.to_numpy(dtype=float), weeks=weeks)
    return pd.DataFrame({"cv": cv, "adi": adi, "cv2": cv2}, index=nonzero.index)


def _clip0(x: np.ndarray) -> np.ndarray:
    """``Series.clip(lower=0)``: negatives to 0, NaN kept."""
    return np.where((x >= 0) | np.isnan(x), x, 0.0)


def weekly_stats_arrays(nonzero: np.ndarray, total: np.ndarray, sumsq: np.ndarray, *, weeks: int = WEEKS
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`weekly_stats_frame` on float arrays: ``(cv, adi, cv2)``, NaN without demand."""
    nz = np.asarray(nonzero, dtype=float)
    tot = np.asarray(total, dtype=float)
    sq = np.asarray(sumsq, dtype=float)
    has = (nz > 0) & (tot > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = tot / weeks
        var = _clip0(sq / weeks - mean**2)
        nz_has = np.where(has, nz, np.nan)
        mean_nz = tot / nz_has
        var_nz = _clip0(sq / nz_has - mean_nz**2)
        cv = np.sqrt(var) / np.where(has, mean, np.nan)
        adi = weeks / nz_has
        cv2 = var_nz / mean_nz**2
    return (np.where(has, cv, np.nan), np.where(has, adi, np.nan), np.where(has, cv2, np.nan))


def xyz_class(cv: pd.Series) -> pd.Series:
    """X / Y / Z from the coefficient of variation (NaN = no demand = Z)."""
    return pd.Series(xyz_labels(cv.to_numpy(dtype=float)), index=cv.index)


def xyz_labels(cv: np.ndarray) -> np.ndarray:
    """:func:`xyz_class` on an array: an object array of "X" / "Y" / "Z"."""
    x, y = XYZ_CUTOFFS
    c = np.asarray(cv, dtype=float)
    return _XYZ[np.where(c <= x, 0, np.where(c <= y, 1, 2))]


def demand_pattern(adi: pd.Series, cv2: pd.Series) -> pd.Series:
    """smooth / erratic / intermittent / lumpy (Syntetos-Boylan); "none" without demand."""
    return pd.Series(pattern_labels(adi.to_numpy(dtype=float), cv2.to_numpy(dtype=float)), index=adi.index)


def pattern_labels(adi: np.ndarray, cv2: np.ndarray) -> np.ndarray:
    """:func:`demand_pattern` on arrays: an object array of the pattern names."""
    a = np.asarray(adi, dtype=float)
    c = np.asarray(cv2, dtype=float)
    code = np.where(a < ADI_CUTOFF, np.where(c < CV2_CUTOFF, 0, 1), np.where(c < CV2_CUTOFF, 2, 3))
    return _PATTERNS[np.where(np.isnan(a) | np.isnan(c), 4, code)]


def age_bucket(days: pd.Series) -> pd.Series:
    """Age bucket label for days since last receipt (NaN = never received)."""
    return pd.Series(_AGES[age_bucket_index(days.to_numpy(dtype=float))], index=days.index)


def age_bucket_index(days: np.ndarray) -> np.ndarray:
    """Position in :func:`age_labels` of the age bucket of each ``days`` (NaN = never = the oldest)."""
    # the first bucket whose upper limit is >= days; NaN sorts after every limit
    return np.searchsorted(_AGE_LIMITS, np.asarray(days, dtype=float), side="left")


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
