"""Scoped reads of the scorecard aggregates; every public function takes ``viewer`` (definitions: :mod:`.metrics`).

Scope: managers, admins and planners read every vendor; a carrier reads only rows of its own code,
a supplier only its own, a 3PL only the warehouses it operates; any other vendor reads nothing.
The one figure computed over other vendors' rows is the lane benchmark, which leaves the frame as a
median per lane only (no code, no count of carriers), and only for lanes the viewer serves.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.decisions import resolve, resolve_frame, thresholds_for
from ops.models import (
    AggScorecardCarrier,
    AggScorecardSupplier,
    AggScorecardTransit,
    Shipment,
    Warehouse,
)
from ops.reference import last_day
from ops.scorecards.metrics import (
    LATE_LANE_THRESHOLD,
    MIN_VOLUME_THRESHOLD,
    TREND_WEEKS,
    rates,
)
from ops.scorecards.refresh import CARRIER_COUNTS, SUPPLIER_COUNTS, supplier_as_of
from ops.scorecards.thresholds import BANDS, CRITERIA, TARGET_THRESHOLD

GROUPINGS = {"carrier": ["carrier"], "lane": ["carrier", "lane"], "service_lane": ["carrier", "service", "lane"]}
MEASURE_COLUMNS = ["shipments", "on_time_rate", "first_attempt_rate", "transit_p50_bdays", "transit_p90_bdays",
                   "transit_p95_bdays", "lost_rate", "damaged_rate", "rts_rate", "intact_rate", "cost_per_package"]
_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")


# --- the period ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """``weeks`` whole weeks, Monday ``start`` to the Sunday of the week starting ``end`` (both Mondays)."""

    start: dt.date
    end: dt.date

    @property
    def weeks(self) -> int:
        return (self.end - self.start).days // 7 + 1

    @property
    def label(self) -> str:
        y, w, _ = self.end.isocalendar()
        return f"{self.weeks} weeks to {y}-W{w:02d} ({self.start:%d %b} - {self.end + dt.timedelta(days=6):%d %b %Y})"


def parse_week(value: Any) -> dt.date | None:
    """The Monday of ``value``: an ISO week ``2026-W47``, a date, or ``YYYY-MM-DD`` text (None: none given).

    Raises ValueError with the accepted forms for anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value - dt.timedelta(days=value.weekday())
    text = str(value).strip().upper()
    m = _ISO_WEEK.match(text)
    try:
        if m:
            return dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"week {value!r} is not a week: use an ISO week like 2026-W47 or a date YYYY-MM-DD") from None
    return day - dt.timedelta(days=day.weekday())


def week_label(monday: Any) -> str:
    """``2026-W47`` for the week starting ``monday``."""
    y, w, _ = pd.Timestamp(monday).date().isocalendar()
    return f"{y}-W{w:02d}"


def period(session: Session, *, week: Any = None, weeks: int = TREND_WEEKS) -> Period | None:
    """The ``weeks`` weeks ending with ``week`` (default: the week of the data's last ship day).

    The default comes from the data (the settled last ship day, else the last PO day), never the clock.
    """
    end = parse_week(week)
    if end is None:
        last = last_day(session, Shipment.shipped_at) or supplier_as_of(session)
        if last is None:
            return None
        end = last - dt.timedelta(days=last.weekday())
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    return Period(start=end - dt.timedelta(weeks=weeks - 1), end=end)


# --- scope ----------------------------------------------------------------------------------------


def _carrier_scope(viewer: Viewer, t: Any) -> ColumnElement[bool]:
    """Carrier aggregate rows ``t`` the viewer may see: a carrier its own, a 3PL those leaving its warehouses."""
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    if viewer.vendor_kind == "carrier":
        return t.carrier == viewer.vendor_code
    if viewer.vendor_kind == "warehouse":
        return t.warehouse.in_(select(Warehouse.code).where(Warehouse.operator_code == viewer.vendor_code))
    return false()


