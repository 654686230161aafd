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
- **Percentiles** of click-to-ship hours (numpy's ``linear`` method) from half-hour buckets:
  :func:`bucket_percentiles`, within a quarter hour of the exact figure (see there).

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
# Click-to-ship percentiles are read from buckets this wide (hours): within half of it of the exact figure.
FINE_HOURS = 0.5
GROUPS = ("all", "warehouse", "channel", "seller_region", "seller", "carrier")
# agg_fulfil_hours: the channel, seller and carrier ids of a cell summing every line of its warehouse.
WAREHOUSE_ROLLUP = -1
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


def _positions(keys: np.ndarray, n: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For histogram rows sorted by ``keys`` (then value), the rows holding the two lines numpy's ``linear``
    ``q``-quantile interpolates between, per key: (first row of each key, row of line ``k``, row of line
    ``k + 1``, weight ``f`` of the second), with ``k + f = (N - 1) q`` over the key's ``N`` lines."""
    cum = np.cumsum(n)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype="int64")
    total = np.add.reduceat(n, starts) if len(keys) else np.zeros(0)
    before = cum[starts] - n[starts]
    pos = (total - 1) * q
    k = np.floor(pos)
    f = pos - k
    k1 = np.minimum(k + 1, total - 1)
    return (starts, np.searchsorted(cum, before + k, side="right"), np.searchsorted(cum, before + k1, side="right"),
            f)


def quantile_rows(h: pd.DataFrame, qs: dict[str, float]) -> pd.DataFrame:
    """The histogram rows holding the lines each ``q``-quantile of each key interpolates between.

    ``h``: rows ``key``, ``n`` (> 0), sorted by key and then by value. Returns one row per key and
    quantile name: ``key``, ``q`` (str), ``row_k`` and ``row_k1`` (int64 positions in ``h``), ``f`` (float64).
    """
    keys, n = h["key"].to_numpy(), h["n"].to_numpy(dtype=float)
    out = []
    for name, q in qs.items():
        starts, rk, rk1, f = _positions(keys, n, q)
        out.append(pd.DataFrame({"key": keys[starts], "q": name, "row_k": rk, "row_k1": rk1, "f": f}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["key", "q", "row_k", "row_k1", "f"])


def bucket_percentiles(h: pd.DataFrame, qs: dict[str, float]) -> pd.DataFrame:
    """numpy's ``linear`` quantiles per key from bucket counts, every line taken at its bucket's middle.

    ``h``: rows ``key``, ``lo``, ``hi`` (the bucket's bounds in hours), ``n`` (lines, > 0), sorted by key
    and ``lo``, buckets of a key not overlapping. The ``q``-quantile of ``N`` sorted values is
    ``(1 - f) x[k] + f x[k+1]`` with ``k + f = (N - 1) q``; sorting by bucket keeps the lines' order,
    so moving every line to its bucket's middle moves ``x[k]`` and ``x[k+1]`` by at most half their
    bucket's width, and the quantile (a weighted mean of the two) by at most half the wider of the
    two buckets: a quarter hour for half-hour buckets, whatever the data. Returns one row per key:
    ``key`` and one float64 column per quantile name.
    """
    if h.empty:
        return pd.DataFrame({"key": pd.Series(dtype=object), **{q: pd.Series(dtype="float64") for q in qs}})
    mid = (h["lo"].to_numpy(dtype=float) + h["hi"].to_numpy(dtype=float)) / 2
    rows = quantile_rows(h, qs)
    f = rows["f"].to_numpy(dtype=float)
    rows["value"] = ((1 - f) * mid[rows["row_k"].to_numpy(dtype="int64")]
                     + f * mid[rows["row_k1"].to_numpy(dtype="int64")])
    wide = rows.pivot(index="key", columns="q", values="value").reindex(columns=list(qs)).astype("float64")
    return wide.rename_axis(index="key", columns=None).reset_index()


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
