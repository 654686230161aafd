"""Thresholds (where each value comes from, editable) and the audit log of every write-back."""

from __future__ import annotations

import streamlit as st

from ops.decisions import SCOPE_PRECEDENCE, THRESHOLDS, Change, ChangeSet, threshold_key
from ui.cache import get_engine
from ui.context import require_page
from ui.decisions import load_audit_facets, load_audit_log, load_threshold_table
from ui.downloads import download_buttons
from ui.editor import edit_table, save_changes, show_confirmation, show_flash
from ui.table import column_config, show_table

EDIT_ROLES = ("manager", "admin")
SHOWN = ["key", "version", "label", "scope_kind", "scope_key", "value", "unit", "min", "max", "source"]
LOG_SHOWN = ["at", "actor", "action", "entity_kind", "entity_key", "outcome", "before", "after", "why", "vendor_code"]

viewer = require_page("audit")
engine = get_engine()
st.title("Thresholds & audit log")

st.session_state.setdefault("audit_view", "Thresholds")
view = st.segmented_control("View", ["Thresholds", "Audit log"], key="audit_view", label_visibility="collapsed")


def _add_override() -> None:
    ss = st.session_state
    name, kind, key = ss["audit_new_name"], ss["audit_new_kind"], (ss["audit_new_key"] or "").strip()
    change = Change(entity_kind="threshold", key=threshold_key(name, kind, key), field="value", old=None,
                    new=ss["audit_new_value"], expected_version=0)
    if save_changes(ChangeSet(changes=(change,), why=ss.get("audit_new_why") or None), viewer=viewer,
                    flash_key="audit_new_flash"):
        ss["audit_new_why"] = ""  # the next override must not reuse this reason silently


if view == "Audit log":
    facets = load_audit_facets(engine, viewer.cache_key, viewer)
    c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
    actor = c1.selectbox("Who", facets["actor"], index=None, key="audit_actor", placeholder="Anyone")
    action = c2.selectbox("Action", facets["action"], index=None, key="audit_action", placeholder="Any action")
    kind = c3.selectbox("Object kind", facets["entity_kind"], index=None, key="audit_entity", placeholder="Any")
    days = c4.date_input("Date range", value=(), key="audit_dates", format="YYYY-MM-DD")
    date_from = days[0] if isinstance(days, tuple) and len(days) >= 1 else None
    date_to = days[1] if isinstance(days, tuple) and len(days) == 2 else date_from
    log = load_audit_log(engine, viewer.cache_key, viewer, actor, action, kind, date_from, date_to)
    st.caption(f"{len(log):,} audit rows, newest first (applied and refused attempts).")
    show_table(log[LOG_SHOWN], key="audit_log_table", empty="No audit rows match these filters.", overrides={
        "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "entity_key": st.column_config.TextColumn("Object"),  # an internal key elsewhere, the subject here
    })
    download_buttons(log[LOG_SHOWN], name="audit_log", key="audit_log_dl")
else:
    table = load_threshold_table(engine, viewer.cache_key, viewer)
    may_edit = viewer.role in EDIT_ROLES
    st.caption("The most specific stored value wins: SKU > category > supplier > carrier > warehouse > global > "
               "default. Edit a value and press Save; every change and every refused attempt is audited. A value "
               "outside the usual range is saved only after you confirm it.")
    edit_table(
        table[SHOWN], key="audit_thr", viewer=viewer, key_col="key", version_col="version", editable=["value"],
        read_only=not may_edit,
        column_config=column_config(table[SHOWN], overrides={
            "label": st.column_config.TextColumn("Threshold"),
            "value": st.column_config.NumberColumn("Value", format="%g"),
            "unit": st.column_config.TextColumn("Unit"),  # hidden by default (a KPI's unit code elsewhere)
            "min": st.column_config.NumberColumn("Minimum", format="%g"),
            "max": st.column_config.NumberColumn("Maximum", format="%g"),
            "source": st.column_config.TextColumn("Comes from", width="large"),
        }),
    )
    download_buttons(table[SHOWN], name="thresholds", key="audit_thr_dl")
    if may_edit:
        with st.expander("Add an override for one warehouse, carrier, category, supplier or SKU"):
            show_flash("audit_new")
            show_confirmation("audit_new", viewer=viewer)
            with st.form("audit_new_form", clear_on_submit=False, border=False):
                scoped = sorted(n for n, d in THRESHOLDS.items() if len(d.scopes) > 1)
                c1, c2, c3, c4 = st.columns(4)
                c1.selectbox("Threshold", scoped, key="audit_new_name",
                             format_func=lambda n: f"{THRESHOLDS[n].label} ({THRESHOLDS[n].unit})")
                c2.selectbox("Scope", [k for k in reversed(SCOPE_PRECEDENCE) if k != "global"], key="audit_new_kind")
                c3.text_input("Code (warehouse, carrier, SKU...)", key="audit_new_key")
                c4.number_input("Value", value=0.0, key="audit_new_value")
                st.text_input("Reason", key="audit_new_why", max_chars=500)
                st.form_submit_button("Add override", on_click=_add_override, type="primary")
