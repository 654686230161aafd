"""Fulfilment SLA page: cached loaders (scoped by the viewer's cache key), tiles, tables and Altair charts."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Final

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import fmt
from ops import fulfillment as ful
from ops.access import AccessDenied, Viewer
from ops.db import read_session, run_in_transaction
from ops.decisions import THRESHOLDS, DecisionError, threshold, threshold_key
from ops.filters import Filters
from ui.annotations import annotation_layer
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders, get_engine
from ui.table import tile

# Distinct colours for many series (carriers, lanes, warehouses): one hue per series.
PALETTE: Final = "tableau10"
# kpi -> (label, kind, higher is better, definition): defined with the KPIs, in ops.
log = logging.getLogger(__name__)

KPIS = ful.KPIS
VIEWS = {"On-time by week": "trend", "Delivery by carrier & lane": "lane_weeks", "Click-to-ship": "c2s",
         "Click-to-ship (business h)": "c2s_bus", "Late by how much": "late", "Late heatmap": "heatmap",
         "Attribution": "attribution", "Late lanes": "lanes"}
SUMMARY_VIEW = ["group", "lines", "ship_counted", "on_time_ship_rate", "avg_hours_late", "delivered",
                "on_time_delivery_rate", "c2s_median_h", "c2s_p90_h", "c2s_bus_median_h", "backlog_lines",
                "late_unshipped_lines"]
ATTRIBUTION_VIEW = ["group", "delivered", "delivered_on_time", "late_warehouse", "late_carrier", "late_unknown",
                    "processing_mean_h", "transit_mean_h"]
EXCEPTION_VIEW = ["subject", "kind", "detail", "state", "key", "version"]


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_overview(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters,
                  by: str) -> dict[str, Any]:
    """Everything the page shows on load (KPIs, summary, exceptions, backlog, weekly trend) in one pass."""
    with read_session(_engine) as s:
        page = ful.fulfillment_page(s, viewer=viewer, filters=filters, by=by)
    return {"kpis": page.kpis, "summary": page.summary, "exceptions": page.exceptions, "backlog": page.backlog,
            "backlog_bands": page.backlog_bands, "trend": page.trend, "empty_reason": page.empty_reason,
            "exceptions_note": page.exceptions_note}


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_view(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters, view: str,
              by: str) -> pd.DataFrame:
    """The data of one chart view (only the selected one is loaded)."""
    with read_session(_engine) as s:
        if view == "trend":
            return ful.ontime_trend(s, viewer=viewer, filters=filters, grain="week", by=by)
        if view in ful.HIST_MEASURES:
            return ful.hours_histogram(s, viewer=viewer, filters=filters, measure=view)
        if view == "heatmap":
            return ful.late_heatmap(s, viewer=viewer, filters=filters)
        if view == "findings":
            return ful.late_findings(s, viewer=viewer, filters=filters)
        if view == "lanes":
            return ful.lane_attribution(s, viewer=viewer, filters=filters)
        if view == "lane_weeks":
            return ful.lane_weekly(s, viewer=viewer, filters=filters)
    raise ValueError(f"unknown view {view!r}")


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_policies(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    with read_session(_engine) as s:
        return ful.sla_policies(s, viewer=viewer)


def kpi_row(kpis: pd.DataFrame) -> None:
    """Metric tiles with their change and a definition each (on-time up is good; hours and late lines up are bad)."""
    cols = st.columns(len(kpis))
    for col, r in zip(cols, kpis.itertuples(index=False), strict=True):
        label, kind, up_good, help_text = KPIS.get(r.kpi, (fmt.label(r.kpi), str(r.unit), True, ""))
        tile(col, label, r.value, kind, change=r.change, higher_is_better=up_good, help=help_text or None)


def deadline_text(hours_past: Any) -> str:
    """Hours past the ship-by deadline as people say it: "overdue 36.0 h" / "due in 4.5 h" / "no deadline"."""
    if pd.isna(hours_past):
        return "no deadline"
    return f"overdue {fmt.hours(hours_past)}" if hours_past > 0 else f"due in {fmt.hours(-hours_past)}"


def backlog_view(df: pd.DataFrame) -> pd.DataFrame:
    """The backlog as shown: a deadline in words instead of signed hours; seller columns only when used."""
    out = df.assign(deadline=df["hours_past_deadline"].map(deadline_text))
    drop = ["hours_past_deadline"] + [c for c in ("seller", "seller_region") if (out[c] == ful.NONE_LABEL).all()]
    cols = [c for c in out.columns if c not in drop]
    cols.insert(cols.index("ship_by") + 1, cols.pop(cols.index("deadline")))
    return out[cols]


def bands_view(df: pd.DataFrame) -> pd.DataFrame:
    """Backlog bands as shown: the oldest order's deadline in words."""
    return df.assign(oldest=df["oldest_hours_past_deadline"].map(deadline_text)).drop(
        columns=["oldest_hours_past_deadline"])


