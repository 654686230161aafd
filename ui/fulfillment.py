"""Fulfilment SLA page: cached loaders (scoped by the viewer's cache key) and Altair charts."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import fulfillment as ful
from ops.access import AccessDenied, Viewer
from ops.db import read_session, run_in_transaction
from ops.decisions import THRESHOLDS, DecisionError, threshold, threshold_key
from ops.filters import Filters
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders, get_engine

KPI_LABELS = {
    "on_time_ship_rate": ("On-time ship", "%"),
    "on_time_delivery_rate": ("On-time delivery", "%"),
    "c2s_median_h": ("Median click-to-ship", "h"),
    "lines_shipped": ("Lines shipped", ""),
    "late_unshipped_lines": ("Late and unshipped", ""),
}


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_overview(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters,
                  by: str) -> dict[str, pd.DataFrame]:
    """Everything the page shows on load (KPIs, summary, exceptions, backlog, weekly trend) in one pass."""
    with read_session(_engine) as s:
        page = ful.fulfillment_page(s, viewer=viewer, filters=filters, by=by)
    return {"kpis": page.kpis, "summary": page.summary, "exceptions": page.exceptions, "backlog": page.backlog,
            "backlog_bands": page.backlog_bands, "trend": page.trend}


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
        if view == "lanes":
            return ful.lane_attribution(s, viewer=viewer, filters=filters)
    raise ValueError(f"unknown view {view!r}")


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_policies(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    with read_session(_engine) as s:
        return ful.sla_policies(s, viewer=viewer)


def kpi_row(kpis: pd.DataFrame) -> None:
    """Metric tiles with the week-over-week change (on-time up is good; hours up is bad)."""
    cols = st.columns(len(kpis))
    for col, r in zip(cols, kpis.itertuples(index=False), strict=True):
        label, unit = KPI_LABELS.get(r.kpi, (r.kpi, ""))
        value = "–" if pd.isna(r.value) else (f"{r.value:.1f}{unit}" if unit else f"{r.value:,.0f}")
        delta = None if pd.isna(r.change) else (f"{r.change:+.1f}{' pts' if unit == '%' else unit} WoW"
                                                if unit else f"{r.change:+,.0f} WoW")
        col.metric(label, value, delta, delta_color="inverse" if r.kpi == "c2s_median_h" else "normal",
                   border=True)


def trend_chart(df: pd.DataFrame, target_pct: float) -> alt.LayerChart:
    base = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("period:T", title="Week"),
        y=alt.Y("on_time_ship_rate:Q", title="On-time ship", axis=alt.Axis(format="%")),
        color=alt.Color("group:N", title=None), tooltip=["period:T", "group:N", "ship_counted:Q",
                                                          alt.Tooltip("on_time_ship_rate:Q", format=".1%")])
    rule = alt.Chart(pd.DataFrame({"y": [target_pct / 100]})).mark_rule(strokeDash=[4, 4], color="red").encode(y="y:Q")
    return base + rule


def histogram_chart(df: pd.DataFrame, title: str) -> alt.Chart:
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("label:N", sort=alt.SortField("bucket"), title=title), y=alt.Y("lines:Q", title="Lines"),
        tooltip=["label:N", "lines:Q"])


def heatmap_chart(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df).mark_rect().encode(
        x=alt.X("hour:O", title="Hour paid"), y=alt.Y("weekday:N", sort=list(ful.DOW_NAMES), title="Day paid"),
        color=alt.Color("late_rate:Q", title="Late share", scale=alt.Scale(scheme="reds"),
                        legend=alt.Legend(format="%")),
        tooltip=["weekday:N", "hour:O", "shipped:Q", "late:Q", alt.Tooltip("late_rate:Q", format=".1%")])


def attribution_chart(summary: pd.DataFrame) -> alt.Chart:
    long = summary.melt(id_vars="group", value_vars=["late_warehouse", "late_carrier", "late_unknown"],
                        var_name="cause", value_name="lines")
    long["cause"] = long["cause"].map({"late_warehouse": "warehouse (shipped late)",
                                       "late_carrier": "carrier (shipped on time)", "late_unknown": "unknown"})
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("group:N", title=None), x=alt.X("lines:Q", title="Late deliveries (lines)", stack=True),
        color=alt.Color("cause:N", title="Attributed to"), tooltip=["group:N", "cause:N", "lines:Q"])


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
    """Form callback: apply the SLA edit of warehouse ``code`` through ops.fulfillment.update_sla."""
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
    clear_loaders()
    st.session_state["fulfillment_sla_flash"] = ("success", f"Saved the SLA policy of {code}.")


def sla_form(viewer: Viewer, policy: pd.Series) -> None:
    """A small form editing one warehouse's cut-off, business days and handling days."""
    k = f"fulfillment_sla_{policy['warehouse']}"
    with st.form(k, border=True):
        st.caption(f"{policy['warehouse']} · version {policy['version']} · {policy['holidays']} holidays")
        c1, c2, c3 = st.columns([1, 3, 1])
        c1.time_input("Cut-off", value=dt.time.fromisoformat(policy["cutoff_time"]), key=f"{k}_cutoff", step=900)
        c2.multiselect("Business days", list(ful.DOW_NAMES), key=f"{k}_days",
                       default=[ful.DOW_NAMES[int(d)] for d in policy["business_days"]])
        c3.number_input("Handling days", 0, 30, int(policy["handling_days"]), key=f"{k}_handling")
        st.text_input("Reason (kept in the audit log)", key=f"{k}_why", max_chars=500)
        st.form_submit_button("Save SLA", on_click=save_sla, args=(viewer, str(policy["warehouse"]),
                                                                   int(policy["version"])))
