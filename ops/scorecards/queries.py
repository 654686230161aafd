"""Scoped reads of the scorecard aggregates; every public function takes ``viewer`` (definitions: :mod:`.metrics`).

Scope: managers, admins and planners read every vendor; a carrier reads only rows of its own code,
a supplier only its own, a 3PL only the warehouses it operates; any other vendor reads nothing.
The one figure computed over other vendors' rows is the lane benchmark, which leaves the frame as a
median per lane only (no code, no count of carriers), and only for lanes the viewer serves.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, String, and_, cast, false, func, select, true
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.decisions import THRESHOLDS, resolve_frame, thresholds_for
from ops.models import (
    AggScorecardCarrier,
    AggScorecardSupplier,
    AggScorecardTransit,
    PurchaseOrder,
    PurchaseOrderLine,
    Shipment,
    Supplier,
    Warehouse,
)
from ops.reference import last_day
from ops.scorecards.metrics import (
    LATE_LANE_THRESHOLD,
    MIN_LT_LINES,
    MIN_VOLUME_THRESHOLD,
    TREND_WEEKS,
    hist_mean_std,
    hist_quantile,
)
from ops.scorecards.refresh import CARRIER_COUNTS, SUPPLIER_COUNTS, supplier_as_of
from ops.scorecards.thresholds import BANDS, CRITERIA, SUPPLIER_CRITERIA, TARGET_THRESHOLD

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
        last = self.end + dt.timedelta(days=6)
        return f"{self.weeks} weeks to {y}-W{w:02d} ({self.start:%d %b %Y} - {last:%d %b %Y})"


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
    supplier_weights: dict[str, float] = field(default_factory=dict)

    @property
    def weights_ok(self) -> bool:
        return abs(sum(self.weights.values()) - 100.0) < 1e-6

    @property
    def supplier_weights_ok(self) -> bool:
        return abs(sum(self.supplier_weights.values()) - 100.0) < 1e-6


@data_function
def settings(session: Session, *, viewer: Viewer) -> Settings:
    """The thresholds in force: global values only (vendors read the same rules as managers)."""
    return settings_from(thresholds_for(session, viewer=viewer))


def settings_from(rows: pd.DataFrame) -> Settings:
    """:func:`settings` from the threshold rows a viewer may read (``decisions.thresholds_for``; pure)."""
    glob = rows["scope_kind"].to_numpy() == "global"
    stored = dict(zip(rows["name"].to_numpy()[glob], rows["value"].to_numpy()[glob], strict=True))

    def val(name: str) -> float:
        # the stored global row, else the registered default: what ``decisions.resolve`` picks for
        # global-only thresholds, without its per-call frame scan (the page reads eight of them)
        return float(stored[name]) if name in stored else float(THRESHOLDS[name].default)

    return Settings(min_volume=val(MIN_VOLUME_THRESHOLD), late_below=val(LATE_LANE_THRESHOLD) / 100.0,
                    weights={k: val(v[0]) for k, v in CRITERIA.items()},
                    bands={k: val(v[0]) / 100.0 for k, v in BANDS.items()},
                    supplier_weights={k: val(v[0]) for k, v in SUPPLIER_CRITERIA.items()})


# --- carrier measures -------------------------------------------------------------------------------


def week_text(col: Any) -> Any:
    """A date column read as ISO text: no per-row date parsing in Python (pandas converts the column at once)."""
    return cast(col, String)


def frame(rows: Any, columns: list[str], dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    """A DataFrame of result rows, built column by column (pandas is slow turning many Row objects into rows).

    Columns named in ``dtypes`` are built as numpy arrays of that dtype (no per-value inference);
    the others are inferred by pandas (object for text).
    """
    data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    dtypes = dtypes or {}
    return pd.DataFrame({c: np.array(v, dtype=dtypes[c]) if c in dtypes else
                         pd.Series(list(v) if v else [], dtype=object if not v else None)
                         for c, v in zip(columns, data, strict=True)}, columns=columns)


def _to_weeks(values: pd.Series) -> pd.Series:
    """ISO date text (or dates) as datetime64, each distinct week parsed once."""
    codes, uniq = pd.factorize(values, sort=False)
    days = pd.to_datetime(pd.Index(uniq).astype(str).str.slice(0, 10), format="%Y-%m-%d")
    return pd.Series(days.take(codes), index=values.index)


def week_labels(weeks: pd.Series) -> pd.Series:
    """``weeks.dt.strftime("%G-W%V")`` (ISO week labels), each distinct week formatted once."""
    codes, uniq = pd.factorize(weeks, sort=False)
    labels = np.asarray(pd.DatetimeIndex(uniq).strftime("%G-W%V"), dtype=object)
    return pd.Series(labels.take(codes), index=weeks.index, dtype=object)


def _carrier_rows(session: Session, viewer: Viewer | None, p: Period, lanes: list[str] | None = None,
                  services: bool = False) -> pd.DataFrame:
    """The period's counts per week, carrier and lane (and service when ``services``), summed in SQL.

    ``viewer=None`` reads every carrier: only for the anonymous benchmark, which reduces them to medians.
    """
    a = AggScorecardCarrier
    keys = [a.week, a.carrier, *([a.service] if services else []), a.lane]
    stmt = (select(week_text(a.week), *keys[1:], *[func.sum(getattr(a, c)) for c in CARRIER_COUNTS],
                   func.sum(a.cost_sum))
            .where(a.week >= p.start, a.week <= p.end).group_by(*keys))
    if viewer is not None:
        stmt = stmt.where(_carrier_scope(viewer, a))
    if lanes is not None:
        stmt = stmt.where(a.lane.in_(lanes))
    cols = ["week", "carrier", *(["service"] if services else []), "lane", *CARRIER_COUNTS, "cost_sum"]
    df = frame(session.connection().execute(stmt).all(), cols,
               {**dict.fromkeys(CARRIER_COUNTS, "int64"), "cost_sum": "float64"})
    df["week"] = _to_weeks(df["week"]) if len(df) else pd.Series(dtype="datetime64[ns]")
    return df


def _transit_hist(session: Session, viewer: Viewer, p: Period, keys: list[str]) -> pd.DataFrame:
    """Transit histogram summed over the period in SQL, per ``keys`` (columns of the aggregate) and ``bdays``."""
    h = AggScorecardTransit
    cols = [getattr(h, k) for k in keys]
    stmt = (select(*cols, h.bdays, func.sum(h.n))
            .where(h.week >= p.start, h.week <= p.end, _carrier_scope(viewer, h), h.n > 0)
            .group_by(*cols, h.bdays))
    return frame(session.connection().execute(stmt).all(), [*keys, "bdays", "n"], {"bdays": "int64", "n": "int64"})


def group_quantiles(hist: pd.DataFrame, keys: list[str], qs: tuple[float, ...], value: str = "bdays",
                    count: str = "n") -> pd.DataFrame:
    """Exact (numpy ``linear``) quantiles per group of a histogram frame, vectorised over groups.

    Returns one row per group: the keys and one float64 column ``q<100*q>`` per quantile.
    """
    names = [f"q{int(round(q * 100))}" for q in qs]
    if hist.empty:
        return pd.DataFrame(columns=[*keys, *names])
    h = hist.groupby([*keys, value], as_index=False, sort=True)[count].sum()
    h = h[h[count] > 0].reset_index(drop=True)
    cum = h[count].cumsum().to_numpy()
    first = (h[keys].ne(h[keys].shift())).any(axis=1).to_numpy()
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(h))
    offsets = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0)
    totals = cum[ends - 1] - offsets
    vals = h[value].to_numpy(dtype="float64")
    out = h.loc[starts, keys].reset_index(drop=True)
    for q, name in zip(qs, names, strict=True):
        pos = (totals - 1) * q
        lo = np.floor(pos).astype("int64")
        hi = np.minimum(lo + 1, totals - 1)
        v_lo = vals[np.searchsorted(cum, offsets + lo, side="right")]
        v_hi = vals[np.searchsorted(cum, offsets + hi, side="right")]
        out[name] = v_lo + (pos - lo) * (v_hi - v_lo)
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float64, NaN where ``den`` is 0 (numpy: the page computes thousands of these)."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _groups(df: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group number with groups in sorted key order (as ``df.groupby(keys, sort=True)``), and the
    first row of each group: one integer code per row instead of pandas grouping on several text columns."""
    code = np.zeros(len(df), dtype=np.int64)
    for k in keys:
        c, uniq = pd.factorize(df[k], sort=True)
        code = code * max(len(uniq), 1) + c
    _, first, inv = np.unique(code, return_index=True, return_inverse=True)
    return inv.reshape(-1), first


