"""What the scorecard pages show, assembled in one call per page load, and the Overview's headline.

The managers' page ("carriers", *Scorecards*) and a vendor's landing page ("scorecard", *My
scorecard*) load the same :class:`ScorecardPage`; every frame in it is scoped to the viewer in
``queries``, so a vendor's page holds only its own rows plus the anonymous lane benchmark.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from ops import fmt
from ops.access import Viewer, data_function, require_viewer
from ops.decisions import resolve
from ops.domain import HEADLINE_EXCEPTION_COLUMNS, Headline, Kpi
from ops.filters import ALL, Filters
from ops.scorecards import queries as q
from ops.scorecards.disputes import disputes
from ops.scorecards.metrics import TREND_WEEKS, rate
from ops.scorecards.thresholds import CRITERIA, SUPPLIER_CRITERIA, TARGET_THRESHOLD

RETURNS_PENDING = ("Return and defect rates of your SKUs arrive with the returns page; they are not shown here "
                   "until it exists (no estimate is made in the meantime).")
DEFINITIONS: dict[str, str] = {
    "Shipments": "Parcels you shipped for us in the period (by ship week). Shipments excluded by an accepted "
                 "dispute are left out and counted separately.",
    "On-time delivery": "Share of parcels whose first delivery attempt was on or before the promised day. A "
                        "parcel tried on time but delivered at the second try is on time.",
    "First-attempt delivery": "Share of delivered parcels delivered at the first attempt.",
    "Transit (business days)": "Business days (Mon-Fri, public holidays excluded) from the ship day to the first "
                               "attempt: the median, and the 90th and 95th percentiles.",
    "Lost / damaged / returned": "Share of parcels that were lost, damaged, or returned to sender.",
    "Arrived intact": "1 minus the three rates above.",
    "Cost per package": "Average label cost per parcel. (Per kg is not shown: parcel weights are not recorded.)",
    "Weighted score": "The weighted mean of on-time, first-attempt and arrived-intact rates, with the weights "
                      "shown; bands are score thresholds.",
    "Supplier score": "The weighted mean of PO lines on time, PO lines in full and free of defects (1 minus the "
                      "defect-return rate of the supplier's SKUs), with the weights shown; the same bands. No "
                      "score is given while one of the three is unknown.",
    "Lane benchmark": "The median on-time rate of all carriers with enough volume on the same lane: no names, "
                      "no ranks.",
    "Minimum volume": "Lanes with fewer parcels than the minimum are shown but not ranked, flagged or "
                      "benchmarked.",
    "PO lines on time / in full / OTIF": "Purchase-order lines due in the period received by the expected date; "
                                         "received in full; both.",
    "Fill rate": "Units received / units ordered on those lines.",
    "Lead time": "Calendar days from order to receipt over all received lines: mean, spread (standard "
                 "deviation) and 90th percentile, beside the lead time you stated.",
}


@dataclass(frozen=True)
class ScorecardPage:
    """Every table of the scorecard pages (see ``queries`` for each frame's columns)."""

    period: str
    week: str
    carriers: pd.DataFrame
    trend: pd.DataFrame
    lane_weeks: pd.DataFrame
    late_lanes: pd.DataFrame
    transit: pd.DataFrame
    suppliers: pd.DataFrame
    supplier_trend: pd.DataFrame
    tpl: pd.DataFrame
    disputes: pd.DataFrame
    weights: pd.DataFrame
    weights_problem: str | None
    returns_note: str | None
    empty_reason: str | None = None


def _supplier_returns(session: Session, viewer: Viewer, p: q.Period) -> pd.DataFrame | None:
    """``ops.returns.queries.supplier_return_rates`` for the period, or None while the returns page does not exist."""
    try:
        mod = importlib.import_module("ops.returns.queries")
    except ImportError:
        return None
    func = getattr(mod, "supplier_return_rates", None)
    if func is None:
        return None
    out: pd.DataFrame = func(session, viewer=viewer, start=p.start, end=p.end + dt.timedelta(days=6))
    return out


CRITERION_LABELS = {"on_time": "On-time delivery", "first_attempt": "First-attempt delivery",
                    "intact": "Arrived intact"}
SUPPLIER_CRITERION_LABELS = {"on_time": "PO lines on time", "in_full": "PO lines in full",
                             "quality": "Free of defects"}


def weights_frame(s: q.Settings) -> pd.DataFrame:
    """``scorecard`` (str: Carriers or Suppliers), ``criterion`` (str), ``weight_pct`` (float64, percent
    points as stored), ``threshold`` (str)."""
    sup = s.supplier_weights or {k: v[2] for k, v in SUPPLIER_CRITERIA.items()}
    return pd.DataFrame({
        "scorecard": ["Carriers"] * len(CRITERIA) + ["Suppliers"] * len(SUPPLIER_CRITERIA),
        "criterion": ([CRITERION_LABELS[k] for k in CRITERIA]
                      + [SUPPLIER_CRITERION_LABELS[k] for k in SUPPLIER_CRITERIA]),
        "weight_pct": [float(s.weights[k]) for k in CRITERIA] + [float(sup[k]) for k in SUPPLIER_CRITERIA],
        "threshold": [CRITERIA[k][0] for k in CRITERIA] + [SUPPLIER_CRITERIA[k][0] for k in SUPPLIER_CRITERIA]})


def weights_problem(weights: dict[str, float], supplier_weights: dict[str, float] | None = None) -> str | None:
    """A plain-words message when the carrier weights, or the supplier weights, do not sum to 100 %
    (None when both do)."""
    problems = []
    for who, w in (("carrier", weights), ("supplier", supplier_weights)):
        if w is None:
            continue
        total = float(sum(w.values()))
        if abs(total - 100.0) < 1e-6:
            continue
        parts = ", ".join(f"{k.replace('_', ' ')} {v:g} %" for k, v in w.items())
        problems.append(f"The {who} score weights sum to {total:g} % ({parts}); they must sum to 100 %. No {who} "
                        "score is shown until they do.")
    return " ".join(problems) or None


@data_function
def suppliers_with_returns(session: Session, *, viewer: Viewer, week: Any = None,
                           weeks: int = TREND_WEEKS) -> tuple[pd.DataFrame, str | None]:
    """:func:`queries.supplier_scorecard` with ``return_rate`` and ``defect_rate`` (float64) from the
    returns page's ``supplier_return_rates`` when it exists (else NaN and the note saying so), then
    ``quality_rate`` (1 - ``defect_rate``), ``score`` (0..1, NaN while a criterion is unknown) and ``band``
    by the supplier weights (:func:`queries.score_frame`)."""
    suppliers = q.supplier_scorecard(session, viewer=viewer, week=week, weeks=weeks)
    return _with_returns(session, viewer, q.period(session, week=week, weeks=weeks), q.settings(session, viewer=viewer),
                         suppliers)


def _with_returns(session: Session, viewer: Viewer, p: q.Period | None, s: q.Settings,
                  suppliers: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """:func:`suppliers_with_returns` from the supplier scorecard already read."""
    returns = _supplier_returns(session, viewer, p) if p is not None else None
    if returns is None:
        out = suppliers.assign(quality_rate=np.nan)
        return q.score_frame(out, s, supplier=True), RETURNS_PENDING
    # a left merge on the supplier (at most one row each in ``returns``) by position: pandas' merge cost more
    # than the rest of a supplier's page
    at = pd.Index(returns["supplier"]).get_indexer(suppliers["supplier"])
    out = suppliers.copy()
    for c in ("return_rate", "defect_rate"):
        values = np.full(len(at), np.nan)
        values[at >= 0] = returns[c].to_numpy(dtype="float64")[at[at >= 0]]
        out[c] = values
    out["quality_rate"] = 1.0 - out["defect_rate"].to_numpy()
    return q.score_frame(out, s, supplier=True), None


SECTIONS = ("carriers", "suppliers", "tpl")


@data_function
def scorecard_page(session: Session, *, viewer: Viewer, week: Any = None, weeks: int = TREND_WEEKS,
                   by: str = "lane", sections: tuple[str, ...] = SECTIONS) -> ScorecardPage:
    """One load of a scorecard page: the ``sections`` asked for (``carriers``, ``suppliers``, ``tpl``; the
    others stay empty frames), the disputes and the weights, for the period ending with ``week``."""
    require_viewer(viewer)
    bad = [x for x in sections if x not in SECTIONS]
    if bad:
        raise ValueError(f"unknown scorecard sections {bad}; use {', '.join(SECTIONS)}")
    p = q.period(session, week=week, weeks=weeks)
    dis = disputes(session, viewer=viewer)
    sh = q.shared_reads(session, viewer=viewer, disputes=dis)  # the thresholds, read once for every section
    s = sh.settings
    empty = pd.DataFrame()
    common: dict[str, Any] = {"disputes": dis, "weights": weights_frame(s),
                              "weights_problem": weights_problem(s.weights, s.supplier_weights)}
    if p is None:
        return ScorecardPage(period="", week="", carriers=empty, trend=empty, lane_weeks=empty, late_lanes=empty,
                             transit=empty, suppliers=empty, supplier_trend=empty, tpl=empty, returns_note=None,
                             empty_reason="No shipments or purchase orders yet: import or seed data first.", **common)
    kw: dict[str, Any] = {"viewer": viewer, "week": p.end, "weeks": p.weeks, "shared": sh}
    car = q.carrier_section(session, by=by, **kw) if "carriers" in sections else {}
    sup = q.supplier_section(session, **kw) if "suppliers" in sections else {}
    suppliers, note = _with_returns(session, viewer, p, s, sup["suppliers"]) if sup else (empty, None)
    show_note = "suppliers" in sections and (not viewer.is_vendor or viewer.vendor_kind == "supplier")
    return ScorecardPage(
        period=p.label, week=q.week_label(p.end),
        carriers=car.get("carriers", empty), trend=car.get("trend", empty), lane_weeks=car.get("lane_weeks", empty),
        late_lanes=car.get("late_lanes", empty), transit=car.get("transit", empty), suppliers=suppliers,
        supplier_trend=sup.get("trend", empty),
        tpl=q.tpl_scorecard(session, viewer=viewer, week=p.end, weeks=p.weeks) if "tpl" in sections else empty,
        returns_note=note if show_note else None, **common)


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


@data_function
def headline(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> Headline:
    """The scorecards in brief: on-time delivery and OTIF of the last 4 weeks against the 4 before, late lanes."""
    require_viewer(viewer)
    end = filters.date_to if filters.date_to else None
    p = q.period(session, week=end, weeks=8)
    empty_ex = pd.DataFrame(columns=HEADLINE_EXCEPTION_COLUMNS)
    if p is None:
        return Headline(kpis=(), exceptions=empty_ex, empty_reason="No shipments or purchase orders yet.")
    recent, before = dt.timedelta(weeks=4), p.start
    # the thresholds, read once for the target and the carrier section (which reads them itself for a 3PL)
    sh = q.shared_reads(session, viewer=viewer) if viewer.vendor_kind in (None, "carrier") else None
    car = q.carrier_section(session, viewer=viewer, week=p.end, weeks=8, shared=sh)  # one read for trend and flags
    trend = car["trend"]
    sup = q.supplier_trend(session, viewer=viewer, week=p.end, weeks=8)
    lw = car["lane_weeks"]
    if not lw.empty:
        lw = lw[lw["week"] > pd.Timestamp(p.end - recent)]

    def split(df: pd.DataFrame, num: str, den: str) -> tuple[float | None, float | None]:
        if df.empty:
            return None, None
        cut = pd.Timestamp(p.end - recent + dt.timedelta(weeks=1))
        now, prev = df[df["week"] >= cut], df[(df["week"] < cut) & (df["week"] >= pd.Timestamp(before))]
        return (_num(rate((now[num] * now[den]).sum(), now[den].sum())) if len(now) else None,
                _num(rate((prev[num] * prev[den]).sum(), prev[den].sum())) if len(prev) else None)

    ot_now, ot_prev = split(trend, "on_time_rate", "shipments")
    otif_now, otif_prev = split(sup, "otif_rate", "po_lines")
    kpis: list[Kpi] = []
    if sh is not None:  # internal viewers and carriers
        rows = sh.thresholds
        target = resolve(rows[rows["scope_kind"] == "global"], name=TARGET_THRESHOLD).value / 100.0
        kpis.append(Kpi(key="carrier_on_time", label="Carrier on-time delivery", kind="pct", value=ot_now,
                        previous=ot_prev, target=target,
                        help="First attempts on or before the promised day, last 4 weeks."))
    if viewer.vendor_kind in (None, "supplier"):
        kpis.append(Kpi(key="supplier_otif", label="Supplier OTIF", kind="pct", value=otif_now, previous=otif_prev,
                        help="PO lines received on time and in full, last 4 weeks."))
    flagged = lw[lw["flagged"].astype(bool)] if not lw.empty else lw
    ex = pd.DataFrame({
        "subject": [f"{r.carrier} {r.lane}" for r in flagged.itertuples()],
        "kind": ["late lane"] * len(flagged),
        "detail": [f"{r.week_label}: on time {fmt.pct(r.on_time_rate, 0)} of {fmt.count(r.attempted)} shipments"
                   for r in flagged.itertuples()],
        "value_at_risk": pd.Series(np.nan, index=range(len(flagged)), dtype="float64"),
    }, columns=HEADLINE_EXCEPTION_COLUMNS)
    return Headline(kpis=tuple(kpis), exceptions=ex.head(5), note=f"4 weeks to {q.week_label(p.end)}")


def page_frames(page: ScorecardPage) -> dict[str, pd.DataFrame]:
    """The page's frames by field name (for exports and the per-vendor files)."""
    return {f.name: getattr(page, f.name) for f in dataclasses.fields(page)
            if isinstance(getattr(page, f.name), pd.DataFrame)}