def _supplier_scope(viewer: Viewer, col: Any) -> ColumnElement[bool]:
    require_viewer(viewer)
    if not viewer.is_vendor:
        return true()
    return col == viewer.vendor_code if viewer.vendor_kind == "supplier" else false()


# --- thresholds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The thresholds in force: minimum volume, late-lane rate (0..1), weights (%) and bands (0..1)."""

    min_volume: float
    late_below: float
    weights: dict[str, float]
    bands: dict[str, float]

    @property
    def weights_ok(self) -> bool:
        return abs(sum(self.weights.values()) - 100.0) < 1e-6


@data_function
def settings(session: Session, *, viewer: Viewer) -> Settings:
    """The thresholds in force: global values only (vendors read the same rules as managers)."""
    rows = thresholds_for(session, viewer=viewer)
    rows = rows[rows["scope_kind"] == "global"]

    def val(name: str) -> float:
        return float(resolve(rows, name=name).value)

    return Settings(min_volume=val(MIN_VOLUME_THRESHOLD), late_below=val(LATE_LANE_THRESHOLD) / 100.0,
                    weights={k: val(v[0]) for k, v in CRITERIA.items()},
                    bands={k: val(v[0]) / 100.0 for k, v in BANDS.items()})


# --- carrier measures -------------------------------------------------------------------------------


def _carrier_rows(session: Session, viewer: Viewer | None, p: Period) -> pd.DataFrame:
    """Aggregate rows of the period; ``viewer=None`` reads every carrier (internal use: benchmarks)."""
    a = AggScorecardCarrier
    stmt = select(a.week, a.carrier, a.service, a.lane, *[getattr(a, c) for c in CARRIER_COUNTS], a.cost_sum).where(
        a.week >= p.start, a.week <= p.end)
    if viewer is not None:
        stmt = stmt.where(_carrier_scope(viewer, a))
    df = pd.DataFrame(session.execute(stmt).all(), columns=["week", "carrier", "service", "lane", *CARRIER_COUNTS,
                                                            "cost_sum"])
    df["week"] = pd.to_datetime(df["week"])
    for c in CARRIER_COUNTS:
        df[c] = df[c].astype("int64")
    df["cost_sum"] = df["cost_sum"].astype("float64")
    return df


def _transit_rows(session: Session, viewer: Viewer, p: Period) -> pd.DataFrame:
    h = AggScorecardTransit
    stmt = select(h.week, h.carrier, h.service, h.lane, h.bdays, h.n).where(
        h.week >= p.start, h.week <= p.end, _carrier_scope(viewer, h), h.n > 0)
    df = pd.DataFrame(session.execute(stmt).all(), columns=["week", "carrier", "service", "lane", "bdays", "n"])
    df["week"] = pd.to_datetime(df["week"])
    df["bdays"] = df["bdays"].astype("int64")
    df["n"] = df["n"].astype("int64")
    return df


def group_quantiles(hist: pd.DataFrame, keys: list[str], qs: tuple[float, ...], value: str = "bdays",
                    count: str = "n") -> pd.DataFrame:
    """Exact (numpy ``linear``) quantiles per group of a histogram frame, vectorised over groups.

    Returns one row per group: the keys and one float64 column ``q<100*q>`` per quantile.
    """
    if hist.empty:
        return pd.DataFrame(columns=[*keys, *[f"q{int(round(q * 100))}" for q in qs]])
    h = hist.groupby([*keys, value], as_index=False, sort=True)[count].sum()
    h = h[h[count] > 0].reset_index(drop=True)
    cum = h[count].cumsum().to_numpy()
    g = h.groupby(keys, sort=False)
    first = g.cumcount().to_numpy() == 0
    group_id = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    totals = g[count].sum().to_numpy()
    offsets = np.concatenate([[0], cum[starts[1:] - 1]]) if len(starts) > 1 else np.array([0])
    vals = h[value].to_numpy(dtype="float64")
    out = h.loc[starts, keys].reset_index(drop=True)
    del group_id
    for q in qs:
        pos = (totals - 1) * q
        lo = np.floor(pos).astype("int64")
        hi = np.minimum(lo + 1, totals - 1)
        v_lo = vals[np.searchsorted(cum, offsets + lo, side="right")]
        v_hi = vals[np.searchsorted(cum, offsets + hi, side="right")]
        out[f"q{int(round(q * 100))}"] = v_lo + (pos - lo) * (v_hi - v_lo)
    return out


