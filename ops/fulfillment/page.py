"""What the fulfilment page shows on load, in one pass; the KPI tiles; the exceptions; the home page's headline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.domain import HEADLINE_EXCEPTION_COLUMNS, Headline, Kpi
from ops.filters import ALL, Filters
from ops.fulfillment import metrics as m
from ops.fulfillment.metrics import (
    BACKLOG_THRESHOLD,
    EXACT_PERCENTILE_MAX_ROWS,
    EXCEPTION_KIND,
    NONE_LABEL,
    TARGET_THRESHOLD,
)
from ops.fulfillment.queries import (
    _SUMMARY_SUMS,
    Window,
    _backlog_bands_sql,
    _backlog_frame,
    _backlog_group_counts,
    _backlog_top,
    _finish_summary,
    _group_col,
    _Labels,
    _numeric,
    _percentiles,
    _trend_frame,
    _where,
    as_of,
    window_percentiles,
)
from ops.models import AggFulfilDaily

KPI_COLUMNS = ["kpi", "value", "previous", "change", "unit"]
# kpi -> (label, ops.fmt kind, higher is better, definition in plain words). Rates are fractions.
KPIS: dict[str, tuple[str, str, bool, str]] = {
    "on_time_ship_rate": ("On-time ship", "pct", True,
                          "Share of shipped order lines that left by their ship-by deadline (a shipment exactly at "
                          "the deadline is on time), for orders placed in the last 7 days of the range. The change "
                          "is against the same number of days before, in percentage points."),
    "on_time_delivery_rate": ("On-time delivery", "pct", True,
                              "Share of delivered order lines that arrived on or before the promised day, same days "
                              "as on-time ship."),
    "c2s_median_h": ("Median click-to-ship", "hours", False,
                     "Half of the shipped lines left within this many calendar hours of payment (read from half-hour "
                     "buckets: within a quarter hour), same days as on-time ship."),
    "lines_shipped": ("Lines shipped", "count", True,
                      "Order lines with a ship-by deadline that have shipped, same days as on-time ship."),
    "late_unshipped_lines": ("Late and unshipped", "count", False,
                             "Lines of orders placed in the range that have not shipped and are past their ship-by "
                             "deadline now (at the end of the last day of data)."),
}
# The exception kinds (the ``kind`` column of :func:`exceptions`), saved as entity kind EXCEPTION_KIND.
EXCEPTION_KINDS = ("backlog", "warehouse")


@data_function
def kpis(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Headline KPIs for the last 7 days of the range (up to the as-of day) vs the same number of days before.

    Returns
    -------
    DataFrame with one row per KPI: ``kpi`` (str: on_time_ship_rate, on_time_delivery_rate,
    c2s_median_h, lines_shipped, late_unshipped_lines), ``value`` and ``previous`` (float64),
    ``change`` (float64, value - previous), ``unit`` (str, the ``ops.fmt`` kind: "pct", "hours" or
    "count"). Rates are fractions 0..1 (:mod:`ops.fulfillment.metrics`), their change a difference of
    fractions (shown in points); the median click-to-ship is read from the half-hour histogram
    (within a quarter hour of exact, see the package docstring).
    ``late_unshipped_lines`` counts backlog lines of orders placed in the range whose ship-by
    deadline has passed at the as-of time (no previous value). A range holding no order lines
    gives NaN rates and hours and zero counts.
    """
    # One computation for the page and this export: the page's grouped read (fulfillment_page).
    return fulfillment_page(session, viewer=viewer, filters=filters, by="all", backlog_limit=0,
                            exception_limit=0).kpis


EXCEPTION_COLUMNS = ["key", "kind", "subject", "detail", "value", "threshold", "state", "version"]


@data_function
def exceptions(session: Session, *, viewer: Viewer, filters: Filters = ALL, limit: int = 200) -> pd.DataFrame:
    """Things to act on: backlog orders past the backlog age alert, and warehouses below the on-time target.

    Thresholds come from ``ops.decisions`` (``on_time_ship_target``, ``backlog_age_alert_hours``,
    per warehouse where overridden). The state (open / acknowledged / snoozed / flagged) and its
    version come from the entity states of kind ``fulfilment_exception``.

    Returns
    -------
    DataFrame with columns ``key`` (str, the entity key), ``kind`` (str: backlog / warehouse),
    ``subject`` (str), ``detail`` (str), ``value`` and ``threshold`` (float64), ``state`` (str),
    ``version`` (int64, 0 when never set).
    """
    return fulfillment_page(session, viewer=viewer, filters=filters, by="warehouse", backlog_limit=limit,
                            exception_limit=limit).exceptions


