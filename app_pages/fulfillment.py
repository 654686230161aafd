"""Fulfilment SLA: on-time shipping, backlog, click-to-ship, and who caused each late delivery."""

import streamlit as st

from ops import fulfillment as ful
from ops.decisions import STATES, THRESHOLD_ENTITY
from ui import fulfillment as uf
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.downloads import download_buttons
from ui.editor import edit_table, show_flash

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
st.caption("Last 7 days of the range against the 7 before. Counts are order lines; on time means shipped by the "
           "ship-by deadline (a shipment exactly at the deadline is on time); cancelled orders are left out.")

st.subheader("Exceptions")
exc = data["exceptions"]
if exc.empty:
    st.success("No backlog past the alert age and no warehouse below the on-time target.")
else:
    edit_table(exc, key="fulfillment_exceptions", viewer=viewer, key_col="key", version_col="version",
               editable=["state"], entity_kind=ful.EXCEPTION_KIND,
               column_config={"state": st.column_config.SelectboxColumn("State", options=list(STATES)),
                              "value": st.column_config.NumberColumn(format="%.1f")})
    download_buttons(exc.drop(columns=["version"]), name="fulfilment_exceptions", key="fulfillment_dl_exc")

st.subheader(f"SLA by {by_label.lower()}")
summary = data["summary"]
pct_note = "exact" if summary["exact"].all() else "approximate (from hour buckets)"
st.caption(f"Click-to-ship percentiles are {pct_note}; hours are paid → shipped, calendar and business.")
st.dataframe(summary.drop(columns=["exact"]), hide_index=True, width="stretch", column_config={
    "on_time_ship_rate": st.column_config.ProgressColumn("On-time ship", format="percent", min_value=0, max_value=1),
    "on_time_delivery_rate": st.column_config.ProgressColumn("On-time delivery", format="percent", min_value=0,
                                                             max_value=1)})
download_buttons(summary, name=f"fulfilment_sla_by_{by}", key="fulfillment_dl_summary")

VIEWS = {"On-time by week": "trend", "Click-to-ship": "c2s", "Click-to-ship (business h)": "c2s_bus",
         "Late by how much": "late", "Late heatmap": "heatmap", "Attribution": "attribution",
         "Late lanes": "lanes"}
st.session_state.setdefault("fulfillment_view", "On-time by week")
view_label = st.segmented_control("Chart", list(VIEWS), key="fulfillment_view") or "On-time by week"
view = VIEWS[view_label]
if view == "attribution":
    st.altair_chart(uf.attribution_chart(summary), width="stretch")
    view_df = summary[["group", "delivered", "delivered_on_time", "late_warehouse", "late_carrier", "late_unknown",
                       "processing_mean_h", "transit_mean_h"]]
    st.dataframe(view_df, hide_index=True, width="stretch")
else:
    # the weekly trend came with the overview; other views load on demand
    view_df = data["trend"] if view == "trend" else uf.load_view(engine, viewer.cache_key, viewer, flt, view, by)
    if view == "trend":
        st.altair_chart(uf.trend_chart(view_df, target), width="stretch")
    elif view == "heatmap":
        st.altair_chart(uf.heatmap_chart(view_df), width="stretch")
        st.caption("Share of lines shipped late by the weekday and hour the order was paid.")
    elif view == "lanes":
        st.dataframe(view_df, hide_index=True, width="stretch")
    else:
        st.altair_chart(uf.histogram_chart(view_df, "Hours" if view != "late" else "Hours late"), width="stretch")
download_buttons(view_df, name=f"fulfilment_{view}", key="fulfillment_dl_view")

st.subheader("Backlog: orders not shipped")
st.dataframe(data["backlog_bands"], hide_index=True, width="stretch")
st.dataframe(data["backlog"], hide_index=True, width="stretch")
download_buttons(data["backlog"], name="fulfilment_backlog", key="fulfillment_dl_backlog")

with st.expander("Targets and SLA policy", expanded=False):
    edit_table(thresholds, key="fulfillment_thresholds", viewer=viewer, key_col="key", version_col="version",
               editable=["value"], entity_kind=THRESHOLD_ENTITY, read_only=not manager)
    policies = uf.load_policies(engine, viewer.cache_key, viewer)
    if manager:
        show_flash("fulfillment_sla")
        for _, policy in policies.iterrows():
            uf.sla_form(viewer, policy)
    else:
        st.dataframe(policies, hide_index=True, width="stretch")