def measures(counts: pd.DataFrame, hist: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sum counts over ``keys`` and turn them into the scorecard's measures (see :mod:`.metrics`)."""
    sums = counts.groupby(keys, as_index=False, sort=True)[[*CARRIER_COUNTS, "cost_sum"]].sum()
    out = sums[keys].copy()
    out["shipments"] = sums["n"].astype("int64")
    out["on_time_rate"] = rates(sums["on_time"], sums["attempted"])
    out["first_attempt_rate"] = rates(sums["first_attempt_ok"], sums["delivered"])
    out["lost_rate"] = rates(sums["lost"], sums["n"])
    out["damaged_rate"] = rates(sums["damaged"], sums["n"])
    out["rts_rate"] = rates(sums["returned"], sums["n"])
    out["intact_rate"] = 1.0 - rates(sums["lost"] + sums["damaged"] + sums["returned"], sums["n"])
    out["cost_per_package"] = (sums["cost_sum"] / sums["n"].where(sums["n"] > 0)).astype("float64")
    q = group_quantiles(hist, keys, (0.5, 0.9, 0.95))
    out = out.merge(q, on=keys, how="left") if not q.empty else out.assign(q50=np.nan, q90=np.nan, q95=np.nan)
    out = out.rename(columns={"q50": "transit_p50_bdays", "q90": "transit_p90_bdays", "q95": "transit_p95_bdays"})
    for c in ("transit_p50_bdays", "transit_p90_bdays", "transit_p95_bdays"):
        out[c] = out[c].astype("float64")
    out["attempted"] = sums["attempted"].astype("int64").to_numpy()
    out["delivered"] = sums["delivered"].astype("int64").to_numpy()
    return out[[*keys, *MEASURE_COLUMNS, "attempted", "delivered"]]


def score_frame(m: pd.DataFrame, s: Settings) -> pd.DataFrame:
    """Add ``score`` (0..1, the weighted mean of the criteria; NaN when a criterion is NaN or the
    weights do not sum to 100 %) and ``band`` to a measures frame."""
    out = m.copy()
    if s.weights_ok:
        score = sum(out[CRITERIA[k][3]] * (w / 100.0) for k, w in s.weights.items())
        out["score"] = pd.Series(score, index=out.index, dtype="float64")
    else:
        out["score"] = np.nan
    band = pd.Series("failing", index=out.index, dtype=object)
    for name, lo in reversed(list(s.bands.items())):
        band[out["score"] >= lo] = name
    band[out["score"].isna()] = ""
    out["band"] = band
    return out


def _benchmark(session: Session, p: Period, lanes: list[str], s: Settings) -> pd.DataFrame:
    """Median on-time rate per lane over carriers with at least the minimum volume there (the period's)."""
    if not lanes:
        return pd.DataFrame({"lane": pd.Series(dtype=object), "benchmark_on_time_rate": pd.Series(dtype="float64")})
    a = AggScorecardCarrier
    stmt = (select(a.lane, a.carrier, func.sum(a.n), func.sum(a.attempted), func.sum(a.on_time))
            .where(a.week >= p.start, a.week <= p.end, a.lane.in_(lanes)).group_by(a.lane, a.carrier))
    df = pd.DataFrame(session.execute(stmt).all(), columns=["lane", "carrier", "n", "attempted", "on_time"])
    df = df[df["n"] >= s.min_volume]
    df["rate"] = rates(df["on_time"], df["attempted"])
    out = df.groupby("lane", as_index=False)["rate"].median().rename(columns={"rate": "benchmark_on_time_rate"})
    out["benchmark_on_time_rate"] = out["benchmark_on_time_rate"].astype("float64")
    return out


def _targets(session: Session, viewer: Viewer, carriers: pd.Series) -> pd.Series:
    rows = thresholds_for(session, viewer=viewer, name=TARGET_THRESHOLD)
    frame = pd.DataFrame({"carrier": carriers})
    return (resolve_frame(rows, frame, name=TARGET_THRESHOLD, columns={"carrier": "carrier"})["value"]
            / 100.0).astype("float64")


@data_function
def carrier_scorecard(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS,
                      by: str = "lane") -> pd.DataFrame:
    """The carrier scorecard over the period: one row per carrier (x service) x lane.

    Parameters
    ----------
    week, weeks
        The period (:func:`period`): ``weeks`` weeks ending with ``week``.
    by
        ``carrier``, ``lane`` (carrier x lane) or ``service_lane`` (carrier x service x lane).

    Returns
    -------
    DataFrame
        the keys (str), ``shipments`` (int64), ``on_time_rate``, ``first_attempt_rate``,
        ``transit_p50_bdays``/``p90``/``p95`` (business days), ``lost_rate``, ``damaged_rate``,
        ``rts_rate``, ``intact_rate``, ``cost_per_package`` (float64), ``attempted``,
        ``delivered`` (int64), ``score`` (0..1), ``band`` (str), ``ranked`` (bool: at least the
        minimum volume in the period), ``score_rank`` (float64, 1 = best score among ranked rows;
        internal users only), ``target_on_time_rate`` (float64), ``benchmark_on_time_rate``
        (float64; for ``lane`` groupings: median on-time rate of every carrier with the minimum
        volume on the lane, anonymous), ``excluded`` (int64: shipments excluded by accepted disputes).
    """
    require_viewer(viewer)
    if by not in GROUPINGS:
        raise ValueError(f"by={by!r}: use one of {', '.join(GROUPINGS)}")
    keys = GROUPINGS[by]
    p = period(session, week=week, weeks=weeks)
    empty = pd.DataFrame(columns=[*keys, *MEASURE_COLUMNS, "attempted", "delivered", "score", "band", "ranked",
                                  "target_on_time_rate", "benchmark_on_time_rate", "excluded"])
    if p is None:
        return empty
    counts = _carrier_rows(session, viewer, p)
    if counts.empty:
        return empty
    s = settings(session, viewer=viewer)
    m = score_frame(measures(counts, _transit_rows(session, viewer, p), keys), s)
    m["ranked"] = m["shipments"] >= s.min_volume
    if not viewer.is_vendor:
        m["score_rank"] = m["score"].where(m["ranked"]).rank(ascending=False, method="min")
    m["target_on_time_rate"] = _targets(session, viewer, m["carrier"])
    if "lane" in keys:
        m = m.merge(_benchmark(session, p, sorted(m["lane"].unique()), s), on="lane", how="left")
    else:
        m["benchmark_on_time_rate"] = np.nan
    from ops.scorecards.disputes import excluded_shipments  # a cycle: disputes reads the period from here

    exc = excluded_shipments(session, viewer=viewer, week=p.end, weeks=p.weeks)
    if exc.empty:
        m["excluded"] = 0
    else:
        n_exc = exc.groupby(keys).size().rename("excluded").reset_index()
        m = m.merge(n_exc, on=keys, how="left")
        m["excluded"] = m["excluded"].fillna(0)
    m["excluded"] = m["excluded"].astype("int64")
    return m.sort_values([*keys]).reset_index(drop=True)


@data_function
def carrier_trend(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """Per carrier and week of the period: shipments, on-time rate, weighted score and band.

    Returns
    -------
    DataFrame
        ``carrier`` (str), ``week`` (datetime64, the Monday), ``week_label`` (str, ISO week),
        ``shipments`` (int64), ``on_time_rate``, ``first_attempt_rate``, ``intact_rate``,
        ``score`` (float64), ``band`` (str); for a vendor also ``benchmark_on_time_rate``
        (median over carriers with the minimum volume on the vendor's lanes that week).
    """
    require_viewer(viewer)
    p = period(session, week=week, weeks=weeks)
    cols = ["carrier", "week", "week_label", "shipments", "on_time_rate", "first_attempt_rate", "intact_rate",
            "score", "band"]
    if p is None:
        return pd.DataFrame(columns=cols)
    counts = _carrier_rows(session, viewer, p)
    if counts.empty:
        return pd.DataFrame(columns=cols)
    s = settings(session, viewer=viewer)
    no_hist = pd.DataFrame({"carrier": pd.Series(dtype=object), "week": pd.Series(dtype="datetime64[ns]"),
                            "bdays": pd.Series(dtype="int64"), "n": pd.Series(dtype="int64")})
    m = score_frame(measures(counts, no_hist, ["carrier", "week"]), s)
    m["week_label"] = m["week"].map(week_label)
    return m[cols].sort_values(["carrier", "week"]).reset_index(drop=True)


@data_function
def lane_weeks(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """Carrier x lane x week on-time rates with the late-lane flag (see :mod:`.metrics`).

    Returns
    -------
    DataFrame
        ``carrier``, ``lane`` (str), ``week`` (datetime64), ``week_label`` (str), ``shipments``,
        ``attempted`` (int64), ``on_time_rate`` (float64), ``ranked`` (bool: at least the minimum
        volume), ``flagged`` (bool: ranked and on-time below the late-lane threshold),
        ``benchmark_on_time_rate`` (float64, anonymous lane median that week).
    """
    require_viewer(viewer)
    p = period(session, week=week, weeks=weeks)
    cols = ["carrier", "lane", "week", "week_label", "shipments", "attempted", "on_time_rate", "ranked", "flagged",
            "benchmark_on_time_rate"]
    if p is None:
        return pd.DataFrame(columns=cols)
    counts = _carrier_rows(session, viewer, p)
    if counts.empty:
        return pd.DataFrame(columns=cols)
    s = settings(session, viewer=viewer)
    g = counts.groupby(["carrier", "lane", "week"], as_index=False)[["n", "attempted", "on_time"]].sum()
    g["on_time_rate"] = rates(g["on_time"], g["attempted"])
    g["ranked"] = g["n"] >= s.min_volume
    g["flagged"] = g["ranked"] & (g["on_time_rate"] < s.late_below)
    g = g.rename(columns={"n": "shipments"})
    # the anonymous benchmark: all carriers' rows of the viewer's lanes, reduced to a median per lane and week
    a = AggScorecardCarrier
    lanes = sorted(g["lane"].unique())
    every = pd.DataFrame(session.execute(
        select(a.lane, a.week, a.carrier, func.sum(a.n), func.sum(a.attempted), func.sum(a.on_time))
        .where(a.week >= p.start, a.week <= p.end, a.lane.in_(lanes)).group_by(a.lane, a.week, a.carrier)).all(),
        columns=["lane", "week", "carrier", "n", "attempted", "on_time"])
    every = every[every["n"] >= s.min_volume]
    every["rate"] = rates(every["on_time"], every["attempted"])
    every["week"] = pd.to_datetime(every["week"])
    bench = (every.groupby(["lane", "week"], as_index=False)["rate"].median()
             .rename(columns={"rate": "benchmark_on_time_rate"}))
    g = g.merge(bench, on=["lane", "week"], how="left")
    g["benchmark_on_time_rate"] = g["benchmark_on_time_rate"].astype("float64")
    g["week_label"] = g["week"].map(week_label)
    for c in ("shipments", "attempted"):
        g[c] = g[c].astype("int64")
    return g[cols].sort_values(["carrier", "lane", "week"]).reset_index(drop=True)


@data_function
def late_lanes(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """The flagged rows of :func:`lane_weeks` (same columns), worst first."""
    lw = lane_weeks(session, viewer=viewer, week=week, weeks=weeks)
    return lw[lw["flagged"].astype(bool)].sort_values(["on_time_rate", "carrier", "lane", "week"]).reset_index(
        drop=True)


@data_function
def transit_distribution(session: Session, *, viewer: Viewer, week: Any = None,
                         weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """Shipments per transit time in business days, per carrier and lane over the period.

    Returns
    -------
    DataFrame
        ``carrier``, ``lane`` (str), ``bdays`` (int64), ``shipments`` (int64), ``transit_share`` (float64,
        of the carrier-lane's shipments with an attempt).
    """
    require_viewer(viewer)
    p = period(session, week=week, weeks=weeks)
    if p is None:
        return pd.DataFrame(columns=["carrier", "lane", "bdays", "shipments", "transit_share"])
    h = _transit_rows(session, viewer, p)
    g = h.groupby(["carrier", "lane", "bdays"], as_index=False)["n"].sum().rename(columns={"n": "shipments"})
    total = g.groupby(["carrier", "lane"])["shipments"].transform("sum")
    g["transit_share"] = (g["shipments"] / total).astype("float64")
    g["shipments"] = g["shipments"].astype("int64")
    return g.reset_index(drop=True)


# --- suppliers --------------------------------------------------------------------------------------


@data_function
def supplier_scorecard(session: Session, *, viewer: Viewer, week: Any = None,
                       weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """Per supplier over the period: PO lines on time, in full, OTIF, fill rate, and lead time.

    Returns
    -------
    DataFrame
        ``supplier`` (str), ``po_lines`` (int64, lines due in the period), ``on_time_rate``,
        ``in_full_rate``, ``otif_rate``, ``fill_rate`` (float64 0..1), ``lt_stated_days``,
        ``lt_n``, ``lt_mean_days``, ``lt_std_days``, ``lt_p90_days`` (as :func:`lead_time_stats`,
        over the whole history), ``lt_gap_days`` (measured mean minus stated), ``excluded``
        (int64: PO lines excluded by accepted disputes).
    """
    from ops.scorecards.disputes import excluded_po_lines
    from ops.scorecards.leadtime import lead_time_stats

    require_viewer(viewer)
    cols = ["supplier", "po_lines", "on_time_rate", "in_full_rate", "otif_rate", "fill_rate", "lt_stated_days",
            "lt_n", "lt_mean_days", "lt_std_days", "lt_p90_days", "lt_gap_days", "excluded"]
    p = period(session, week=week, weeks=weeks)
    if p is None:
        return pd.DataFrame(columns=cols)
    a = AggScorecardSupplier
    df = pd.DataFrame(session.execute(
        select(a.supplier, *[func.sum(getattr(a, c)) for c in SUPPLIER_COUNTS])
        .where(a.week >= p.start, a.week <= p.end, _supplier_scope(viewer, a.supplier))
        .group_by(a.supplier)).all(), columns=["supplier", *SUPPLIER_COUNTS])
    out = pd.DataFrame({"supplier": df["supplier"].astype(str), "po_lines": df["lines"].astype("int64")})
    out["on_time_rate"] = rates(df["on_time"], df["lines"])
    out["in_full_rate"] = rates(df["in_full"], df["lines"])
    out["otif_rate"] = rates(df["otif"], df["lines"])
    out["fill_rate"] = rates(df["qty_received"], df["qty_ordered"])
    lt = lead_time_stats(session, viewer=viewer, supplier_codes=out["supplier"].tolist())
    out = out.merge(lt, on="supplier", how="left")
    out["lt_n"] = out["lt_n"].fillna(0).astype("int64")
    out["lt_gap_days"] = (out["lt_mean_days"] - out["lt_stated_days"]).astype("float64")
    exc = excluded_po_lines(session, viewer=viewer, week=p.end, weeks=p.weeks)
    n_exc = exc.groupby("supplier").size() if not exc.empty else pd.Series(dtype="int64")
    out["excluded"] = out["supplier"].map(n_exc).fillna(0).astype("int64")
    return out[cols].sort_values("supplier").reset_index(drop=True)


@data_function
def supplier_trend(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """Per supplier and week expected: ``supplier``, ``week`` (datetime64), ``week_label``,
    ``po_lines`` (int64), ``otif_rate``, ``on_time_rate``, ``in_full_rate`` (float64)."""
    require_viewer(viewer)
    cols = ["supplier", "week", "week_label", "po_lines", "otif_rate", "on_time_rate", "in_full_rate"]
    p = period(session, week=week, weeks=weeks)
    if p is None:
        return pd.DataFrame(columns=cols)
    a = AggScorecardSupplier
    df = pd.DataFrame(session.execute(
        select(a.supplier, a.week, func.sum(a.lines), func.sum(a.otif), func.sum(a.on_time), func.sum(a.in_full))
        .where(a.week >= p.start, a.week <= p.end, _supplier_scope(viewer, a.supplier))
        .group_by(a.supplier, a.week)).all(), columns=["supplier", "week", "po_lines", "otif", "on_time", "in_full"])
    df["week"] = pd.to_datetime(df["week"])
    df["week_label"] = df["week"].map(week_label)
    df["po_lines"] = df["po_lines"].astype("int64")
    for c in ("otif", "on_time", "in_full"):
        df[f"{c}_rate"] = rates(df[c], df["po_lines"])
    return df[cols].sort_values(["supplier", "week"]).reset_index(drop=True)






# --- 3PLs -------------------------------------------------------------------------------------------


@data_function
def tpl_scorecard(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """The fulfilment SLA figures of the warehouses each 3PL operates, over the period's order days.

    Read from the fulfilment aggregates (``ops.fulfillment.sla_summary``, scoped there); warehouses
    without an operator are ours and are left out. Carriers and suppliers get no rows.

    Returns
    -------
    DataFrame
        ``operator`` (str, the 3PL code), ``warehouse`` (str), ``lines`` (int64), ``on_time_ship_rate``,
        ``on_time_delivery_rate`` (float64), ``late_warehouse`` (int64, late deliveries caused by a late
        shipment), ``c2s_median_h``, ``c2s_p90_h`` (float64 hours), ``backlog_lines`` (int64).
    """
    from ops.access import warehouse_condition
    from ops.filters import Filters
    from ops.fulfillment.queries import sla_summary
    require_viewer(viewer)
    cols = ["operator", "warehouse", "lines", "on_time_ship_rate", "on_time_delivery_rate", "late_warehouse",
            "c2s_median_h", "c2s_p90_h", "backlog_lines"]
    p = period(session, week=week, weeks=weeks)
    if p is None or (viewer.is_vendor and viewer.vendor_kind != "warehouse"):
        return pd.DataFrame(columns=cols)
    ops_by_code = dict(session.execute(select(Warehouse.code, Warehouse.operator_code).where(
        Warehouse.operator_code.is_not(None), warehouse_condition(viewer))).all())
    if not ops_by_code:
        return pd.DataFrame(columns=cols)
    flt = Filters(date_from=p.start, date_to=p.end + dt.timedelta(days=6), warehouses=tuple(sorted(ops_by_code)))
    s = sla_summary(session, viewer=viewer, filters=flt, by="warehouse", exact=False)
    s = s[s["group"].isin(list(ops_by_code))].rename(columns={"group": "warehouse"})
    s.insert(0, "operator", s["warehouse"].map(ops_by_code).astype(str))
    return s[cols].sort_values(["operator", "warehouse"]).reset_index(drop=True)