def _exceptions_frame(session: Session, viewer: Viewer, filters: Filters, bl: pd.DataFrame,
                      summ: pd.DataFrame) -> pd.DataFrame:
    """Exceptions from the backlog rows (:func:`backlog`) and the per-warehouse summary (``group``,
    ``on_time_ship_rate``), with thresholds and entity states."""
    from ops.decisions import entity_states, threshold

    rows: list[dict[str, Any]] = []
    alert_cache: dict[str, float] = {}
    for r in bl.itertuples(index=False):
        wh = r.warehouse if r.warehouse != NONE_LABEL else None
        if (wh or "") not in alert_cache:
            scope = {"warehouse": wh} if wh else None
            alert_cache[wh or ""] = threshold(session, viewer=viewer, name=BACKLOG_THRESHOLD, scope=scope).value
        alert = alert_cache[wh or ""]
        if pd.notna(r.hours_past_deadline) and r.hours_past_deadline > alert:
            seller = r.seller if r.seller != NONE_LABEL else ""
            rows.append({"key": f"backlog:{r.order_number}|{seller}", "kind": "backlog",
                         "subject": f"{r.order_number} ({r.warehouse if wh else r.seller_region})",
                         "detail": f"not shipped, {r.hours_past_deadline:.0f} h past its ship-by "
                                   f"{r.ship_by:%Y-%m-%d %H:%M}",
                         "value": float(r.hours_past_deadline), "threshold": float(alert)})
    period = f"{filters.date_from or 'start'}..{filters.date_to or 'end'}"
    for r in summ.itertuples(index=False):
        if r.group == NONE_LABEL or pd.isna(r.on_time_ship_rate):
            continue
        target = threshold(session, viewer=viewer, name=TARGET_THRESHOLD, scope={"warehouse": r.group}).value
        # Targets are stored in percent (entered as 95): compare and show in the threshold's unit.
        if m.percent_points(r.on_time_ship_rate) < target:
            rows.append({"key": f"warehouse:{r.group}", "kind": "warehouse", "subject": str(r.group),
                         "detail": f"on-time ship {r.on_time_ship_rate:.1%} below target {target:g}% ({period})",
                         "value": m.percent_points(r.on_time_ship_rate), "threshold": float(target)})
    df = pd.DataFrame(rows, columns=EXCEPTION_COLUMNS[:-2])
    states = entity_states(session, viewer=viewer, entity_kind=EXCEPTION_KIND)
    if len(states):
        st = states.set_index("entity_key")
        df["state"] = df["key"].map(st["state"]).fillna("open")
        df["version"] = df["key"].map(st["version"]).fillna(0).astype("int64")
    else:
        df["state"] = "open"
        df["version"] = 0
    return df.astype({"value": "float64", "threshold": "float64", "version": "int64"})[EXCEPTION_COLUMNS]


@dataclass(frozen=True)
class FulfilmentPage:
    """Every table the fulfilment page shows on load, computed in one pass (see :func:`fulfillment_page`)."""

    as_of: dt.datetime
    by: str
    kpis: pd.DataFrame
    summary: pd.DataFrame
    exceptions: pd.DataFrame
    backlog: pd.DataFrame
    backlog_bands: pd.DataFrame
    trend: pd.DataFrame
    #: Why nothing is shown (the range or the viewer holds no order line) and what to change; None otherwise.
    empty_reason: str | None = None
    #: One sentence on the exceptions, from the same numbers as the tiles.
    exceptions_note: str = ""


def _between(col: Any, lo: dt.date | None, hi: dt.date | None) -> ColumnElement[bool]:
    conds = ([col >= lo] if lo else []) + ([col <= hi] if hi else [])
    return and_(true(), *conds)


