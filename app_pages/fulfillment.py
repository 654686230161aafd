"""Fulfilment SLA: on-time shipping, backlog, click-to-ship, and who caused each late delivery."""

import streamlit as st

from ops import fulfillment as ful
from ops.decisions import STATES, THRESHOLD_ENTITY
from ui import fulfillment as uf
from ui.annotations import load_chart_annotations
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.downloads import download_buttons
from ui.editor import edit_table, show_flash
from ui.table import column_config, show_table

viewer = require_page("fulfillment")
flt = filters()
engine = get_engine()
manager = viewer.role in ("manager", "admin")

st.title("Fulfilment SLA")
GROUPS = {"Warehouse": "warehouse", "Channel": "channel", "Seller state": "seller_region", "Carrier": "carrier"}
st.session_state.setdefault("fulfillment_by", "Warehouse")
by_label = st.segmented_control("Break down by", list(GROUPS), key="fulfillment_by") or "Warehouse"
by = GROUPS[by_label]
data = uf.load_overview(engine, viewer.cache_key, viewer, flt, by)
thresholds = uf.load_thresholds(engine, viewer.cache_key, viewer)
target = float(thresholds["value"].iloc[0])

uf.kpi_row(data["kpis"])
st.caption("The tiles cover orders placed in the last 7 days of the range (the whole range when shorter) against "
           "the same number of days before. Counts are order lines; cancelled orders are left out.")

if data["empty_reason"]:
    st.info(data["empty_reason"], icon=":material/info:")
else:
    st.subheader("Exceptions")
    exc = data["exceptions"]
    st.caption(data["exceptions_note"])
    if not exc.empty:
        edit_table(exc[uf.EXCEPTION_VIEW], key="fulfillment_exceptions", viewer=viewer, key_col="key",
                   version_col="version", editable=["state"], entity_kind=ful.EXCEPTION_KIND,
                   column_config=column_config(exc[uf.EXCEPTION_VIEW], overrides={
                       "state": st.column_config.SelectboxColumn("State", options=list(STATES))}))
        download_buttons(exc, name="fulfilment_exceptions", key="fulfillment_dl_exc")

    st.subheader(f"SLA by {by_label.lower()}")
    summary = data["summary"]
    pct_note = "exact" if summary["exact"].all() else "within a quarter hour of exact (from half-hour buckets)"
    st.caption(f"Click-to-ship hours run from payment to shipment (calendar and business hours); percentiles are "
               f"{pct_note}.")
    group_col = {"group": st.column_config.TextColumn(by_label)}
    show_table(summary[uf.SUMMARY_VIEW], key="fulfillment_summary", overrides=group_col)
    download_buttons(summary, name=f"fulfilment_sla_by_{by}", key="fulfillment_dl_summary")

    st.session_state.setdefault("fulfillment_view", "On-time by week")
    view_label = st.segmented_control("Chart", list(uf.VIEWS), key="fulfillment_view") or "On-time by week"
    view = uf.VIEWS[view_label]
    notes = load_chart_annotations(engine, viewer.cache_key, viewer, "fulfillment", flt.date_from, flt.date_to)
    if view == "attribution":
        st.altair_chart(uf.attribution_chart(summary), width="stretch")
        view_df = summary[uf.ATTRIBUTION_VIEW]
        show_table(view_df, key="fulfillment_attribution", overrides=group_col)
    elif view == "trend":  # the weekly trend came with the overview; other views load on demand
        view_df = data["trend"]
        st.altair_chart(uf.trend_chart(view_df, target, notes), width="stretch")
    else:
        view_df = uf.load_view(engine, viewer.cache_key, viewer, flt, view, by)
        if view == "heatmap":
            st.altair_chart(uf.heatmap_chart(view_df), width="stretch")
            st.caption("Share of lines shipped late by the weekday and hour the order was paid.")
            findings = uf.load_view(engine, viewer.cache_key, viewer, flt, "findings", by)
            st.markdown("**Findings**")
            if findings.empty:
                st.caption("No weekday stands out: no warehouse ships the lines due on one weekday late "
                           "much more often than the rest.")
            for text in findings["finding"].head(3):
                st.warning(text, icon=":material/schedule:")
        elif view == "lane_weeks":
            st.altair_chart(uf.lane_weeks_chart(view_df, notes), width="stretch")
            st.caption("On-time delivery per week of the lanes with the worst weeks (dashed: all lanes). "
                       "The worst lane-weeks:")
            show_table(ful.worst_lane_weeks(view_df), key="fulfillment_worst_weeks", hide=["rank", "series"],
                       empty="No lane had a week with enough deliveries to judge.")
        elif view == "lanes":
            show_table(view_df, key="fulfillment_lanes", empty="No delivered lines in the range.")
        else:
            st.altair_chart(uf.histogram_chart(view_df, "Hours" if view != "late" else "Hours late"),
                            width="stretch")
    download_buttons(view_df, name=f"fulfilment_{view}", key="fulfillment_dl_view")

    st.subheader("Backlog: orders not shipped")
    show_table(uf.bands_view(data["backlog_bands"]), key="fulfillment_bands",
               empty="No order of the range is waiting to ship.")
    show_table(uf.backlog_view(data["backlog"]), key="fulfillment_backlog")
    download_buttons(data["backlog"], name="fulfilment_backlog", key="fulfillment_dl_backlog")

with st.expander("Targets and SLA policy", expanded=False):
    edit_table(thresholds, key="fulfillment_thresholds", viewer=viewer, key_col="key", version_col="version",
               editable=["value"], entity_kind=THRESHOLD_ENTITY, read_only=not manager,
               column_config=column_config(thresholds))
    policies = uf.load_policies(engine, viewer.cache_key, viewer)
    if manager:
        show_flash("fulfillment_sla")
        for _, policy in policies.iterrows():
            uf.sla_form(viewer, policy)
    else:
        show_table(policies, key="fulfillment_policies", hide=["business_days", "name"],
                   empty="No warehouse has shipped order lines of yours, so no SLA policy applies to you yet.")