def _count_sums(df: pd.DataFrame, inv: np.ndarray, n: int, cols: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """Per group, the sums of integer count columns (float64 holding exact integers)."""
    return {c: np.bincount(inv, weights=df[c].to_numpy(dtype="float64"), minlength=n) for c in cols}


def _lookup(keys: list[str], have: pd.DataFrame, want: dict[str, np.ndarray]) -> np.ndarray:
    """Row of ``have`` (unique on ``keys``) for each key tuple of ``want``, -1 where it has none."""
    if len(keys) == 1:
        return pd.Index(have[keys[0]]).get_indexer(want[keys[0]])
    return pd.MultiIndex.from_frame(have[keys]).get_indexer(pd.MultiIndex.from_arrays([want[k] for k in keys]))


def measures(counts: pd.DataFrame, hist: pd.DataFrame | None, keys: list[str]) -> pd.DataFrame:
    """Sum counts over ``keys`` and turn them into the scorecard's measures (see :mod:`.metrics`)."""
    inv, first = _groups(counts, keys)
    ng = len(first)
    v = _count_sums(counts, inv, ng, CARRIER_COUNTS)
    # money is summed as pandas sums it (compensated, rows in order), so each figure is the same float as before
    v["cost_sum"] = counts["cost_sum"].groupby(inv, sort=True).sum().to_numpy(dtype="float64")
    out: dict[str, Any] = {k: counts[k].to_numpy()[first] for k in keys}
    n = v["n"]
    out["shipments"] = n.astype("int64")
    out["on_time_rate"] = _ratio(v["on_time"], v["attempted"])
    out["first_attempt_rate"] = _ratio(v["first_attempt_ok"], v["delivered"])
    out["lost_rate"], out["damaged_rate"] = _ratio(v["lost"], n), _ratio(v["damaged"], n)
    out["rts_rate"] = _ratio(v["returned"], n)
    out["intact_rate"] = 1.0 - _ratio(v["lost"] + v["damaged"] + v["returned"], n)
    out["cost_per_package"] = _ratio(v["cost_sum"], n)
    q = group_quantiles(hist, keys, (0.5, 0.9, 0.95)) if hist is not None else pd.DataFrame()
    at = _lookup(keys, q, out) if not q.empty else np.full(ng, -1)
    for name, col in (("q50", "transit_p50_bdays"), ("q90", "transit_p90_bdays"), ("q95", "transit_p95_bdays")):
        vals = q[name].to_numpy(dtype="float64") if not q.empty else np.empty(0)
        out[col] = np.where(at >= 0, vals[np.maximum(at, 0)] if len(vals) else np.nan, np.nan)
    out["attempted"] = v["attempted"].astype("int64")
    out["delivered"] = v["delivered"].astype("int64")
    return pd.DataFrame(out, columns=[*keys, *MEASURE_COLUMNS, "attempted", "delivered"])


def score_frame(m: pd.DataFrame, s: Settings, *, supplier: bool = False) -> pd.DataFrame:
    """Add ``score`` (0..1, the weighted mean of the criteria; NaN when a criterion with a weight is
    NaN or the weights do not sum to 100 %) and ``band`` to a measures frame: the carrier criteria
    (:data:`CRITERIA`), or with ``supplier`` the supplier ones (:data:`SUPPLIER_CRITERIA`)."""
    out = m.copy()
    criteria, weights = (SUPPLIER_CRITERIA, s.supplier_weights) if supplier else (CRITERIA, s.weights)
    if (s.supplier_weights_ok if supplier else s.weights_ok):
        # a criterion weighted 0 plays no part (an unknown value of it does not blank the score); summed in
        # the weights' order from 0, as Python's sum() of the weighted columns
        score: Any = 0
        for k, w in weights.items():
            if w > 0:
                score = score + out[criteria[k][3]].to_numpy(dtype="float64") * (w / 100.0)
        score = np.asarray(score, dtype="float64")
    else:
        score = np.full(len(out), np.nan)
    band = np.full(len(out), "failing", dtype=object)
    for name, lo in reversed(list(s.bands.items())):
        band[score >= lo] = name
    band[np.isnan(score)] = ""
    out["score"] = score
    out["band"] = band
    return out


def _targets(rows: pd.DataFrame, carriers: pd.Series) -> pd.Series:
    """Each carrier's on-time target (0..1) from the threshold rows the viewer may read (every name)."""
    frame = pd.DataFrame({"carrier": carriers})
    return (resolve_frame(rows, frame, name=TARGET_THRESHOLD, columns={"carrier": "carrier"})["value"]
            / 100.0).astype("float64")


@dataclass(frozen=True)
class Shared:
    """What a page load reads once for all its sections, for the viewer whose ``cache_key`` is ``viewer_key``:
    the threshold rows that viewer may read (the settings and the carriers' targets both come from them), and
    whether an accepted dispute may exclude shipments or PO lines of its scorecards (False: it cannot, so the
    exclusions are not read)."""

    viewer_key: tuple[str, ...]
    thresholds: pd.DataFrame
    settings: Settings
    shipment_exclusions: bool = True
    po_line_exclusions: bool = True


@data_function
def shared_reads(session: Session, *, viewer: Viewer, disputes: pd.DataFrame | None = None) -> Shared:
    """:class:`Shared` for ``viewer``: its threshold rows read once, and from ``disputes`` (the viewer's
    disputes as ``ops.scorecards.disputes.disputes`` reads them; None: not read) whether exclusions can exist.

    The exclusions are read from the accepted disputes in the same scope as the viewer's disputes (every
    dispute for our people, a carrier's or supplier's own), so none accepted there means none to read. A 3PL's
    shipment exclusions are the carriers' disputes on shipments leaving its warehouses, which its own disputes
    do not show: those are always read.
    """
    require_viewer(viewer)
    rows = thresholds_for(session, viewer=viewer)

    def accepted(kind: str) -> bool:
        return disputes is None or bool(((disputes["subject_kind"] == kind) & (disputes["state"] == "accepted")).any())

    return Shared(viewer_key=viewer.cache_key, thresholds=rows, settings=settings_from(rows),
                  shipment_exclusions=viewer.is_kind("warehouse") or accepted("shipment"),
                  po_line_exclusions=accepted("po_line"))


def _shared_for(session: Session, viewer: Viewer, sh: Shared | None) -> Shared:
    """``sh`` when it was read for ``viewer`` (refused otherwise: its thresholds are scoped), else a fresh read."""
    if sh is None:
        return shared_reads(session, viewer=viewer)
    if sh.viewer_key != viewer.cache_key:
        raise ValueError("the shared reads were made for another viewer")
    return sh


@dataclass(frozen=True)
class _CarrierData:
    """One read of the period's carrier aggregates for a viewer, shared by the carrier tables."""

    p: Period
    s: Settings
    thresholds: pd.DataFrame
    counts: pd.DataFrame  # the viewer's rows
    peers: pd.DataFrame  # every carrier's rows on the viewer's lanes: only ever reduced to medians
    excluded: pd.DataFrame
    hists: dict[tuple[str, ...], pd.DataFrame]  # transit histograms read so far, by keys


def _hist(session: Session, viewer: Viewer, cd: _CarrierData, keys: list[str]) -> pd.DataFrame:
    if tuple(keys) not in cd.hists:
        cd.hists[tuple(keys)] = _transit_hist(session, viewer, cd.p, keys)
    return cd.hists[tuple(keys)]


def _carrier_data(session: Session, viewer: Viewer, week: Any, weeks: int,
                  sh: Shared | None = None) -> _CarrierData | None:
    from ops.scorecards.disputes import excluded_shipments  # a cycle: disputes reads the period from here

    require_viewer(viewer)
    p = period(session, week=week, weeks=weeks)
    if p is None:
        return None
    counts = _carrier_rows(session, viewer, p)
    if counts.empty:
        return None
    sh = _shared_for(session, viewer, sh)
    lanes = sorted(counts["lane"].unique())
    peers = counts if not viewer.is_vendor else _carrier_rows(session, None, p, lanes)
    excluded = (excluded_shipments(session, viewer=viewer, week=p.end, weeks=p.weeks) if sh.shipment_exclusions
                else pd.DataFrame(columns=["tracking_number", "carrier", "service", "lane", "week"]))
    return _CarrierData(p=p, s=sh.settings, thresholds=sh.thresholds, counts=counts, peers=peers, excluded=excluded,
                        hists={})


def _benchmarks(cd: _CarrierData, weekly: bool) -> pd.DataFrame:
    """Median on-time rate per lane (and week) over carriers with at least the minimum volume there."""
    keys = ["lane", "week"] if weekly else ["lane"]
    peers = cd.peers
    inv, first = _groups(peers, [*keys, "carrier"])
    v = _count_sums(peers, inv, len(first), ("n", "attempted", "on_time"))
    keep = v["n"] >= cd.s.min_volume
    g = pd.DataFrame({**{k: peers[k].to_numpy()[first][keep] for k in keys},
                      "rate": _ratio(v["on_time"][keep], v["attempted"][keep])})
    out = g.groupby(keys, as_index=False)["rate"].median().rename(columns={"rate": "benchmark_on_time_rate"})
    out["benchmark_on_time_rate"] = out["benchmark_on_time_rate"].astype("float64")
    return out


CARD_EXTRA = ["score", "band", "ranked", "target_on_time_rate", "benchmark_on_time_rate", "excluded"]


def _scorecard_from(session: Session, viewer: Viewer, cd: _CarrierData | None, by: str) -> pd.DataFrame:
    if by not in GROUPINGS:
        raise ValueError(f"by={by!r}: use one of {', '.join(GROUPINGS)}")
    keys = GROUPINGS[by]
    if cd is None:
        return pd.DataFrame(columns=[*keys, *MEASURE_COLUMNS, "attempted", "delivered", *CARD_EXTRA])
    counts = cd.counts if "service" not in keys else _carrier_rows(session, viewer, cd.p, services=True)
    m = score_frame(measures(counts, _hist(session, viewer, cd, keys), keys), cd.s)
    m["ranked"] = m["shipments"] >= cd.s.min_volume
    if not viewer.is_vendor:
        m["score_rank"] = m["score"].where(m["ranked"]).rank(ascending=False, method="min")
    m["target_on_time_rate"] = _targets(cd.thresholds, m["carrier"])
    if "lane" in keys:
        m = m.merge(_benchmarks(cd, weekly=False), on="lane", how="left")
    else:
        m["benchmark_on_time_rate"] = np.nan
    if cd.excluded.empty:
        m["excluded"] = 0
    else:
        n_exc = cd.excluded.groupby(keys).size().rename("excluded").reset_index()
        m = m.merge(n_exc, on=keys, how="left")
        m["excluded"] = m["excluded"].fillna(0)
    m["excluded"] = m["excluded"].astype("int64")
    return m.sort_values([*keys]).reset_index(drop=True)


TREND_COLUMNS = ["carrier", "week", "week_label", "shipments", "on_time_rate", "first_attempt_rate", "intact_rate",
                 "score", "band"]


def _trend_from(cd: _CarrierData | None) -> pd.DataFrame:
    if cd is None:
        return pd.DataFrame(columns=TREND_COLUMNS)
    m = score_frame(measures(cd.counts, None, ["carrier", "week"]), cd.s)
    m["week_label"] = week_labels(m["week"])
    return m[TREND_COLUMNS].sort_values(["carrier", "week"]).reset_index(drop=True)


LANE_WEEK_COLUMNS = ["carrier", "lane", "week", "week_label", "shipments", "attempted", "on_time_rate", "ranked",
                     "flagged", "benchmark_on_time_rate"]


def _lane_weeks_from(cd: _CarrierData | None) -> pd.DataFrame:
    if cd is None:
        return pd.DataFrame(columns=LANE_WEEK_COLUMNS)
    keys = ["carrier", "lane", "week"]
    inv, first = _groups(cd.counts, keys)
    v = _count_sums(cd.counts, inv, len(first), ("n", "attempted", "on_time"))
    g = pd.DataFrame({**{k: cd.counts[k].to_numpy()[first] for k in keys},
                      **{c: v[c].astype("int64") for c in ("n", "attempted", "on_time")}})
    g["on_time_rate"] = _ratio(v["on_time"], v["attempted"])
    g["ranked"] = g["n"] >= cd.s.min_volume
    g["flagged"] = g["ranked"] & (g["on_time_rate"] < cd.s.late_below)
    g = g.rename(columns={"n": "shipments"}).merge(_benchmarks(cd, weekly=True), on=["lane", "week"], how="left")
    g["benchmark_on_time_rate"] = g["benchmark_on_time_rate"].astype("float64")
    g["week_label"] = week_labels(g["week"])
    for c in ("shipments", "attempted"):
        g[c] = g[c].astype("int64")
    return g[LANE_WEEK_COLUMNS].sort_values(["carrier", "lane", "week"]).reset_index(drop=True)


TRANSIT_COLUMNS = ["carrier", "lane", "bdays", "shipments", "transit_share"]


def _transit_from(session: Session, viewer: Viewer, cd: _CarrierData | None) -> pd.DataFrame:
    if cd is None:
        return pd.DataFrame(columns=TRANSIT_COLUMNS)
    g = _hist(session, viewer, cd, ["carrier", "lane"]).rename(columns={"n": "shipments"})
    total = g.groupby(["carrier", "lane"])["shipments"].transform("sum")
    g["transit_share"] = (g["shipments"] / total).astype("float64")
    return g[TRANSIT_COLUMNS].reset_index(drop=True)


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
    if by not in GROUPINGS:
        raise ValueError(f"by={by!r}: use one of {', '.join(GROUPINGS)}")
    return _scorecard_from(session, viewer, _carrier_data(session, viewer, week, weeks), by)


@data_function
def carrier_trend(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """Per carrier and week of the period: ``carrier`` (str), ``week`` (datetime64, the Monday),
    ``week_label`` (str, ISO week), ``shipments`` (int64), ``on_time_rate``, ``first_attempt_rate``,
    ``intact_rate``, ``score`` (float64), ``band`` (str)."""
    return _trend_from(_carrier_data(session, viewer, week, weeks))


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
    return _lane_weeks_from(_carrier_data(session, viewer, week, weeks))


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
    return _transit_from(session, viewer, _carrier_data(session, viewer, week, weeks))


@data_function
def carrier_section(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS,
                    by: str = "lane", shared: Shared | None = None) -> dict[str, pd.DataFrame]:
    """The carrier tables of a page load from one read: ``carriers`` (:func:`carrier_scorecard`),
    ``trend``, ``lane_weeks``, ``late_lanes`` and ``transit`` (as the functions of those names);
    ``shared``: the page load's :func:`shared_reads` for ``viewer`` (None: read here)."""
    cd = _carrier_data(session, viewer, week, weeks, shared)
    lw = _lane_weeks_from(cd)
    late = lw[lw["flagged"].astype(bool)].sort_values(["on_time_rate", "carrier", "lane", "week"])
    return {"carriers": _scorecard_from(session, viewer, cd, by), "trend": _trend_from(cd), "lane_weeks": lw,
            "late_lanes": late.reset_index(drop=True), "transit": _transit_from(session, viewer, cd)}


# --- suppliers --------------------------------------------------------------------------------------


SUPPLIER_COLUMNS = ["supplier", "po_lines", "on_time_rate", "in_full_rate", "otif_rate", "fill_rate",
                    "lt_stated_days", "lt_n", "lt_mean_days", "lt_std_days", "lt_p90_days", "lt_gap_days", "excluded"]
SUPPLIER_TREND_COLUMNS = ["supplier", "week", "week_label", "po_lines", "otif_rate", "on_time_rate", "in_full_rate"]


@dataclass(frozen=True)
class _SupplierWeeks:
    """The period's PO line counts per supplier and week expected (one read for the scorecard and the trend),
    in supplier and week order: ``supplier`` (object), ``week`` (datetime64[ns]), int64 ``counts``, and each
    row's supplier's stated lead time (``stated``: float64 days, NaN when unknown)."""

    supplier: np.ndarray
    week: np.ndarray
    counts: dict[str, np.ndarray]
    stated: np.ndarray


def _supplier_weeks(session: Session, viewer: Viewer, p: Period) -> _SupplierWeeks:
    a = AggScorecardSupplier
    stmt = (select(a.supplier, week_text(a.week), *[func.sum(getattr(a, c)) for c in SUPPLIER_COUNTS],
                   func.max(Supplier.lead_time_days))
            .select_from(a).outerjoin(Supplier, Supplier.code == a.supplier)
            .where(a.week >= p.start, a.week <= p.end, _supplier_scope(viewer, a.supplier))
            .group_by(a.supplier, a.week))
    # in Python's string order, as pandas sorts (not the database's collation)
    rows = sorted(session.connection().execute(stmt).all(), key=lambda r: (r[0], r[1]))
    cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * (3 + len(SUPPLIER_COUNTS))
    return _SupplierWeeks(supplier=np.array(cols[0], dtype=object),
                          week=np.array(cols[1], dtype="datetime64[D]").astype("datetime64[ns]"),
                          counts={c: np.array(v, dtype="int64")
                                  for c, v in zip(SUPPLIER_COUNTS, cols[2:-1], strict=True)},
                          stated=np.array([np.nan if x is None else float(x) for x in cols[-1]], dtype="float64"))


def _lead_times(session: Session, viewer: Viewer, codes: list[str]) -> dict[str, tuple[int, float, float, float]]:
    """``ops.scorecards.leadtime.lead_time_stats``' measured figures for ``codes``: supplier -> (``lt_n``,
    ``lt_mean_days``, ``lt_std_days``, ``lt_p90_days``), for suppliers with a received line.

    The same histogram read (the same statement, so the same row order and the same floats) and the same
    statistics (:func:`.metrics.hist_mean_std`, :func:`.metrics.hist_quantile`), without the frames, the
    grouping and the merge around them, which cost more than the read; the stated lead time comes with the
    weekly counts (:func:`_supplier_weeks`).
    """
    from ops.scorecards.leadtime import days_between

    days = days_between(session.get_bind().dialect.name, PurchaseOrder.ordered_on, PurchaseOrderLine.received_on)
    hist = (select(Supplier.code, days.label("days"), func.count().label("n"))
            .select_from(PurchaseOrderLine)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .where(and_(_supplier_scope(viewer, Supplier.code), Supplier.code.in_(codes)),
                   PurchaseOrderLine.received_on.is_not(None))
            .group_by(Supplier.code, days))
    groups: dict[str, tuple[list[float], list[int]]] = {}
    for code, d, n in session.connection().execute(hist):
        g = groups.setdefault(code, ([], []))
        g[0].append(d)
        g[1].append(n)
    out = {}
    for code, (d, c) in groups.items():
        v, k = np.asarray(d, dtype="float64"), np.asarray(c, dtype="int64")
        n = int(k.sum())
        if n < MIN_LT_LINES:
            out[code] = (n, np.nan, np.nan, np.nan)
            continue
        mean, std = hist_mean_std(v, k)
        out[code] = (n, mean, std, hist_quantile(v, k, 0.9))
    return out


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """:func:`.metrics.rates` of integer count arrays (float64; NaN where ``den`` is 0)."""
    return _ratio(num.astype("float64"), den.astype("float64"))


def _supplier_card(session: Session, viewer: Viewer, p: Period, w: _SupplierWeeks, exclusions: bool) -> pd.DataFrame:
    """:func:`supplier_scorecard` from the weekly counts (numpy on one row per supplier and week: pandas'
    grouping and merging cost more than the whole read for a supplier's few hundred lines)."""
    from ops.scorecards.disputes import excluded_po_lines

    starts = np.flatnonzero(np.r_[True, w.supplier[1:] != w.supplier[:-1]]) if len(w.supplier) else np.zeros(0, int)
    supplier = w.supplier[starts]
    n = {c: np.add.reduceat(v, starts) if len(v) else np.zeros(0, dtype="int64") for c, v in w.counts.items()}
    lt = _lead_times(session, viewer, supplier.tolist()) if len(supplier) else {}
    measured = [lt.get(code, (0, np.nan, np.nan, np.nan)) for code in supplier]  # none received: 0 lines, NaN
    lt_n = np.array([m[0] for m in measured], dtype="int64")
    mean, std, p90 = (np.array([m[i] for m in measured], dtype="float64") for i in (1, 2, 3))
    stated = w.stated[starts]
    excluded = np.zeros(len(supplier), dtype="int64")
    if exclusions:
        exc = excluded_po_lines(session, viewer=viewer, week=p.end, weeks=p.weeks)
        if not exc.empty:
            excluded = pd.Series(supplier).map(exc.groupby("supplier").size()).fillna(0).to_numpy(dtype="int64")
    return pd.DataFrame({
        "supplier": supplier, "po_lines": n["lines"], "on_time_rate": _rate(n["on_time"], n["lines"]),
        "in_full_rate": _rate(n["in_full"], n["lines"]), "otif_rate": _rate(n["otif"], n["lines"]),
        "fill_rate": _rate(n["qty_received"], n["qty_ordered"]), "lt_stated_days": stated, "lt_n": lt_n,
        "lt_mean_days": mean, "lt_std_days": std, "lt_p90_days": p90, "lt_gap_days": mean - stated,
        "excluded": excluded}, columns=SUPPLIER_COLUMNS)


def _supplier_trend_from(w: _SupplierWeeks) -> pd.DataFrame:
    lines = w.counts["lines"]
    weeks, at = np.unique(w.week, return_inverse=True)  # each distinct week labelled once
    labels = np.array([week_label(x) for x in weeks], dtype=object)[at.reshape(-1)]
    return pd.DataFrame({"supplier": w.supplier, "week": w.week, "week_label": labels, "po_lines": lines,
                         "otif_rate": _rate(w.counts["otif"], lines),
                         "on_time_rate": _rate(w.counts["on_time"], lines),
                         "in_full_rate": _rate(w.counts["in_full"], lines)}, columns=SUPPLIER_TREND_COLUMNS)


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
    return supplier_section(session, viewer=viewer, week=week, weeks=weeks)["suppliers"]


@data_function
def supplier_trend(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """Per supplier and week expected: ``supplier``, ``week`` (datetime64), ``week_label``,
    ``po_lines`` (int64), ``otif_rate``, ``on_time_rate``, ``in_full_rate`` (float64)."""
    require_viewer(viewer)
    p = period(session, week=week, weeks=weeks)
    if p is None:
        return pd.DataFrame(columns=SUPPLIER_TREND_COLUMNS)
    return _supplier_trend_from(_supplier_weeks(session, viewer, p))


@data_function
def supplier_section(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS,
                     shared: Shared | None = None) -> dict[str, pd.DataFrame]:
    """The supplier tables of a page load from one read of the weekly counts: ``suppliers``
    (:func:`supplier_scorecard`) and ``trend`` (:func:`supplier_trend`); ``shared``: the page load's
    :func:`shared_reads` for ``viewer`` (None: read here)."""
    require_viewer(viewer)
    exclusions = _shared_for(session, viewer, shared).po_line_exclusions if shared is not None else True
    p = period(session, week=week, weeks=weeks)
    if p is None:
        return {"suppliers": pd.DataFrame(columns=SUPPLIER_COLUMNS),
                "trend": pd.DataFrame(columns=SUPPLIER_TREND_COLUMNS)}
    weekly = _supplier_weeks(session, viewer, p)
    return {"suppliers": _supplier_card(session, viewer, p, weekly, exclusions), "trend": _supplier_trend_from(weekly)}


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