@data_function
def fulfillment_page(session: Session, *, viewer: Viewer, filters: Filters = ALL, by: str = "warehouse",
                     backlog_limit: int = 500, exception_limit: int = 200) -> FulfilmentPage:
    """The fulfilment page's load: KPIs, summary by ``by``, exceptions, backlog, backlog bands, weekly trend.

    :func:`kpis` and :func:`exceptions` (backlog rows up to ``exception_limit``) are computed here
    only; the summary, backlog, bands and trend equal :func:`sla_summary`, :func:`backlog`
    (``backlog_limit`` rows), :func:`backlog_by_warehouse` and :func:`ontime_trend`
    (``grain="week"``, by ``by``), which serve their exports, but with few small reads:
    ``agg_fulfil_daily`` by day and group over the range and the two KPI weeks, the running totals
    of ``agg_fulfil_hours`` at the range's and the KPI weeks' bounds
    (:func:`ops.fulfillment.queries.window_percentiles`), and the scoped backlog grouped in SQL
    (lines per group, age bands per warehouse, the first rows in backlog order); everything else is
    derived from those small frames.

    Returns
    -------
    FulfilmentPage with ``as_of`` (datetime, the as-of time), ``by`` (str) and the frames
    ``kpis``, ``summary``, ``exceptions``, ``backlog``, ``backlog_bands``, ``trend`` whose
    columns and dtypes are those of the functions named above.
    """
    require_viewer(viewer)
    g_col = _group_col(AggFulfilDaily, by)  # validates ``by``
    now = as_of(session)
    labels = _Labels(session)
    cur, prev = m.kpi_weeks(filters, now)
    lo = min(filters.date_from, prev[0]) if filters.date_from else None
    hi = max(filters.date_to, cur[1], prev[1]) if filters.date_to else None
    wide = Filters(date_from=lo, date_to=hi, warehouses=filters.warehouses, channels=filters.channels)

    # agg_fulfil_daily: per day, warehouse and group
    t = AggFulfilDaily
    keys: list[Any] = [t.day, t.warehouse_id.label("wh_key")]
    if g_col is not None and by != "warehouse":
        keys.append(g_col.label("group_key"))
    sums = [func.sum(getattr(t, c)).label(c) for c in _SUMMARY_SUMS]
    stmt = select(*keys, *sums).where(*_where(viewer, t, wide)).group_by(*[k.element if hasattr(k, "element")
                                                                           else k for k in keys])
    daily = pd.DataFrame(session.execute(stmt).all(), columns=[k.name for k in keys] + list(_SUMMARY_SUMS))
    if by == "warehouse":
        daily["group_key"] = daily["wh_key"]
    elif g_col is None:
        daily["group_key"] = None
    daily["day"] = pd.to_datetime(daily["day"])
    daily[list(_SUMMARY_SUMS)] = _numeric(daily[list(_SUMMARY_SUMS)])
    daily["group"] = labels.series(by, daily["group_key"])

    def days(df: pd.DataFrame, a: dt.date | None, b: dt.date | None) -> pd.DataFrame:
        keep = pd.Series(True, index=df.index)
        if a:
            keep &= df["day"] >= pd.Timestamp(a)
        if b:
            keep &= df["day"] <= pd.Timestamp(b)
        return df[keep]

    in_range = days(daily, filters.date_from, filters.date_to)

    # backlog in scope and range (the backlog table, the exceptions and the late-and-unshipped tile), grouped in SQL
    bcounts = _backlog_group_counts(session, viewer=viewer, filters=filters, by=by, now=now, labels=labels)

    # summary
    counts = in_range[["group", *_SUMMARY_SUMS]]
    if by == "all" and counts.empty:  # an ungrouped SUM still returns its one row
        counts = pd.DataFrame([{"group": "All", **dict.fromkeys(_SUMMARY_SUMS, 0)}])
    total_c2s = int(counts["c2s_n"].sum())
    use_exact = total_c2s <= EXACT_PERCENTILE_MAX_ROWS
    # percentiles: the range per group (unless exact from the raw lines) and each KPI week's median
    windows = [] if use_exact else [Window("range", filters.date_from, filters.date_to, grouped=True)]
    windows += [Window(name, a, z, grouped=False, measures=("c2s",), qs=(("median", 0.5),))
                for name, (a, z) in (("cur", cur), ("prev", prev)) if a <= z]
    pcts = window_percentiles(session, viewer=viewer, filters=filters, by=by, windows=windows)
    pct = _percentiles(session, viewer=viewer, filters=filters, by=by, exact=True) if use_exact else pcts["range"]
    summary = _finish_summary(counts, pct, bcounts, use_exact)

    # KPIs: the two weeks over all groups
    rows = []
    week_vals = []
    for tag, (a, z) in ((1, cur), (2, prev)):
        w = days(daily, a, z)
        counted, on_time = float(w["ship_counted"].sum()), float(w["ship_on_time"].sum())
        delivered, del_on_time = float(w["delivered"].sum()), float(w["delivered_on_time"].sum())
        med = pcts.get("cur" if tag == 1 else "prev")
        week_vals.append({
            "on_time_ship_rate": m.on_time_ship_rate(on_time, counted),
            "on_time_delivery_rate": m.on_time_delivery_rate(del_on_time, delivered),
            "c2s_median_h": float(med["c2s_median_h"].iloc[0]) if med is not None and len(med) else np.nan,
            "lines_shipped": counted})
    for name in ("on_time_ship_rate", "on_time_delivery_rate", "c2s_median_h", "lines_shipped"):
        v, p = week_vals[0][name], week_vals[1][name]
        unit = KPIS[name][1]
        # No line in the KPI week: no figure, so no change either (not "-2,925 lines").
        change = v - p if week_vals[0]["lines_shipped"] > 0 else np.nan
        rows.append({"kpi": name, "value": v, "previous": p, "change": change, "unit": unit})
    # The backlog of the range (the same rows as the backlog table and the exceptions), not of all dates.
    late_unshipped = float(bcounts["late_unshipped_lines"].sum())
    rows.append({"kpi": "late_unshipped_lines", "value": late_unshipped,
                 "previous": np.nan, "change": np.nan, "unit": KPIS["late_unshipped_lines"][1]})
    kpi_df = pd.DataFrame(rows, columns=KPI_COLUMNS).astype(
        {"value": "float64", "previous": "float64", "change": "float64"})

    # backlog list (same order as :func:`backlog`), bands, exceptions
    top = _backlog_top(session, viewer=viewer, filters=filters, limit=max(backlog_limit, exception_limit))
    backlog_df = _backlog_frame(session, top, now, labels)
    bands = _backlog_bands_sql(session, viewer=viewer, filters=filters, now=now, labels=labels)
    if by == "warehouse":
        wh_summary = summary
    else:
        wh = in_range.assign(group=labels.series("warehouse", in_range["wh_key"]))
        wh = wh.groupby("group", as_index=False)[["ship_counted", "ship_on_time"]].sum()
        wh["on_time_ship_rate"] = m.on_time_ship_rate(wh["ship_on_time"], wh["ship_counted"])
        wh_summary = wh.sort_values("group", ignore_index=True)
    exc = _exceptions_frame(session, viewer, filters, backlog_df.head(exception_limit), wh_summary)

    trend = _trend_frame(in_range, "week")
    n_lines = int(summary["lines"].sum()) + int(bcounts["backlog_lines"].sum())
    empty = None if n_lines else _empty_reason(session, viewer, filters)
    note = _exceptions_note(session, viewer, exc, late_unshipped)
    return FulfilmentPage(as_of=now, by=by, kpis=kpi_df, summary=summary, exceptions=exc,
                          backlog=backlog_df.head(backlog_limit).reset_index(drop=True), backlog_bands=bands,
                          trend=trend, empty_reason=empty, exceptions_note=note)


