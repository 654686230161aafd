"""Reorder planner widgets: cached loaders, the policy form, the approval and share actions, charts."""

from __future__ import annotations

import uuid
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import fmt
from ops import planner as pl
from ops.access import AccessDenied, Viewer
from ops.db import read_session, run_in_transaction
from ops.decisions import DecisionError
from ops.filters import Filters
from ops.planner import math as rm
from ops.planner.exports import COMPARE_LABELS, COMPARE_UNITS, export_erp_pos
from ops.planner.queries import shared_drafts
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders, get_engine

KEY = "planner"
FLASH = "planner_flash"
EDITOR = "planner_editor"
APPROVAL_KEY = "planner_approval_key"
POLICY = "planner_policy_json"
COMPARE = "planner_compare_names"


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_page(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters,
              policy_json: str) -> pl.PlannerPage:
    """The page's data for one viewer, warehouse filter and policy."""
    with read_session(_engine) as s:
        return pl.planner_page(s, viewer=viewer, filters=filters, policy_json=policy_json)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_shared_drafts(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    """Draft PO lines a manager shared; a supplier gets only those addressed to it."""
    with read_session(_engine) as s:
        return shared_drafts(s, viewer=viewer)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_scenarios(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    """Saved scenarios the viewer may read."""
    with read_session(_engine) as s:
        return pl.list_scenarios(s, viewer=viewer)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_compare(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters,
                 names: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The baseline and the named scenarios, recomputed for the whole catalogue, side by side."""
    page = load_page(_engine, viewer_key, viewer, filters, "")
    pols = pl.policies(load_scenarios(_engine, viewer_key, viewer), list(names))
    return pl.compare(page.inputs, page.open_pos, pols, lead=page.lead, forecast=page.forecast)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_erp(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters) -> pd.DataFrame:
    """Lines of the purchase orders approved here (the ERP file)."""
    with read_session(_engine) as s:
        return export_erp_pos(s, viewer=viewer, filters=filters)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_simulation(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters,
                    policy_json: str, sku: str, warehouse: str) -> pl.SimResult:
    """The Monte Carlo of one SKU x warehouse under the plan's policy (fixed seed)."""
    page = load_page(_engine, viewer_key, viewer, filters, policy_json)
    row = page.plan[(page.plan["sku"] == sku) & (page.plan["warehouse"] == warehouse)].iloc[0]
    return pl.simulate(pl.sim_input(row, page.as_of))


def summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The comparison as people read it: one row per measure, each scenario's value formatted."""
    out = pd.DataFrame({"Measure": [COMPARE_LABELS[m] for m in summary.index]})
    for name in summary.columns:
        out[name] = [fmt.value(v, COMPARE_UNITS[m]) for m, v in zip(summary.index, summary[name], strict=True)]
    return out


def policy_from_form(v: dict[str, Any]) -> pl.Policy:
    """The :class:`ops.planner.Policy` of the form's values (raises ``InputError`` naming the field)."""
    demand: dict[str, float] = {}
    if v.get("cat") and v.get("cat_pct"):
        demand[f"category:{v['cat']}"] = float(v["cat_pct"]) / 100.0
    if v.get("sku") and v.get("sku_pct"):
        demand[f"sku:{str(v['sku']).strip()}"] = float(v["sku_pct"]) / 100.0
    lead = {str(v["sup"]): float(v["sup_days"])} if v.get("sup") and v.get("sup_days") else {}
    target = "fill_rate" if v["target"] == "Fill rate" else "csl"
    return pl.Policy(service_level=float(v["level"]) / 100.0, target=target,
                     review_days=float(v["review"]), demand_change=demand, lead_time_change=lead,
                     moq_factor=float(v["moq_factor"]), budget=float(v["budget"]) if v.get("budget") else None,
                     min_order_value=float(v.get("min_value") or 0.0))


def policy_form(page: pl.PlannerPage, viewer: Viewer) -> None:
    """The what-if form: applying it recomputes the plan; a name saves it as a scenario."""
    cats = sorted(page.inputs["category"].unique()) if len(page.inputs) else []
    sups = sorted(set(page.inputs["supplier"]) - {""}) if len(page.inputs) else []
    with st.form("planner_policy"):
        c1, c2, c3, c4 = st.columns(4)
        target = c1.segmented_control("Target", ["Cycle service level", "Fill rate"], default="Cycle service level")
        level = c2.number_input("Target (%)", min_value=1.0, max_value=99.99, value=95.0, step=0.5,
                                help="Below 100 %: a 100 % target needs infinite stock.")
        review = c3.number_input("Review every (days)", min_value=0, max_value=90, value=7)
        moq_factor = c4.number_input("MOQ multiplier", min_value=0.1, max_value=20.0, value=1.0, step=0.5)
        d1, d2, d3, d4 = st.columns(4)
        cat = d1.selectbox("Demand change: category", [""] + cats)
        cat_pct = d2.number_input("Category change (%)", min_value=-99.0, max_value=500.0, value=0.0, step=5.0)
        sku = d3.text_input("Demand change: SKU")
        sku_pct = d4.number_input("SKU change (%)", min_value=-99.0, max_value=500.0, value=0.0, step=5.0)
        e1, e2, e3, e4 = st.columns(4)
        sup = e1.selectbox("Lead time change: supplier", [""] + sups)
        sup_days = e2.number_input("Days added", min_value=-60.0, max_value=120.0, value=0.0, step=1.0)
        budget = e3.number_input("Budget (0 = no cap)", min_value=0.0, value=0.0, step=1000.0)
        min_value = e4.number_input("Supplier minimum order value", min_value=0.0, value=0.0, step=100.0)
        name = st.text_input("Save as scenario (name)", key="planner_scenario_name")
        go = st.form_submit_button("Apply", type="primary")
    if go:
        values = {"target": target or "Cycle service level", "level": level, "review": review,
                  "moq_factor": moq_factor, "cat": cat, "cat_pct": cat_pct, "sku": sku, "sku_pct": sku_pct,
                  "sup": sup, "sup_days": sup_days, "budget": budget, "min_value": min_value}
        _apply_form(values, name, page, viewer)
        st.rerun()  # the page above already ran with the old policy: show the new plan and the message


def _apply_form(values: dict[str, Any], name: str, page: pl.PlannerPage, viewer: Viewer) -> None:
    try:
        policy = policy_from_form(values)
        # checked against the catalogue too (a lead time cut below zero for one supplier's SKUs)
        pl.compute_plan(page.inputs, page.open_pos, policy=policy, lead=page.lead, forecast=page.forecast)
    except rm.InputError as exc:
        st.session_state[FLASH] = ("error", str(exc))
        return
    st.session_state[POLICY] = policy.to_json()
    if name.strip():
        saved = load_scenarios(get_engine(), viewer.cache_key, viewer)
        found = saved[saved["name"] == name.strip()]
        version = int(found["version"].iloc[0]) if len(found) else 0
        try:
            run_in_transaction(get_engine(), lambda s: pl.save_scenario(s, viewer=viewer, name=name, policy=policy,
                                                                          expected_version=version))
        except (DecisionError, AccessDenied) as exc:
            st.session_state[FLASH] = ("error", str(exc))
            return
        clear_loaders()
        shown = list(st.session_state.get(COMPARE, []))
        st.session_state[COMPARE] = shown + [name.strip()] if name.strip() not in shown else shown
        st.session_state[FLASH] = ("success", f"Scenario “{name.strip()}” saved.")


def approval_key(token: str) -> str:
    """The idempotency key of the plan on screen: new when the plan changes, kept across reruns."""
    held = st.session_state.get(APPROVAL_KEY)
    if not held or held[0] != token:
        held = (token, uuid.uuid4().hex)
        st.session_state[APPROVAL_KEY] = held
    return str(held[1])


def approve(edited: pd.DataFrame, page: pl.PlannerPage, viewer: Viewer, why: str) -> None:
    """Approve the edited lines: the POs, their audit rows and the open-PO aggregates in one transaction."""
    policy = pl.Policy.from_json(st.session_state.get(POLICY) or pl.Policy().to_json())
    lines = edited.rename(columns={"order_qty": "qty"})[["sku", "warehouse", "supplier", "suggested_qty", "qty"]]
    key = approval_key(page.token)
    engine = get_engine()
    try:
        res = run_in_transaction(engine, lambda s: pl.approve(s, viewer=viewer, lines=lines, policy=policy,
                                                             idempotency_key=key, why=why or None))
    except (DecisionError, AccessDenied, rm.InputError) as exc:
        st.session_state[FLASH] = ("error", str(exc))
        return
    clear_loaders()
    st.session_state.pop(EDITOR, None)
    if res.created:
        st.session_state[FLASH] = ("success", f"Approved {res.lines:,} lines as {len(res.po_numbers)} open POs: "
                                   f"{', '.join(res.po_numbers[:6])}{' …' if len(res.po_numbers) > 6 else ''}.")
    else:
        st.session_state[FLASH] = ("info", "Already approved: these POs were written by the first approval: "
                                   + ", ".join(res.po_numbers[:6]))


def share(page: pl.PlannerPage, viewer: Viewer, supplier: str, warehouse: str) -> None:
    """Share one draft PO's lines with its supplier."""
    lines = page.plan[(page.plan["supplier"] == supplier) & (page.plan["warehouse"] == warehouse)
                      & (page.plan["suggested_qty"] > 0)]
    drafts = page.drafts
    exp = drafts[(drafts["supplier"] == supplier) & (drafts["warehouse"] == warehouse)]["expected_on"]
    frame = pd.DataFrame({"sku": lines["sku"], "qty": lines["suggested_qty"], "unit_cost": lines["unit_cost"],
                          "expected_on": exp.iloc[0] if len(exp) else pd.NaT})
    try:
        n = run_in_transaction(get_engine(), lambda s: pl.share_draft(s, viewer=viewer, supplier=supplier,
                                                                      warehouse=warehouse, lines=frame))
    except (DecisionError, AccessDenied) as exc:
        st.session_state[FLASH] = ("error", str(exc))
        return
    clear_loaders()
    st.session_state[FLASH] = ("success", f"Shared {n} draft lines with {supplier}.")


def show_flash() -> None:
    msg = st.session_state.pop(FLASH, None)
    if msg:
        getattr(st, msg[0])(msg[1])


def editor_frame(lines: pd.DataFrame) -> pd.DataFrame:
    """The editable table: the suggested quantity shown, and the quantity to order (edited)."""
    view = lines[["sku", "name", "supplier", "warehouse", "urgency", "suggested_qty", "on_hand", "on_order",
                  "cover_days", "open_po", "late_po", "moq", "case_pack"]].copy()
    view.insert(6, "order_qty", view["suggested_qty"].astype("int64"))
    view["cover_days"] = view["cover_days"].replace([np.inf, -np.inf], np.nan)  # no demand: no end of stock
    return view


def editor_config(view: pd.DataFrame) -> dict[str, Any]:
    """Labels and number formats of every column of :func:`editor_frame`; only the quantity is editable."""
    from ui.table import column_config

    cfg = column_config(view.drop(columns=["order_qty"]))
    cfg["order_qty"] = st.column_config.NumberColumn("Units to order", min_value=0, step=1, format="%d",
                                                     help="Edit before approving; 0 drops the line.")
    return cfg


def fan_chart(fan: pd.DataFrame, title: str) -> alt.Chart:
    """On-hand fan: the 5-95 % and 25-75 % bands and the median, by day."""
    base = alt.Chart(fan).encode(x=alt.X("day:Q", title="Days from the as-of day"))
    outer = base.mark_area(opacity=0.25).encode(y=alt.Y("q05:Q", title="Units on hand"), y2="q95:Q")
    inner = base.mark_area(opacity=0.45).encode(y="q25:Q", y2="q75:Q")
    mid = base.mark_line().encode(y="q50:Q")
    return (outer + inner + mid).properties(title=title, height=280)


def compare_chart(summary: pd.DataFrame, measure: str, label: str) -> alt.Chart:
    df = summary.loc[[measure]].T.reset_index()
    df.columns = ["scenario", "value"]
    return alt.Chart(df).mark_bar().encode(x=alt.X("value:Q", title=label), y=alt.Y("scenario:N", title=None))
