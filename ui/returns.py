"""Returns page: cached loaders (scoped by the viewer's cache key), tiles, Altair charts and the write forms."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import returns as ret
from ops.access import AccessDenied, Viewer
from ops.db import read_session, run_in_transaction
from ops.decisions import THRESHOLDS, DecisionError, apply, threshold, threshold_key
from ops.filters import Filters
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders, get_engine
from ui.table import tile

BREAKDOWNS = {"Category": "category", "Size": "size", "SKU": "sku", "Channel": "channel", "Warehouse": "warehouse",
              "Carrier": "carrier", "Supplier": "supplier", "Sale week": "week"}
PRIORITY_VIEW = ["rank", "sku", "category", "size", "supplier", "units_sold", "units_returned", "return_rate",
                 "category_rate", "priority", "value_at_risk", "recent_rate", "prior_rate", "trend_pts", "action",
                 "owner", "status"]
STATUS_OPTIONS = {"To do": "open", "In progress": "acknowledged", "Blocked": "flagged"}


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_page(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters,
              by: str) -> ret.ReturnsPage:
    """Everything the page shows on load, in one pass (ops.returns.returns_page)."""
    with read_session(_engine) as s:
        return ret.returns_page(s, viewer=viewer, filters=filters, by=by)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_selection(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters,
                   category: str | None, size: str | None) -> dict[str, pd.DataFrame]:
    """Pareto and reason x size heatmap of one category / size selection."""
    with read_session(_engine) as s:
        return {"pareto": ret.reason_pareto(s, viewer=viewer, filters=filters, category=category, size=size),
                "heat_size": ret.reason_heatmap(s, viewer=viewer, filters=filters, by="size", category=category)}


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_themes(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer,
                run_id: int | None) -> dict[str, pd.DataFrame]:
    """The themes of finished run ``run_id`` (the newest one: part of the key, so a new run shows at once)."""
    with read_session(_engine) as s:
        themes = ret.theme_table(s, viewer=viewer, run_id=run_id) if run_id is not None else ret.theme_table(
            s, viewer=viewer, run_id=-1)
        return {"themes": themes, "names": ret.theme_names(s, viewer=viewer)}


def load_runs(engine: Engine, viewer: Viewer) -> pd.DataFrame:
    """The latest theme runs, read fresh on every rerun (a running job's progress)."""
    with read_session(engine) as s:
        return ret.theme_runs(s, viewer=viewer, limit=5)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_thresholds(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    """The page's global thresholds as editable rows (key and version for the editor protocol)."""
    rows = []
    with read_session(_engine) as s:
        for name in ret.DOMAIN.thresholds:
            eff = threshold(s, viewer=viewer, name=name)
            d = THRESHOLDS[name]
            rows.append({"key": threshold_key(name), "version": eff.version if eff.scope_kind == "global" else 0,
                         "threshold": d.label, "value": eff.value, "unit": d.unit, "source": eff.source})
    return pd.DataFrame(rows)


def kpi_row(kpis: pd.DataFrame) -> None:
    cols = st.columns(len(kpis))
    for col, r in zip(cols, kpis.itertuples(index=False), strict=True):
        label, kind, up_good, help_text = ret.KPIS[str(r.kpi)]
        tile(col, label, r.value, kind, change=r.change, higher_is_better=up_good, help=help_text)


# --- charts ------------------------------------------------------------------------------------


def pareto_chart(df: pd.DataFrame) -> alt.LayerChart:
    """Bars of returned units by reason (largest first) with the cumulative share as a line."""
    order = list(df["reason_code"])
    x = alt.X("reason_code:N", sort=order, title="Reason")
    bars = alt.Chart(df).mark_bar().encode(
        x=x, y=alt.Y("units_returned:Q", title="Units returned"),
        tooltip=[alt.Tooltip("reason_code:N", title="Reason"),
                 alt.Tooltip("units_returned:Q", title="Units returned", format=","),
                 alt.Tooltip("share:Q", title="Share", format=".1%")])
    line = alt.Chart(df).mark_line(point=True, color="orange").encode(
        x=x, y=alt.Y("cumulative_share:Q", title="Cumulative share", axis=alt.Axis(format="%"),
                     scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("cumulative_share:Q", title="Cumulative share", format=".1%")])
    layered: alt.LayerChart = alt.layer(bars, line).resolve_scale(y="independent")
    return layered


def heatmap_chart(df: pd.DataFrame, title: str) -> alt.Chart:
    """Reason x member cells coloured by the reason's return rate (units returned for it / units sold)."""
    chart: alt.Chart = alt.Chart(df).mark_rect().encode(
        x=alt.X("member:N", title=title), y=alt.Y("reason_code:N", title="Reason"),
        color=alt.Color("reason_rate:Q", title="Return rate", scale=alt.Scale(scheme="reds"),
                        legend=alt.Legend(format="%")),
        tooltip=[alt.Tooltip("member:N", title=title), alt.Tooltip("reason_code:N", title="Reason"),
                 alt.Tooltip("units_returned:Q", title="Units returned", format=","),
                 alt.Tooltip("units_sold:Q", title="Units sold", format=","),
                 alt.Tooltip("reason_rate:Q", title="Return rate", format=".2%"),
                 alt.Tooltip("share_of_returns:Q", title="Share of returns", format=".1%")])
    return chart


def weekly_chart(df: pd.DataFrame) -> alt.Chart:
    d = df.assign(week=pd.to_datetime(df["group"]))
    chart: alt.Chart = alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("week:T", title="Sale week"), y=alt.Y("return_rate:Q", title="Return rate", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("week:T", title="Sale week"), alt.Tooltip("units_sold:Q", title="Units sold", format=","),
                 alt.Tooltip("return_rate:Q", title="Return rate", format=".1%")])
    return chart


def accuracy_chart(df: pd.DataFrame, target_pct: float) -> alt.LayerChart:
    d = df.assign(week=pd.to_datetime(df["sale_week"]))
    y = alt.Y("fulfilment_accuracy:Q", title="Fulfilment accuracy", axis=alt.Axis(format=".1%"),
              scale=alt.Scale(zero=False))
    lines = alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("week:T", title="Sale week"), y=y, color=alt.Color("warehouse:N", title="Warehouse"),
        tooltip=[alt.Tooltip("week:T", title="Sale week"), alt.Tooltip("warehouse:N", title="Warehouse"),
                 alt.Tooltip("shipped_lines:Q", title="Lines shipped", format=","),
                 alt.Tooltip("wrong_item_lines:Q", title="Wrong-item returns", format=","),
                 alt.Tooltip("fulfilment_accuracy:Q", title="Accuracy", format=".2%")])
    rule = alt.Chart(pd.DataFrame({"y": [target_pct / 100]})).mark_rule(strokeDash=[4, 4], color="red").encode(
        y="y:Q", tooltip=[alt.Tooltip("y:Q", title="Target", format=".1%")])
    layered: alt.LayerChart = lines + rule
    return layered