def _span(d: Any) -> str:
    return "the start" if d is None else str(d)[:10]


def _empty_reason(session: Session, viewer: Viewer, filters: Filters) -> str:
    """Why the viewer's page holds no order line, in plain words, and what to change."""
    t = AggFulfilDaily
    scoped = Filters(warehouses=filters.warehouses, channels=filters.channels)
    first, last = session.execute(select(func.min(t.day), func.max(t.day)).where(*_where(viewer, t, scoped))).one()
    if first is not None:
        return (f"{_span(filters.date_from)} to {_span(filters.date_to)} holds no order lines. Your order lines "
                f"run from {_span(first)} to {_span(last)}: pick dates in that span in the sidebar.")
    if (filters.warehouses or filters.channels) and session.scalar(
            select(t.id).where(access.fulfil_agg_condition(viewer, t)).limit(1)) is not None:
        return ("No order lines match the warehouse and channel filters: clear them in the sidebar to see "
                    "every order line you may see.")
    if viewer.is_kind("supplier"):
        return (f"No order lines were sold by {viewer.vendor_code} as a marketplace seller, so there is no "
                "fulfilment to report. This page covers orders you sell yourself; your products' stock and "
                "purchase orders are on the Inventory page.")
    if viewer.is_kind("warehouse"):
        return (f"No orders were placed on the warehouses {viewer.vendor_code} operates, so there is no "
                "fulfilment to report yet. Ask the operations manager to check the warehouse's operator code.")
    if viewer.is_kind("carrier"):
        return f"No shipments were carried by {viewer.vendor_code}, so there is no fulfilment to report."
    return "There are no orders yet: import orders on the Imports page (or seed the demo data) to fill this page."


