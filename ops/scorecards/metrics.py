"""Each scorecard number defined once: rates as fractions 0..1, exact percentiles from integer histograms.

Carrier measures (one shipment counts in the week of its ``shipped_at``, Monday to Sunday)
-----------------------------------------------------------------------------------------
- **Shipments** ``n``: every shipment with a ship time, less those excluded by an accepted dispute.
- **Attempt day**: the day of the first delivery attempt (``first_attempt_at``), else of the
  delivery (``delivered_at``) when no attempt was recorded separately.
- **On-time rate** = shipments whose attempt day is on or before the promised day
  (``date(promised_at)``) / shipments with an attempt day and a promised date. It is judged at the
  *first* attempt: a parcel first tried on time and delivered at the second try is on time.
  Lost or damaged parcels never attempted are not in this rate; they have their own rates.
- **First-attempt rate** = delivered shipments whose first attempt was the delivery
  (no separate ``first_attempt_at``, or one equal to ``delivered_at``) / delivered shipments.
- **Transit (business days)** = business days from the ship day to the attempt day: Monday to
  Friday without the global holidays (``holidays`` with no warehouse), counted as
  ``numpy.busday_count(ship_day, attempt_day)``. An integer, so median / p90 / p95 are exact
  (numpy ``linear`` percentiles) read from a per-group histogram of those integers.
- **Lost / damaged / returned-to-sender rates** = shipments in that status / shipments.
- **Label cost per package** = sum of ``label_cost`` / shipments. (Per kg is not shown: shipments
  carry no weight in this schema.)
- **Minimum volume**: a carrier x service x lane with fewer shipments in the period than the
  ``scorecard_min_volume`` threshold is shown but not ranked, not flagged and not in benchmarks.
- **Late lane flag**: a carrier x lane x week with at least the minimum volume whose on-time rate
  is below ``scorecard_late_lane_ontime`` (default 60 %).
- **Benchmark** (the only comparison a vendor sees): the median, over carriers with at least the
  minimum volume on the same lane and week, of their on-time rate; never a name or a rank.

Supplier measures (a purchase-order line counts in the week of its ``expected_on``)
-----------------------------------------------------------------------------------
- **On time** = received (``received_on`` set) on or before ``expected_on``; **in full** =
  ``qty_received >= qty_ordered``; **OTIF** = both. Rates are over PO lines due (``expected_on``
  on or before the as-of day) less lines excluded by an accepted dispute; a line due and not
  received is neither on time nor in full.
- **Fill rate** = units received / units ordered over the same lines.
- **Lead time** = calendar days ``received_on - ordered_on`` of received lines: mean, standard
  deviation (``ddof=1``, as pandas) and p90 (numpy ``linear``), NaN with fewer than two lines;
  *stated* is ``suppliers.lead_time_days``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

PAGE = "carriers"
VENDOR_PAGE = "scorecard"
TREND_WEEKS = 13
MIN_VOLUME_THRESHOLD = "scorecard_min_volume"
LATE_LANE_THRESHOLD = "scorecard_late_lane_ontime"
MIN_LT_LINES = 2


def rate(num: float | int, den: float | int) -> float:
    """``num / den`` as a fraction, NaN when ``den`` is zero."""
    return float(num) / float(den) if den else float("nan")


def rates(num: pd.Series, den: pd.Series) -> pd.Series:
    """Element-wise :func:`rate` (NaN where the denominator is 0)."""
    den_f = den.astype("float64")
    return (num.astype("float64") / den_f.where(den_f != 0)).astype("float64")


def hist_quantile(values: Sequence[float] | np.ndarray, counts: Sequence[int] | np.ndarray, q: float) -> float:
    """The ``q`` quantile (numpy ``linear``) of the sample holding ``counts[i]`` copies of ``values[i]``.

    Exact: equal to ``numpy.quantile(numpy.repeat(values, counts), q)`` without building the sample.
    NaN for an empty sample.
    """
    v = np.asarray(values, dtype="float64")
    c = np.asarray(counts, dtype="int64")
    keep = c > 0
    v, c = v[keep], c[keep]
    n = int(c.sum())
    if n == 0:
        return float("nan")
    order = np.argsort(v, kind="stable")
    v, c = v[order], c[order]
    ends = np.cumsum(c)  # the sample's positions 0..ends[i]-1 hold values up to v[i]
    h = (n - 1) * float(q)
    lo = int(np.floor(h))
    hi = min(lo + 1, n - 1)
    v_lo = v[int(np.searchsorted(ends, lo, side="right"))]
    v_hi = v[int(np.searchsorted(ends, hi, side="right"))]
    return float(v_lo + (h - lo) * (v_hi - v_lo))


def hist_mean_std(values: Sequence[float] | np.ndarray, counts: Sequence[int] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of the histogram's sample (NaN where undefined)."""
    v = np.asarray(values, dtype="float64")
    c = np.asarray(counts, dtype="float64")
    n = float(c.sum())
    if n == 0:
        return float("nan"), float("nan")
    mean = float((v * c).sum() / n)
    if n < 2:
        return mean, float("nan")
    var = float((c * (v - mean) ** 2).sum() / (n - 1))
    return mean, float(np.sqrt(var))


def week_start(day: pd.Series) -> pd.Series:
    """The Monday of each day's week (datetime64 at midnight)."""
    d = pd.to_datetime(day).dt.normalize()
    return d - pd.to_timedelta(d.dt.dayofweek, unit="D")
