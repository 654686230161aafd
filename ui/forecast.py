"""Forecast page: cached loaders (keyed by the viewer), the run status, the chart and the write forms."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import fmt
from ops import forecast as fc
from ops.access import AccessDenied, Viewer
from ops.db import read_session, run_in_transaction
from ops.decisions import DecisionError, apply
from ops.forecast.job import job_version
from ops.forecast.overrides import override_key
from ops.forecast.page import WEEK_VIEW as PAGE_WEEK_VIEW
from ops.forecast.page import RunStatus
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders, get_engine

STATUS_WORDS = {"running": "running", "succeeded": "finished", "failed": "failed",
                "interrupted": "interrupted (no progress for 10 minutes)"}
WEEK_VIEW = PAGE_WEEK_VIEW
MODEL_LABELS = fc.MODEL_LABELS
SCORE_VIEW = ["forecast_model", "wape", "forecast_bias", "mase", "scored_weeks", "fit_seconds", "model_failed"]
OVERRIDE_KINDS = {"Percent change": "pct", "Manual units": "units"}


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_page(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> fc.ForecastPage:
    with read_session(_engine) as s:
        return fc.forecast_page(s, viewer=viewer)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_sku(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, sku: str) -> fc.SkuDetail:
    with read_session(_engine) as s:
        return fc.sku_detail(s, viewer=viewer, sku=sku)


def load_status(engine: Engine, viewer: Viewer) -> RunStatus:
    """The latest run's status, read fresh (not cached): the progress display polls it."""
    with read_session(engine) as s:
        return fc.run_status(s, viewer=viewer)


def status_line(st_: RunStatus) -> str:
    """One sentence on the latest run: which, its state and progress."""
    if st_.run_id is None:
        return "No forecast run yet."
    word = STATUS_WORDS.get(st_.status or "", st_.status or "")
    line = (f"Run {st_.run_id} {word}: {fmt.count(st_.n_done)} of {fmt.count(st_.n_skus)} SKUs "
            f"({fmt.pct(st_.progress, 0)}); started {fmt.datetime(st_.started_at)} UTC")
    if st_.finished_at is not None and st_.status != "running":
        line += f", ended {fmt.datetime(st_.finished_at)} UTC"
    return line + "."


def progress_panel(engine: Engine, viewer: Viewer) -> None:
    """The latest run's progress, refreshed every few seconds while it runs (reads ``forecast_runs`` only)."""

    @st.fragment(run_every=3)
    def _panel() -> None:
        s = load_status(engine, viewer)
        if s.status == "running":
            st.progress(min(1.0, s.progress), text=status_line(s))
        else:
            st.caption(status_line(s))
            if s.status == "failed" and s.error and not viewer.is_vendor:
                st.error(f"The last run failed: {s.error}")
            if s.status == "interrupted" and not viewer.is_vendor:
                st.warning(f"Run {s.run_id} stopped without finishing; resume it to keep the SKUs already done.")
            if st.session_state.get("forecast_started") and s.status != "running":
                st.session_state.pop("forecast_started", None)
                clear_loaders()
                st.rerun()

    _panel()


def _flash(key: str, kind: str, text: str) -> None:
    st.session_state[f"{key}_flash"] = (kind, text)


def show_flash(key: str) -> None:
    got = st.session_state.pop(f"{key}_flash", None)
    if got:
        (st.success if got[0] == "success" else st.error)(got[1])


def start_run(viewer: Viewer, resume: int | None) -> None:
    """Button callback: record the request through ops.decisions, then start the job in the background."""
    k = "forecast_start"
    engine = get_engine()
    try:
        with read_session(engine) as s:
            busy = fc.active_run(s)
            version = job_version(s)
        if busy is not None:
            _flash(k, "error", f"Run {busy} is still going; wait for it to finish.")
            return
        changes = fc.request_change(version, resume=resume)
        run_in_transaction(engine, lambda s: apply(s, changes, viewer=viewer))
    except (DecisionError, AccessDenied) as exc:
        _flash(k, "error", str(exc))
        return
    fc.launch(engine.url.render_as_string(hide_password=False), resume=resume)
    st.session_state["forecast_started"] = True
    _flash(k, "success", "Started the forecast in the background; its progress shows here.")