# --- writes -------------------------------------------------------------------------------------


def _flash(key: str, kind: str, text: str) -> None:
    st.session_state[f"{key}_flash"] = (kind, text)


def show_flash(key: str) -> None:
    got = st.session_state.pop(f"{key}_flash", None)
    if got:
        (st.success if got[0] == "success" else st.error)(got[1])


def save_action(viewer: Viewer, versions: dict[str, int]) -> None:
    """Form callback: set the action, owner and status of the chosen SKU through ops.decisions.apply."""
    k = "returns_action"
    sku = st.session_state.get(f"{k}_sku") or ""
    try:
        changes = ret.action_change(
            sku=sku, action=st.session_state.get(f"{k}_action") or "",
            owner=st.session_state.get(f"{k}_owner") or "",
            status=STATUS_OPTIONS.get(st.session_state.get(f"{k}_status") or "", ""),
            expected_version=int(versions.get(sku, 0)))
        run_in_transaction(get_engine(), lambda s: apply(s, changes, viewer=viewer,
                                                         why=st.session_state.get(f"{k}_why") or None))
    except (DecisionError, AccessDenied) as exc:
        _flash(k, "error", str(exc))
        return
    clear_loaders()
    _flash(k, "success", f"Saved the action for {sku}.")


def action_form(viewer: Viewer, priority: pd.DataFrame) -> None:
    """Assign an action (fix listing, size chart, change supplier...) with an owner and a status to a SKU."""
    k = "returns_action"
    show_flash(k)
    versions = {str(s): int(v) for s, v in zip(priority["sku"], priority["version"], strict=True)}
    with st.form(k, border=True):
        c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
        c1.selectbox("SKU", list(versions), key=f"{k}_sku")
        c2.selectbox("Action", list(ret.ACTIONS), format_func=lambda a: ret.ACTIONS[a], key=f"{k}_action")
        c3.text_input("Owner", key=f"{k}_owner", max_chars=100)
        c4.selectbox("Status", list(STATUS_OPTIONS), key=f"{k}_status")
        st.text_input("Reason (kept in the audit log)", key=f"{k}_why", max_chars=500)
        st.form_submit_button("Save action", on_click=save_action, args=(viewer, versions))