def _with_notes(chart: alt.LayerChart, df: pd.DataFrame, notes: pd.DataFrame | None) -> alt.LayerChart:
    """``chart`` with the annotations overlapping its weeks drawn as bands (``ui.annotations``)."""
    if notes is None or notes.empty or df.empty:
        return chart
    span = (pd.Timestamp(df["period"].min()), pd.Timestamp(df["period"].max()) + pd.Timedelta(days=6))
    layered: alt.LayerChart = annotation_layer(span, notes) + chart
    return layered


def trend_chart(df: pd.DataFrame, target_pct: float, notes: pd.DataFrame | None = None) -> alt.LayerChart:
    base = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("period:T", title="Week"),
        y=alt.Y("on_time_ship_rate:Q", title="On-time ship", axis=alt.Axis(format="%")),
        color=alt.Color("group:N", title=None, scale=alt.Scale(scheme=PALETTE)),
        tooltip=[alt.Tooltip("period:T", title="Week"), alt.Tooltip("group:N", title="Group"),
                 alt.Tooltip("ship_counted:Q", title=fmt.label("ship_counted"), format=","),
                 alt.Tooltip("on_time_ship_rate:Q", title="On-time ship", format=".1%")])
    rule = alt.Chart(pd.DataFrame({"y": [target_pct / 100]})).mark_rule(strokeDash=[4, 4], color="red").encode(
        y="y:Q", tooltip=[alt.Tooltip("y:Q", title="Target", format=".1%")])
    layered: alt.LayerChart = base + rule
    return _with_notes(layered, df, notes)


def lane_weeks_chart(df: pd.DataFrame, notes: pd.DataFrame | None = None) -> alt.LayerChart:
    """Weekly on-time delivery of the worst lanes (coloured) against all lanes (grey, dashed)."""
    tip = [alt.Tooltip("series:N", title="Carrier · lane"), alt.Tooltip("period:T", title="Week"),
           alt.Tooltip("delivered:Q", title="Delivered", format=","),
           alt.Tooltip("on_time_delivery_rate:Q", title="On-time delivery", format=".1%")]
    y = alt.Y("on_time_delivery_rate:Q", title="On-time delivery", axis=alt.Axis(format="%"))
    lanes = alt.Chart(df[df["rank"] > 0]).mark_line(point=True).encode(
        x=alt.X("period:T", title="Week (order placed)"), y=y, tooltip=tip,
        color=alt.Color("series:N", title="Worst lanes", scale=alt.Scale(scheme=PALETTE),
                        sort=alt.SortField("rank")))
    every = alt.Chart(df[df["rank"] == 0]).mark_line(strokeDash=[4, 4], color="gray").encode(
        x="period:T", y=y, tooltip=tip)
    layered: alt.LayerChart = every + lanes
    return _with_notes(layered, df, notes)


def histogram_chart(df: pd.DataFrame, title: str) -> alt.Chart:
    """Bars at their true width on an hours axis; the height is lines per hour of bucket width.

    The buckets are unequal (1 h near zero, days in the tail), so a bar's area, not its height
    alone, is its number of lines. The open end buckets are drawn as wide as their neighbour,
    and the axis stops at the bucket holding the 99th percentile line (the tooltip tells the rest).
    """
    d = df.groupby(["bucket", "label", "lo_h", "hi_h"], as_index=False)["lines"].sum().sort_values("bucket")
    if d.empty:
        empty: alt.Chart = alt.Chart(pd.DataFrame({"lo": [], "hi": [], "density": []})).mark_bar()
        return empty
    finite = d[np.isfinite(d["lo_h"]) & np.isfinite(d["hi_h"])]
    step = float((finite["hi_h"] - finite["lo_h"]).median()) if len(finite) else 1.0
    lo = d["lo_h"].where(np.isfinite(d["lo_h"]), d["hi_h"] - step)
    hi = d["hi_h"].where(np.isfinite(d["hi_h"]), lo + step * 2)
    d = d.assign(lo=lo, hi=hi, density=d["lines"] / (hi - lo))
    cum = d["lines"].cumsum() / d["lines"].sum()
    x_max = float(d.loc[cum >= 0.99, "hi"].iloc[0])
    chart: alt.Chart = alt.Chart(d).mark_bar(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("lo:Q", title=title, scale=alt.Scale(domain=[float(d["lo"].min()), x_max], clamp=True)),
        x2="hi:Q", y=alt.Y("density:Q", title="Lines per hour"),
        tooltip=[alt.Tooltip("label:N", title=title), alt.Tooltip("lines:Q", title="Lines", format=",")])
    return chart


def heatmap_chart(df: pd.DataFrame) -> alt.Chart:
    chart: alt.Chart = alt.Chart(df).mark_rect().encode(
        x=alt.X("hour:O", title="Hour paid"), y=alt.Y("weekday:N", sort=list(ful.DOW_NAMES), title="Day paid"),
        color=alt.Color("late_rate:Q", title="Late share", scale=alt.Scale(scheme="reds"),
                        legend=alt.Legend(format="%")),
        tooltip=[alt.Tooltip("weekday:N", title="Day paid"), alt.Tooltip("hour:O", title="Hour paid"),
                 alt.Tooltip("shipped:Q", title="Shipped", format=","),
                 alt.Tooltip("late:Q", title="Shipped late", format=","),
                 alt.Tooltip("late_rate:Q", title="Late share", format=".1%")])
    return chart


