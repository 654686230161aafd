"""Scorecard pages: cached loaders (keyed by the viewer), Altair charts, and the write callbacks (disputes,
weights, lane flags), each through ``ops`` in one transaction."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import fmt
from ops import scorecards as sc
from ops.access import AccessDenied, Viewer
from ops.db import read_session, run_in_transaction
from ops.decisions import DecisionError, record_refusal, set_entity_state, threshold_table
from ops.scorecards.files import render_html, write_vendor_files
from ops.scorecards.page import DEFINITIONS
from ops.scorecards.thresholds import CRITERIA, SUPPLIER_CRITERIA
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders, get_engine
from ui.editor import save_threshold_form

PALETTE: Final = "tableau10"
CARRIER_VIEW = ["carrier", "lane", "shipments", "on_time_rate", "benchmark_on_time_rate", "target_on_time_rate",
                "first_attempt_rate", "transit_p50_bdays", "transit_p90_bdays", "transit_p95_bdays", "lost_rate",
                "damaged_rate", "rts_rate", "cost_per_package", "score", "band", "score_rank", "ranked", "excluded"]
SUPPLIER_VIEW = ["supplier", "po_lines", "on_time_rate", "in_full_rate", "otif_rate", "fill_rate", "lt_stated_days",
                 "lt_mean_days", "lt_std_days", "lt_p90_days", "lt_gap_days", "lt_n", "return_rate", "defect_rate",
                 "quality_rate", "score", "band", "excluded"]
LANE_WEEK_VIEW = ["carrier", "lane", "week_label", "shipments", "on_time_rate", "benchmark_on_time_rate"]
DISPUTE_VIEW = ["id", "vendor_code", "subject_kind", "subject_key", "week", "reason", "state", "decision_note",
                "raised_by", "raised_at", "decided_by", "decided_at"]


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_page(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, week: str | None,
              sections: tuple[str, ...], by: str = "lane") -> sc.ScorecardPage:
    """One load of the scorecard page's ``sections`` for ``viewer`` and the week chosen (None: the latest)."""
    with read_session(_engine) as s:
        return sc.scorecard_page(s, viewer=viewer, week=week, by=by, sections=sections)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_weights(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    """The global rows of the score weights and bands (values and versions, for the form)."""
    with read_session(_engine) as s:
        t = threshold_table(s, viewer=viewer)
    return t[t["name"].isin(sc.ALL_THRESHOLDS)]


def view(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """The columns of ``cols`` that ``df`` has, in that order."""
    return df[[c for c in cols if c in df.columns]]


def definitions() -> None:
    """Plain-words definitions of every measure."""
    with st.expander("What each measure means", expanded=False):
        for name, text in DEFINITIONS.items():
            st.markdown(f"**{name}**: {text}")


# --- charts --------------------------------------------------------------------------------------


def trend_chart(trend: pd.DataFrame, target: float | None = None) -> alt.LayerChart | alt.Chart:
    """On-time delivery per week and carrier (dashed: the target)."""
    base = alt.Chart(trend).mark_line(point=True).encode(
        x=alt.X("week:T", title="Week shipped"),
        y=alt.Y("on_time_rate:Q", title="On-time delivery", axis=alt.Axis(format="%")),
        color=alt.Color("carrier:N", title="Carrier", scale=alt.Scale(scheme=PALETTE)),
        tooltip=[alt.Tooltip("week_label:N", title="Week"), alt.Tooltip("carrier:N", title="Carrier"),
                 alt.Tooltip("shipments:Q", title=fmt.label("shipments"), format=","),
                 alt.Tooltip("on_time_rate:Q", title="On time", format=".1%"),
                 alt.Tooltip("score:Q", title="Score", format=".1%"), alt.Tooltip("band:N", title="Band")])
    if target is None:
        return base
    rule = alt.Chart(pd.DataFrame({"y": [target]})).mark_rule(strokeDash=[4, 4], color="red").encode(
        y="y:Q", tooltip=[alt.Tooltip("y:Q", title="Target", format=".1%")])
    layered: alt.LayerChart = base + rule
    return layered


def lane_chart(lw: pd.DataFrame) -> alt.LayerChart:
    """One carrier lane's weekly on-time rate against the anonymous lane benchmark (dashed)."""
    own = alt.Chart(lw).mark_line(point=True).encode(
        x=alt.X("week:T", title="Week shipped"), y=alt.Y("on_time_rate:Q", title="On time", axis=alt.Axis(format="%")),
        color=alt.Color("carrier:N", title="Carrier", scale=alt.Scale(scheme=PALETTE)),
        tooltip=[alt.Tooltip("week_label:N", title="Week"), alt.Tooltip("shipments:Q", title="Shipments"),
                 alt.Tooltip("on_time_rate:Q", title="On time", format=".1%")])
    bench = alt.Chart(lw.dropna(subset=["benchmark_on_time_rate"])).mark_line(strokeDash=[4, 4], color="gray").encode(
        x="week:T", y="benchmark_on_time_rate:Q",
        tooltip=[alt.Tooltip("benchmark_on_time_rate:Q", title="Lane benchmark", format=".1%")])
    layered: alt.LayerChart = bench + own
    return layered


def transit_chart(dist: pd.DataFrame) -> alt.Chart:
    """Share of shipments by transit time in business days (one lane; one colour per carrier)."""
    return alt.Chart(dist).mark_bar().encode(
        x=alt.X("bdays:O", title="Transit (business days)"),
        y=alt.Y("transit_share:Q", title="Share of shipments", axis=alt.Axis(format="%")),
        xOffset="carrier:N", color=alt.Color("carrier:N", title="Carrier", scale=alt.Scale(scheme=PALETTE)),
        tooltip=[alt.Tooltip("carrier:N"), alt.Tooltip("bdays:O", title="Business days"),
                 alt.Tooltip("shipments:Q", format=","), alt.Tooltip("transit_share:Q", title="Share", format=".1%")])


def cost_chart(cards: pd.DataFrame) -> alt.Chart:
    """Cost per package against on-time rate, one point per carrier lane (size: shipments)."""
    return alt.Chart(cards.dropna(subset=["on_time_rate", "cost_per_package"])).mark_circle(opacity=0.7).encode(
        x=alt.X("cost_per_package:Q", title=f"Cost per package ({fmt.currency()})"),
        y=alt.Y("on_time_rate:Q", title="On time", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        size=alt.Size("shipments:Q", title="Shipments"),
        color=alt.Color("carrier:N", title="Carrier", scale=alt.Scale(scheme=PALETTE)),
        tooltip=[alt.Tooltip("carrier:N"), alt.Tooltip("lane:N"), alt.Tooltip("shipments:Q", format=","),
                 alt.Tooltip("on_time_rate:Q", title="On time", format=".1%"),
                 alt.Tooltip("cost_per_package:Q", title="Cost per package", format=",.2f")])


def leadtime_chart(sup: pd.DataFrame) -> alt.LayerChart:
    """Stated lead time (tick) against the measured mean (bar) and p90 (point), per supplier."""
    base = alt.Chart(sup).encode(y=alt.Y("supplier:N", title="Supplier"))
    tip = [alt.Tooltip("supplier:N"), alt.Tooltip("lt_stated_days:Q", title="Stated (days)"),
           alt.Tooltip("lt_mean_days:Q", title="Measured mean (days)", format=".1f"),
           alt.Tooltip("lt_p90_days:Q", title="Measured p90 (days)", format=".1f")]
    bars = base.mark_bar(opacity=0.6).encode(x=alt.X("lt_mean_days:Q", title="Lead time (days)"), tooltip=tip)
    p90 = base.mark_point(color="black").encode(x="lt_p90_days:Q", tooltip=tip)
    stated = base.mark_tick(color="red", thickness=3, size=18).encode(x="lt_stated_days:Q", tooltip=tip)
    layered: alt.LayerChart = bars + p90 + stated
    return layered


# --- files ---------------------------------------------------------------------------------------


def vendor_files_zip(week: str | None) -> Callable[[], bytes]:
    """The ``python -m ops scorecards export`` files of every vendor, zipped (written when the button is pressed)."""

    def write() -> bytes:
        with tempfile.TemporaryDirectory() as tmp, read_session(get_engine()) as s:
            paths = write_vendor_files(s, out_dir=Path(tmp), week=week)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for p in paths:
                    z.write(p, arcname=p.name)
            return buf.getvalue()

    return write


def own_file(viewer: Viewer, page: sc.ScorecardPage) -> Callable[[], bytes]:
    """The vendor's own HTML scorecard (the file the review sends them), from the page it is looking at."""

    def write() -> bytes:
        return render_html(viewer.vendor_kind or "", viewer.vendor_code or "", page).encode("utf-8")

    return write


# --- writes --------------------------------------------------------------------------------------


def _flash(key: str, level: str, text: str) -> None:
    st.session_state[f"{key}_flash"] = (level, text)


def on_raise_dispute(key: str, viewer: Viewer) -> None:
    """Form callback: the vendor's dispute (subject kind, key and reason from the form's widgets)."""
    kind = st.session_state.get(f"{key}_kind") or "week"
    subject = (st.session_state.get(f"{key}_subject") or "").strip()
    reason = st.session_state.get(f"{key}_reason") or ""
    kinds = {"A week": "week", "A shipment (tracking number)": "shipment", "A PO line (PO number:line id)": "po_line"}
    try:
        new_id = run_in_transaction(get_engine(), lambda s: sc.raise_dispute(
            s, viewer=viewer, subject_kind=kinds.get(kind, kind), subject_key=subject, reason=reason))
    except (DecisionError, AccessDenied) as exc:
        _flash(key, "error", str(exc))
        return
    clear_loaders()
    st.session_state[f"{key}_reason"] = ""
    _flash(key, "success", f"Dispute #{new_id} sent: your account manager sees it with its status.")


def on_decide(key: str, viewer: Viewer, dispute_id: int, version: int) -> None:
    """Button callback: the manager's answer to one dispute, at the version shown."""
    state = st.session_state.get(f"{key}_state") or "open"
    note = st.session_state.get(f"{key}_note") or None
    try:
        run_in_transaction(get_engine(), lambda s: sc.decide_dispute(
            s, viewer=viewer, dispute_id=dispute_id, state=state, expected_version=version, note=note))
    except (DecisionError, AccessDenied) as exc:
        _flash(key, "error", str(exc))
        return
    clear_loaders()
    _flash(key, "success", f"Dispute #{dispute_id} is now {state}.")


def on_save_weights(key: str, viewer: Viewer, current: pd.DataFrame) -> None:
    """Form callback: weights must sum to 100 %; otherwise nothing is saved and the refusal is audited."""
    names = [v[0] for v in CRITERIA.values()] + [v[0] for v in SUPPLIER_CRITERIA.values()]
    values = {n: float(st.session_state.get(f"{key}_{n}") or 0.0) for n in names}
    problem = sc.weights_problem({k: values[CRITERIA[k][0]] for k in CRITERIA},
                                 {k: values[SUPPLIER_CRITERIA[k][0]] for k in SUPPLIER_CRITERIA})
    if problem is not None:
        record_refusal(get_engine(), viewer=viewer, action="threshold.set", entity_kind="threshold",
                       entity_key="scorecard weights", message=problem, attempted=values)
        _flash(key, "error", problem + " Nothing was saved.")
        return
    save_threshold_form(key, viewer, current, [*names, *[v[0] for v in sc.thresholds.BANDS.values()],
                                                sc.thresholds.TARGET_THRESHOLD])


def on_flag(key: str, viewer: Viewer, entity_kind: str, entity_key: str, version: int) -> None:
    """Form callback: flag (or reopen) a carrier lane or a supplier with the corrective action as the note."""
    state = st.session_state.get(f"{key}_state") or "flagged"
    note = st.session_state.get(f"{key}_note") or None
    try:
        run_in_transaction(get_engine(), lambda s: set_entity_state(
            s, viewer=viewer, entity_kind=entity_kind, entity_key=entity_key, state=state, note=note,
            expected_version=version, why="scorecard review"))
    except (DecisionError, AccessDenied) as exc:
        _flash(key, "error", str(exc))
        return
    clear_loaders()
    _flash(key, "success", f"{entity_key.replace('|', ' ')} is now {state}.")


def show_flash(key: str) -> None:
    flash = st.session_state.pop(f"{key}_flash", None)
    if flash:
        level, text = flash
        {"success": st.success, "error": st.error}.get(level, st.info)(text)


def flag_version(viewer: Viewer, entity_kind: str, entity_key: str) -> tuple[int, Any]:
    """The stored version and state of a flag (0 and None when never set)."""
    from ops.decisions import entity_states

    with read_session(get_engine()) as s:
        st_ = entity_states(s, viewer=viewer, entity_kind=entity_kind)
    row = st_[st_["entity_key"] == entity_key]
    return (0, None) if row.empty else (int(row["version"].iloc[0]), row["state"].iloc[0])
