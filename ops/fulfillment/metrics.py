"""Each fulfilment number defined once: the rates (fractions 0..1), shares, means and percentiles.

Every ratio the page, the exports and the home page show is computed by one function here from
counts (order lines) the aggregates hold; a rate is a fraction 0..1 and percent is formatting only
(``ops.fmt`` kind ``pct``). Definitions of the counts themselves are in :mod:`ops.fulfillment`
(the package docstring) and are computed by :mod:`ops.fulfillment.refresh`.

- **On-time ship rate** = lines shipped on time / lines counted (shipped, with a ship-by deadline).
- **On-time delivery rate** = lines delivered on or before the promised day / delivered lines.
- **Late share** = late lines / shipped lines (the heatmap and the findings); **carrier late share**
  = lines late because of the carrier / delivered lines.
- **Mean hours** (late by, processing, transit) = sum of hours / the lines that have them.
- **Percentiles** of click-to-ship hours from fixed-bucket histograms: :func:`hist_percentile`.

Each returns NaN where the denominator is zero: "no line" is not "0 %".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from ops.filters import Filters

PAGE = "fulfillment"
EXCLUDED_STATUSES = ("cancelled", "canceled", "unavailable")
SHIPPED_STATUSES = ("shipped", "delivered")
# Exact percentiles re-read the raw rows (about 0.1 s per 1,000 lines on SQLite): small ranges only.
EXACT_PERCENTILE_MAX_ROWS = 5_000
# Histogram bucket edges in hours: bucket 0 is < 0, bucket i is [HIST_EDGES[i-1], HIST_EDGES[i]),
# the last bucket is >= HIST_EDGES[-1].
HIST_EDGES: tuple[float, ...] = (0, 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 28, 32, 36, 42, 48, 60, 72, 84, 96,
                                 120, 144, 168, 216, 264, 336, 504, 720)
HIST_MEASURES = ("c2s", "c2s_bus", "late")
GROUPS = ("all", "warehouse", "channel", "seller_region", "seller", "carrier")
NONE_LABEL = "(none)"
EXCEPTION_KIND = "fulfilment_exception"
SLA_ENTITY = "warehouse_sla"
TARGET_THRESHOLD = "on_time_ship_target"
BACKLOG_THRESHOLD = "backlog_age_alert_hours"
KEY_COLS = ["day", "warehouse_id", "channel_id", "seller_id", "seller_region", "carrier_id"]
DOW_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --- ratios (each once) -----------------------------------------------------------------------


def ratio(num: Any, den: Any) -> Any:
    """``num / den`` where ``den > 0``, NaN elsewhere; scalars give a float, arrays and Series a float64 array."""
    n = np.asarray(num, dtype="float64")
    d = np.asarray(den, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def on_time_ship_rate(ship_on_time: Any, ship_counted: Any) -> Any:
    """On-time ship rate (fraction): lines shipped by their deadline / lines counted."""
    return ratio(ship_on_time, ship_counted)


def on_time_delivery_rate(delivered_on_time: Any, delivered: Any) -> Any:
    """On-time delivery rate (fraction): lines delivered on or before the promised day / delivered lines."""
    return ratio(delivered_on_time, delivered)


def late_share(late: Any, shipped: Any) -> Any:
    """Late share (fraction): lines shipped late / lines shipped (or delivered late / delivered)."""
    return ratio(late, shipped)


def mean_hours(hours_sum: Any, n: Any) -> Any:
    """Mean hours over the ``n`` lines that have them (late by, processing, transit)."""
    return ratio(hours_sum, n)


def percent_points(rate: float) -> float:
    """A fraction as the percent a ``%`` threshold is stored in (targets are entered as 95, not 0.95)."""
    return float(rate) * 100.0


# --- histograms, bands, KPI weeks --------------------------------------------------------------


def bucket(values: pd.Series) -> np.ndarray:
    return np.searchsorted(np.asarray(HIST_EDGES, dtype=float), values.to_numpy(dtype=float), side="right")


def hist_percentile(counts: pd.Series | np.ndarray, q: float) -> float:
    """Approximate ``q``-quantile (0..1) from counts per bucket (index = bucket number, see HIST_EDGES).

    Linear interpolation inside the bucket; the open buckets (< 0, >= last edge) return their edge.
    """
    c = pd.Series(counts).sort_index()
    total = float(c.sum())
    if total <= 0:
        return float("nan")
    target = q * total
    cum = 0.0
    edges = HIST_EDGES
    for b, n in c.items():
        b = int(b)
        if cum + n >= target and n > 0:
            if b == 0:
                return float(edges[0])
            if b >= len(edges):
                return float(edges[-1])
            lo, hi = edges[b - 1], edges[b]
            return float(lo + (hi - lo) * (target - cum) / n)
        cum += n
    return float(edges[-1])


PERCENTILES = {"median": 0.5, "p90": 0.9, "p99": 0.99}


def hist_percentiles(h: pd.DataFrame) -> pd.DataFrame:
    """Histogram percentiles per group from rows ``group``, ``measure``, ``bucket``, ``n``.

    The same figures as :func:`hist_percentile` per group and measure (c2s, c2s_bus), computed
    for every group at once: cumulative counts per group, the first bucket reaching ``q`` of the
    group's lines, linear interpolation inside it. One row per group (sorted), columns
    ``{measure}_{median|p90|p99}_h``; NaN where the group has no line of that measure.
    """
    cols = ["group"] + [f"{m}_{n}_h" for m in ("c2s", "c2s_bus") for n in PERCENTILES]
    h = h[h["measure"].isin(("c2s", "c2s_bus"))]
    groups = pd.Index(sorted(h["group"].unique()), name="group") if len(h) else pd.Index([], name="group")
    out = pd.DataFrame(index=groups)
    edges = np.asarray(HIST_EDGES, dtype=float)
    for measure in ("c2s", "c2s_bus"):
        part = h[h["measure"] == measure]
        c = part.groupby(["group", "bucket"], sort=True)["n"].sum()
        c = c[c.to_numpy(dtype=float) > 0]
        g = c.index.get_level_values("group").to_numpy()
        b = c.index.get_level_values("bucket").to_numpy(dtype="int64")
        n = c.to_numpy(dtype=float)
        cum = c.groupby(level="group", sort=False).cumsum().to_numpy(dtype=float)
        total = c.groupby(level="group", sort=False).transform("sum").to_numpy(dtype=float)
        # rows are sorted by group: each group is the slice starts[i]:ends[i]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, dtype="int64")
        ends = np.r_[starts[1:], len(g)].astype("int64")
        for name, q in PERCENTILES.items():
            target = q * total
            # the first bucket of each group whose cumulative count reaches q of the group's lines
            masked = np.where(cum >= target, np.arange(len(g)), len(g))
            first = np.minimum.reduceat(masked, starts) if len(g) else np.zeros(0, dtype="int64")
            ok = first < ends
            fp = np.where(ok, first, starts)
            bb, nn, before, tt = b[fp], n[fp], (cum - n)[fp], target[fp]
            lo = edges[np.clip(bb - 1, 0, len(edges) - 1)]
            hi = edges[np.clip(bb, 0, len(edges) - 1)]
            inside = lo + (hi - lo) * (tt - before) / nn
            val = np.where(bb == 0, edges[0], np.where(bb >= len(edges), edges[-1], inside))
            val = np.where(ok, val, edges[-1])
            out[f"{measure}_{name}_h"] = pd.Series(val, index=g[starts]).reindex(groups)
    return out.reset_index().reindex(columns=cols).astype(dict.fromkeys(cols[1:], "float64"))


def bucket_label(lo: float, hi: float) -> str:
    if np.isinf(lo):
        return f"< {hi:g} h"
    if np.isinf(hi):
        return f">= {lo:g} h"
    return f"{lo:g}-{hi:g} h"


AGE_BANDS = ((-np.inf, 0, "not due"), (0, 24, "0-24 h late"), (24, 72, "24-72 h late"), (72, np.inf, "> 72 h late"))


def age_band(hours: pd.Series) -> pd.Series:
    out = pd.Series("no deadline", index=hours.index, dtype=object)
    for lo, hi, name in AGE_BANDS:
        out[(hours > lo) & (hours <= hi)] = name
    out[hours <= 0] = "not due"
    return out


def kpi_weeks(filters: Filters, now: dt.datetime) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """The KPI week and the week before, as (from, to).

    The KPI week is the last 7 days of the range that are not after the as-of day (the whole
    range when shorter), never a day outside the range: a range starting after the as-of day
    gives an empty week (from > to), so the tiles agree with the tables instead of showing last
    week's figures. The week before has the same number of days, just before it.
    """
    end = min(filters.date_to or dt.date.max, (now - dt.timedelta(days=1)).date())
    start = max(end - dt.timedelta(days=6), filters.date_from or dt.date.min)
    n = (end - start).days + 1
    if n <= 0:  # the range starts after the as-of day: no KPI week, nothing to compare with
        return (start, end), (start, end)
    return (start, end), (start - dt.timedelta(days=n), start - dt.timedelta(days=1))
