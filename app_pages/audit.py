"""Thresholds (where each value comes from, editable) and the audit log of every write-back."""

from __future__ import annotations

import streamlit as st

from ops.decisions import SCOPE_PRECEDENCE, THRESHOLDS, Change, ChangeSet, threshold_key
from ui.cache import get_engine
from ui.context import require_page
from ui.decisions import load_audit_facets, load_audit_log, load_threshold_table
from ui.downloads import download_buttons
from ui.editor import edit_table, save_changes, show_flash

EDIT_ROLES = ("manager", "admin")
SHOWN = ["key", "version", "label", "name", "scope_kind", "scope_key", "value", "unit", "min", "max", "source"]

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
    save_changes(ChangeSet(changes=(change,), why=ss.get("audit_new_why") or None), viewer=viewer,
                 flash_key="audit_new_flash")


if view == "Audit log":
    facets = load_audit_facets(engine, viewer.cache_key, viewer)
    c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
    actor = c1.selectbox("Actor", facets["actor"], index=None, key="audit_actor", placeholder="Anyone")
    action = c2.selectbox("Action", facets["action"], index=None, key="audit_action", placeholder="Any action")
    kind = c3.selectbox("Entity", facets["entity_kind"], index=None, key="audit_entity", placeholder="Any entity")
    days = c4.date_input("Date range", value=(), key="audit_dates", format="YYYY-MM-DD")
    date_from = days[0] if isinstance(days, tuple) and len(days) >= 1 else None
    date_to = days[1] if isinstance(days, tuple) and len(days) == 2 else date_from
    log = load_audit_log(engine, viewer.cache_key, viewer, actor, action, kind, date_from, date_to)
    st.caption(f"{len(log):,} audit rows, newest first (applied and refused attempts).")
    st.dataframe(
        log, hide_index=True, width="stretch", key="audit_log_table",
        column_config={"at": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                       "id": None},
    )
    download_buttons(log, name="audit_log", key="audit_log_dl")
else:
    table = load_threshold_table(engine, viewer.cache_key, viewer)
    may_edit = viewer.role in EDIT_ROLES
    st.caption("The most specific stored value wins: SKU > category > supplier > carrier > warehouse > global > "
               "default. Edit a value and press Save; every change and every refused attempt is audited.")
    edit_table(
        table[SHOWN], key="audit_thr", viewer=viewer, key_col="key", version_col="version", editable=["value"],
        read_only=not may_edit,
        column_config={
            "label": st.column_config.TextColumn("Threshold"),
            "name": st.column_config.TextColumn("Name"),
            "scope_kind": st.column_config.TextColumn("Scope"),
            "scope_key": st.column_config.TextColumn("Scope key"),
            "value": st.column_config.NumberColumn("Value", format="%g"),
            "source": st.column_config.TextColumn("Comes from", width="large"),
        },
    )
    download_buttons(table, name="thresholds", key="audit_thr_dl")
    if may_edit:
        with st.expander("Add an override for one warehouse, carrier, category, supplier or SKU"):
            show_flash("audit_new")
            with st.form("audit_new_form", clear_on_submit=False, border=False):
                scoped = sorted(n for n, d in THRESHOLDS.items() if len(d.scopes) > 1)
                c1, c2, c3, c4 = st.columns(4)
                c1.selectbox("Threshold", scoped, key="audit_new_name")
                c2.selectbox("Scope", [k for k in reversed(SCOPE_PRECEDENCE) if k != "global"], key="audit_new_kind")
                c3.text_input("Code (warehouse, carrier, SKU...)", key="audit_new_key")
                c4.number_input("Value", value=0.0, key="audit_new_value")
                st.text_input("Reason", key="audit_new_why", max_chars=500)
                st.form_submit_button("Add override", on_click=_add_override, type="primary")