def attribution_chart(summary: pd.DataFrame) -> alt.Chart:
    causes = {"late_warehouse": "warehouse (shipped late)", "late_carrier": "carrier (shipped on time)",
              "late_unknown": "unknown"}
    # value_name must not be a column of the summary (it has "lines")
    long = summary.melt(id_vars="group", value_vars=list(causes), var_name="cause", value_name="late_lines")
    long["cause"] = long["cause"].map(causes)
    chart: alt.Chart = alt.Chart(long).mark_bar().encode(
        y=alt.Y("group:N", title=None), x=alt.X("late_lines:Q", title="Late deliveries (lines)", stack=True),
        color=alt.Color("cause:N", title="Attributed to", scale=alt.Scale(scheme=PALETTE)),
        tooltip=[alt.Tooltip("group:N", title="Group"), alt.Tooltip("cause:N", title="Attributed to"),
                 alt.Tooltip("late_lines:Q", title="Late deliveries", format=",")])
    return chart


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_thresholds(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    """The page's two global thresholds as editable rows (key and version for the editor protocol)."""
    rows = []
    with read_session(_engine) as s:
        for name in (ful.TARGET_THRESHOLD, ful.BACKLOG_THRESHOLD):
            eff = threshold(s, viewer=viewer, name=name)
            d = THRESHOLDS[name]
            rows.append({"key": threshold_key(name), "version": eff.version if eff.scope_kind == "global" else 0,
                         "threshold": d.label, "value": eff.value, "unit": d.unit, "source": eff.source})
    return pd.DataFrame(rows)


def save_sla(viewer: Viewer, code: str, version: int) -> None:
    """Form callback: apply the SLA edit of warehouse ``code``; a refusal keeps every input as typed."""
    k = f"fulfillment_sla_{code}"
    try:
        run_in_transaction(get_engine(), lambda s: ful.update_sla(
            s, viewer=viewer, warehouse_code=code, cutoff_time=st.session_state[f"{k}_cutoff"],
            business_days="".join(str(ful.DOW_NAMES.index(d)) for d in st.session_state[f"{k}_days"]),
            handling_days=st.session_state[f"{k}_handling"], expected_version=version,
            why=st.session_state.get(f"{k}_why") or None))
    except (DecisionError, AccessDenied) as exc:
        st.session_state["fulfillment_sla_flash"] = ("error", str(exc))
        return
    # the policy is saved; deadlines are derived data, rebuilt after the write in their own transaction
    try:
        run_in_transaction(get_engine(), ful.refresh)
        done = f"Saved the SLA policy of {code}; ship-by deadlines and on-time figures are recomputed."
    except Exception:  # noqa: BLE001 - the saved policy stands; say the figures lag instead of failing
        log.exception("refresh after the SLA change of %s failed", code)
        done = (f"Saved the SLA policy of {code}. Recomputing the deadlines failed; the figures follow the "
                "old policy until the next refresh (python -m ops refresh).")
    clear_loaders()
    st.session_state[f"{k}_why"] = ""  # the next change needs its own reason
    st.session_state["fulfillment_sla_flash"] = ("success", done)


def sla_form(viewer: Viewer, policy: pd.Series) -> None:
    """A small form editing one warehouse's cut-off, business days and handling days."""
    k = f"fulfillment_sla_{policy['warehouse']}"
    # Inputs are set from the stored policy only when its version changes (first load, a save): after a
    # refused save they keep what the person typed.
    if st.session_state.get(f"{k}_version") != int(policy["version"]):
        st.session_state[f"{k}_version"] = int(policy["version"])
        st.session_state[f"{k}_cutoff"] = dt.time.fromisoformat(policy["cutoff_time"])
        st.session_state[f"{k}_days"] = [ful.DOW_NAMES[int(d)] for d in policy["business_days"]]
        st.session_state[f"{k}_handling"] = int(policy["handling_days"])
    with st.form(k, border=True):
        st.caption(f"{policy['warehouse']} · {policy['name']} · version {policy['version']} · "
                   f"{policy['holidays']} holidays")
        c1, c2, c3 = st.columns([1, 3, 1])
        c1.time_input("Cut-off", key=f"{k}_cutoff", step=900)
        c2.multiselect("Business days", list(ful.DOW_NAMES), key=f"{k}_days")
        c3.number_input("Handling days", 0, 30, key=f"{k}_handling")
        st.text_input("Reason (kept in the audit log)", key=f"{k}_why", max_chars=500)
        st.form_submit_button("Save SLA", on_click=save_sla, args=(viewer, str(policy["warehouse"]),
                                                                   int(policy["version"])))
