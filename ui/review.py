"""The weekly review's parts: cached loaders (keyed by viewer and filters), the inbox, KPI table, charts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import fmt
from ops.access import AccessDenied, Viewer
from ops.db import read_session, transaction
from ops.decisions import DecisionError, add_annotation
from ops.filters import Filters
from ops.review import inbox as ib
from ops.review import kpis as rk
from ops.review import report
from ops.review.inbox import exception_window
from ops.review.trend import kpi_trend
from ops.review.week import Week, parse_week
from ui.annotations import annotation_layer, load_chart_annotations
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders
from ui.table import show_table

WEEK_PARAM = "week"
STATUS_ICONS = {"new": "● new", "acknowledged": "◐ acknowledged", "assigned": "◑ assigned", "resolved": "○ resolved"}


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_inbox(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters) -> pd.DataFrame:
    """The exceptions inbox for one viewer and filters."""
    with read_session(_engine) as s:
        return ib.inbox(s, viewer=viewer, filters=filters)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_kpis(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, week: str,
              filters: Filters) -> pd.DataFrame:
    """The week's KPIs for one viewer."""
    with read_session(_engine) as s:
        return rk.review_kpis(s, viewer=viewer, week=week, filters=filters)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_side(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, week: str,
              filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The week's return reasons, review scores vs lateness (all reviews to the week's end), KPI trend."""
    w = parse_week(week)
    with read_session(_engine) as s:
        return (rk.return_reasons(s, viewer=viewer, week=w, filters=filters),
                rk.satisfaction_vs_lateness(s, viewer=viewer, date_to=w.end, filters=filters),
                kpi_trend(s, viewer=viewer, week=w, filters=filters))


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_default_week(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> str:
    """The last full ISO week of the viewer's data."""
    with read_session(_engine) as s:
        return rk.resolve_week(s, viewer=viewer).label


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_assignable(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> list[str]:
    """Internal accounts an item can be assigned to (managers and admins only ever see this)."""
    if viewer.is_vendor:
        return []
    with read_session(_engine) as s:
        return ib.assignable_users(s)


def inbox_filters(week: Week, filters: Filters) -> Filters:
    """The inbox's filters on the review page: the four weeks ending with the review week (as the report)."""
    return exception_window(week, filters)


def week_picker(engine: Engine, viewer: Viewer) -> Week:
    """The review week: the link's ``?week=2026-W47``, else the last full week; kept in the URL."""
    default = load_default_week(engine, viewer.cache_key, viewer)
    raw = st.query_params.get(WEEK_PARAM) or default
    try:
        week = parse_week(raw)
    except ValueError as exc:
        st.caption(f":material/info: {exc}; showing {default}.")
        week = parse_week(default)
    last = parse_week(default)
    options = [last]
    for _ in range(25):
        options.append(options[-1].previous())
    if week not in options:
        options.insert(0, week)
    picked = st.selectbox("Review week", options, index=options.index(week), format_func=_week_label,
                          key="review_week")
    st.query_params[WEEK_PARAM] = picked.label
    return picked


def _week_label(w: Week) -> str:
    return f"{w.label} ({w.start:%d %b} to {w.end:%d %b %Y})"


# --- the inbox ---------------------------------------------------------------------------------


def inbox_table(df: pd.DataFrame, *, key: str) -> None:
    """The inbox: status, what broke, owner and a link that opens the page filtered to explain it."""
    for title in df.attrs.get("unavailable", []):
        st.warning(f"{title}: its exceptions could not be read just now, so none of them is listed. "
                   "Open the page, or try again later.", icon=":material/warning:")
    view = df.assign(status=df["status"].map(STATUS_ICONS).fillna(df["status"]))
    show_table(view[["status", "domain", "kind", "subject", "detail", "value_at_risk", "owner", "link"]], key=key,
               overrides={"link": st.column_config.LinkColumn("Open", display_text="Open page")},
               empty="No exceptions: every threshold the pages watch is met.")


def status_form(engine: Engine, viewer: Viewer, df: pd.DataFrame, *, key: str) -> None:
    """Change one item's status and owner through ops.review.inbox.set_status (audited, stale edits refused)."""
    if viewer.is_vendor or viewer.role not in ib.WRITE_ROLES or df.empty:
        return
    users = load_assignable(engine, viewer.cache_key, viewer)
    labels = {r.item_key: f"{r.domain}: {r.subject} ({r.kind}, {r.status})" for r in df.itertuples(index=False)}
    with st.form(f"{key}_form"):
        st.markdown("**Update an item**")
        c1, c2, c3 = st.columns([3, 1, 1])
        item = c1.selectbox("Item", list(labels), format_func=labels.__getitem__, key=f"{key}_item")
        status = c2.selectbox("Status", ib.STATUSES, key=f"{key}_status")
        owner = c3.selectbox("Owner", [""] + users, key=f"{key}_owner", format_func=lambda u: u or "(unchanged)")
        note = st.text_input("Note", key=f"{key}_note", max_chars=500)
        if st.form_submit_button("Save", icon=":material/save:"):
            row = df[df["item_key"] == item].iloc[0]
            try:
                with transaction(engine) as s:
                    ib.set_status(s, viewer=viewer, item=item, status=status, assignee=owner or None,
                                  note=note or None, expected_version=int(row["version"]))
            except (DecisionError, AccessDenied) as exc:
                st.error(str(exc))
                return
            clear_loaders()
            st.success(f"Saved: {labels[item].split(' (')[0]} is {status}.")
            st.rerun()


# --- KPIs, charts ------------------------------------------------------------------------------


def kpi_table(kpis: pd.DataFrame, *, key: str) -> None:
    """Each KPI in its own format, with change, target, whether it is met, its definition and source."""
    text = report.kpi_text(kpis)
    text["source"] = kpis["source"].to_numpy()
    show_table(text, key=key, overrides={
        "label": st.column_config.TextColumn("KPI", width="medium"),
        "value": st.column_config.TextColumn(f"This week ({kpis['week'].iloc[0] if len(kpis) else ''})"),
        "previous": st.column_config.TextColumn(f"Previous ({kpis['previous_week'].iloc[0] if len(kpis) else ''})"),
        "change": st.column_config.TextColumn("Change"),
        "target": st.column_config.TextColumn("Target"),
        "meets": st.column_config.TextColumn("Met"),
        "definition": st.column_config.TextColumn("Definition", width="large"),
        "target_from": st.column_config.TextColumn("Threshold and its source", width="medium"),
        "source": st.column_config.TextColumn("Data", width="medium")})


def satisfaction_text(sat: pd.DataFrame) -> str:
    """One sentence saying what the reviews say about late deliveries (or that there are none)."""
    if sat["reviews"].sum() == 0:
        return "No customer reviews of delivered orders yet (the Olist import carries them)."
    on, late = sat.set_index("delivery").loc["on time"], sat.set_index("delivery").loc["late"]
    return (f"1-2 star reviews: {fmt.pct(late['low_share'], 1)} of {fmt.count(late['reviews'])} late deliveries "
            f"against {fmt.pct(on['low_share'], 1)} of {fmt.count(on['reviews'])} on-time ones (mean score "
            f"{fmt.number(late['mean_score'], 2)} against {fmt.number(on['mean_score'], 2)}).")


def trend_chart(trend: pd.DataFrame, annotations: pd.DataFrame) -> alt.LayerChart:
    """Weekly KPI lines (fractions, shown as %) with the annotations that touch the weeks."""
    lo, hi = trend["ds"].min(), trend["ds"].max() + pd.Timedelta(days=6)
    lines = alt.Chart(trend).mark_line(point=True).encode(
        x=alt.X("ds:T", title="Week starting", axis=alt.Axis(format="%d %b")),
        y=alt.Y("value:Q", title=None, axis=alt.Axis(format="%")),
        color=alt.Color("label:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("week:N", title="Week"), alt.Tooltip("label:N", title="KPI"),
                 alt.Tooltip("value:Q", title="Value", format=".1%")])
    return alt.layer(annotation_layer((lo, hi), annotations), lines).properties(height=280)


def trend_annotations(engine: Engine, viewer: Viewer, trend: pd.DataFrame) -> pd.DataFrame:
    """The annotations of the review page (and of every page) that overlap the trend's weeks."""
    if trend.empty:
        return pd.DataFrame()
    start = trend["ds"].min().date()
    end = trend["ds"].max().date() + dt.timedelta(days=6)
    return load_chart_annotations(engine, viewer.cache_key, viewer, "review", start, end)


def annotation_form(engine: Engine, viewer: Viewer, week: Week) -> None:
    """Add an event (a date range, optionally scoped) through ops.decisions.add_annotation."""
    if viewer.is_vendor or viewer.role not in ("admin", "manager", "planner"):
        return
    from ops.decisions import ANNOTATION_SCOPE_KINDS
    from ops.review.annotations import ALL_PAGES

    with st.form("review_annotation"):
        st.markdown("**Add an event** (drawn on the time charts it touches; the forecaster reads it as a known event)")
        c1, c2, c3 = st.columns([3, 2, 2])
        text = c1.text_input("What happened", key="review_ann_text", placeholder="Carrier strike on lane X")
        days = c2.date_input("Days", value=(week.start, week.end), key="review_ann_days", format="YYYY-MM-DD")
        where = c3.selectbox("Charts", ["review", ALL_PAGES], key="review_ann_page",
                             format_func=lambda p: "every page" if p == ALL_PAGES else "this page")
        c4, c5 = st.columns(2)
        skind = c4.selectbox("Scope", ["", *ANNOTATION_SCOPE_KINDS], key="review_ann_scope",
                             format_func=lambda k: k or "(everything)")
        skey = c5.text_input("Scope code", key="review_ann_key", placeholder="e.g. SWX or WH-EAST>NY")
        if st.form_submit_button("Add event", icon=":material/add:"):
            picked: Any = days
            first, last = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (week.start, week.end)
            try:
                with transaction(engine) as s:
                    add_annotation(s, viewer=viewer, page=where, day=first, end_day=last, text=text,
                                   scope_kind=skind or None, scope_key=skey or None)
            except (DecisionError, AccessDenied) as exc:
                st.error(str(exc))
                return
            clear_loaders()
            st.rerun()


def report_buttons(engine: Engine, viewer: Viewer, week: Week, filters: Filters) -> None:
    """Download the week's report (PDF, HTML and Excel) as the viewer may see it; built when pressed."""
    def html_bytes() -> bytes:
        with read_session(engine) as s:
            return report.to_html(report.build(s, viewer=viewer, week=week, filters=filters)).encode("utf-8")

    def xlsx_bytes() -> bytes:
        with read_session(engine) as s:
            return report.to_xlsx(report.build(s, viewer=viewer, week=week, filters=filters))

    def pdf_bytes() -> bytes:
        with read_session(engine) as s:
            return report.to_pdf(report.build(s, viewer=viewer, week=week, filters=filters))

    c1, c2, c3, _ = st.columns([2, 2, 2, 2])
    c1.download_button("Report (HTML)", html_bytes, file_name=f"review-{week.label}.html", mime="text/html",
                       key="review_report_html", icon=":material/download:", on_click="ignore")
    c2.download_button("Report (Excel)", xlsx_bytes, file_name=f"review-{week.label}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key="review_report_xlsx", icon=":material/download:", on_click="ignore")
    c3.download_button("Report (PDF)", pdf_bytes, file_name=f"review-{week.label}.pdf", mime="application/pdf",
                       key="review_report_pdf", icon=":material/download:", on_click="ignore")