def save_theme(viewer: Viewer, run_id: int, versions: dict[int, int]) -> None:
    k = "returns_theme"
    no = int(st.session_state.get(f"{k}_no") or 0)
    try:
        changes = ret.theme_change(run_id=run_id, theme_no=no, name=st.session_state.get(f"{k}_name") or "",
                                   reason_code=st.session_state.get(f"{k}_reason") or "",
                                   expected_version=int(versions.get(no, 0)))
        run_in_transaction(get_engine(), lambda s: apply(s, changes, viewer=viewer))
    except (DecisionError, AccessDenied) as exc:
        _flash(k, "error", str(exc))
        return
    clear_loaders()
    _flash(k, "success", f"Named theme {no}.")


def theme_form(viewer: Viewer, themes: pd.DataFrame, names: pd.DataFrame, reasons: list[str]) -> None:
    """Name a theme of the latest run and map it to a reason code."""
    k = "returns_theme"
    show_flash(k)
    run_id = int(themes["run_id"].iloc[0])
    mine = names[names["run_id"] == run_id]
    versions = {int(n): int(v) for n, v in zip(mine["theme_no"], mine["version"], strict=True)}
    with st.form(k, border=True):
        c1, c2, c3 = st.columns([1, 2, 2])
        c1.selectbox("Theme", [int(x) for x in themes["theme_no"]], key=f"{k}_no")
        c2.text_input("Name", key=f"{k}_name", max_chars=80)
        c3.selectbox("Reason code", ["", *reasons], key=f"{k}_reason")
        st.form_submit_button("Save name", on_click=save_theme, args=(viewer, run_id, versions))


def start_themes(viewer: Viewer) -> None:
    """Button callback: start the mining job in a subprocess (managers and admins)."""
    if viewer.role not in ("admin", "manager"):
        _flash("returns_themes", "error", "Only managers and admins can start theme mining.")
        return
    try:
        run_id = ret.start_job(get_engine(), started_by=viewer.username)
    except Exception as exc:  # noqa: BLE001 - said on the page; the job did not start
        _flash("returns_themes", "error", f"Theme mining did not start: {type(exc).__name__}")
        return
    _flash("returns_themes", "success", f"Theme mining started (run {run_id}); progress shows below.")


def themed_view(themes: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """Themes with the names and reason codes managers gave them."""
    named = names.rename(columns={"name": "theme_name"})[["run_id", "theme_no", "theme_name", "reason_code"]]
    out = themes.merge(named, on=["run_id", "theme_no"], how="left")
    cols = ["theme_no", "theme_name", "reason_code", "top_terms", "n_docs", "share", "examples"]
    return out[cols]