def _exceptions_note(session: Session, viewer: Viewer, exc: pd.DataFrame, late_unshipped: float) -> str:
    """One sentence on the exceptions, from the same backlog rows and thresholds as the tiles."""
    from ops.decisions import threshold

    alert = threshold(session, viewer=viewer, name=BACKLOG_THRESHOLD).value
    n_back = int((exc["kind"] == "backlog").sum())
    n_wh = int((exc["kind"] == "warehouse").sum())
    late = int(late_unshipped)
    lines = f"{late:,} late and unshipped line{'s' if late != 1 else ''}"
    if n_back:
        back = (f"{lines}; {n_back:,} order{'s are' if n_back != 1 else ' is'} more than the backlog alert age "
                f"({alert:g} h, or the warehouse's own) past the ship-by deadline")
    elif late:
        back = f"{lines}, none more than the backlog alert age ({alert:g} h) past the ship-by deadline"
    else:
        back = "No late and unshipped lines"
    wh = (f"{n_wh} warehouse{'s are' if n_wh != 1 else ' is'} below the on-time ship target" if n_wh
          else "no warehouse is below the on-time ship target")
    return f"{back}; {wh}."


# --- the home page's headline -------------------------------------------------------------------

HEADLINE_TOP = 5


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


@data_function
def headline(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> Headline:
    """The fulfilment page in brief for the home page: its KPI tiles and its top exceptions.

    The KPIs are :func:`kpis` (rates as fractions; previous = the same number of days before the
    KPI week), the on-time ship rate with the global ``on_time_ship_target`` as a fraction. The
    exceptions are the page's first :data:`HEADLINE_TOP` (backlog orders past the alert age, then
    warehouses below target) with ``value_at_risk`` NaN: a late order's value is not measured.
    A range holding no order line gives no KPIs and the page's ``empty_reason``.
    """
    from ops.decisions import threshold

    require_viewer(viewer)
    page = fulfillment_page(session, viewer=viewer, filters=filters, by="warehouse", backlog_limit=0)
    top = page.exceptions.head(HEADLINE_TOP)
    ex = pd.DataFrame({"subject": top["subject"].astype(object), "kind": top["kind"].astype(object),
                       "detail": top["detail"].astype(object),
                       "value_at_risk": pd.Series(np.nan, index=top.index, dtype="float64")},
                      columns=HEADLINE_EXCEPTION_COLUMNS).reset_index(drop=True)
    week = m.kpi_weeks(filters, page.as_of)[0]
    note = f"As of {page.as_of - dt.timedelta(days=1):%Y-%m-%d}; orders placed {week[0]} to {week[1]}"
    if page.empty_reason is not None:
        return Headline(kpis=(), exceptions=ex, note=note, empty_reason=page.empty_reason)
    target = m.ratio(threshold(session, viewer=viewer, name=TARGET_THRESHOLD).value, 100.0)
    kpis = tuple(
        Kpi(key=str(r.kpi), label=KPIS[str(r.kpi)][0], kind=KPIS[str(r.kpi)][1], value=_num(r.value),
            previous=_num(r.previous), target=target if r.kpi == "on_time_ship_rate" else None,
            higher_is_better=KPIS[str(r.kpi)][2], help=KPIS[str(r.kpi)][3])
        for r in page.kpis.itertuples(index=False))
    return Headline(kpis=kpis, exceptions=ex, note=note)