def forecast_chart(history: pd.DataFrame, weeks: pd.DataFrame) -> alt.LayerChart:
    """Weekly units sold, the forecast with 80 % and 95 % bands, and overrides as points."""
    hist = history.assign(week=pd.to_datetime(history["week"]), series="Sold")
    fut = weeks.assign(week=pd.to_datetime(weeks["forecast_week"]))
    x = alt.X("week:T", title="Week")
    band95 = alt.Chart(fut).mark_area(opacity=0.15, color="#4c78a8").encode(
        x=x, y=alt.Y("lo95:Q", title="Units a week"), y2="hi95:Q",
        tooltip=[alt.Tooltip("week:T", title="Week of"), alt.Tooltip("lo95:Q", title="95 % low", format=",.1f"),
                 alt.Tooltip("hi95:Q", title="95 % high", format=",.1f")])
    band80 = alt.Chart(fut).mark_area(opacity=0.3, color="#4c78a8").encode(x=x, y="lo80:Q", y2="hi80:Q")
    line = alt.Chart(fut).mark_line(color="#4c78a8", strokeDash=[4, 2]).encode(
        x=x, y="yhat:Q", tooltip=[alt.Tooltip("week:T", title="Week of"),
                                  alt.Tooltip("yhat:Q", title="Forecast", format=",.1f")])
    sold = alt.Chart(hist).mark_line(color="#333333").encode(
        x=x, y="units:Q", tooltip=[alt.Tooltip("week:T", title="Week of"),
                                   alt.Tooltip("units:Q", title="Units sold", format=",.0f")])
    layers = [band95, band80, sold, line]
    ov = fut[fut["override_units"].notna()] if "override_units" in fut else fut.iloc[0:0]
    if not ov.empty:
        layers.append(alt.Chart(ov).mark_point(color="#e45756", filled=True, size=70).encode(
            x=x, y="override_units:Q", tooltip=[alt.Tooltip("week:T", title="Week of"),
                                                alt.Tooltip("override_units:Q", title="Override", format=",.1f"),
                                                alt.Tooltip("override_reason:N", title="Reason")]))
    chart: alt.LayerChart = alt.layer(*layers).properties(height=300)
    return chart


def save_override(viewer: Viewer, sku: str, versions: dict[str, int]) -> None:
    """Form callback: set a planner override for one week through ops.decisions.apply."""
    k = "forecast_override"
    week = st.session_state.get(f"{k}_week")
    kind = OVERRIDE_KINDS.get(st.session_state.get(f"{k}_kind") or "", "")
    try:
        key = override_key(sku, week) if isinstance(week, dt.date) else ""
        changes = fc.override_change(sku=sku, week=week or "", kind=kind, value=st.session_state.get(f"{k}_value"),
                                     reason=st.session_state.get(f"{k}_why") or "",
                                     expected_version=int(versions.get(key, 0)))
        run_in_transaction(get_engine(), lambda s: apply(s, changes, viewer=viewer))
    except (DecisionError, AccessDenied) as exc:
        _flash(k, "error", str(exc))
        return
    clear_loaders()
    _flash(k, "success", f"Saved the override of {sku} for the week of {fmt.date(week)}.")


def override_form(viewer: Viewer, detail: fc.SkuDetail) -> None:
    """Override one week: a percent change of the model's forecast or a manual number, with a reason."""
    k = "forecast_override"
    show_flash(k)
    if detail.weeks.empty:
        return
    versions = {str(key): int(v) for key, v in zip(detail.overrides["entity_key"], detail.overrides["version"],
                                                    strict=True)}
    with st.form(k, border=True):
        c1, c2, c3 = st.columns([2, 2, 1])
        c1.selectbox("Week of", list(detail.weeks["forecast_week"]), format_func=fmt.date, key=f"{k}_week")
        c2.segmented_control("Override by", list(OVERRIDE_KINDS), default="Percent change", key=f"{k}_kind")
        c3.number_input("Value (% or units)", value=0.0, step=5.0, key=f"{k}_value")
        st.text_input("Reason (required; kept in the audit log)", key=f"{k}_why", max_chars=500)
        st.form_submit_button("Save override", on_click=save_override, args=(viewer, detail.sku, versions))
