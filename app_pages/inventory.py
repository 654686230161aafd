"""Inventory health: what will run out, what is stuck, what is worth acting on."""

import streamlit as st

from ops.decisions import STATES
from ops.inventory import ENTITY_KIND, WINDOWS
from ui import inventory as ui_inv
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.downloads import download_buttons
from ui.editor import edit_table

viewer = require_page("inventory")
engine = get_engine()
f = ui_inv.page_filters(filters())

st.title("Inventory health")
c1, c2, c3 = st.columns([3, 2, 2])
window = c1.segmented_control("Demand window (days)", WINDOWS, default=28, key="inventory_window") or 28
abc_by = c2.segmented_control("ABC by", ["revenue", "units"], default="revenue", key="inventory_abc_by") or "revenue"
include_closed = c3.toggle("Include acknowledged / snoozed", key="inventory_include_closed")

h = ui_inv.load_health(engine, viewer.cache_key, viewer, f, int(window), abc_by, include_closed)
if h.as_of is None:
    st.info("No stock to show: there are no inventory snapshots for the SKUs and warehouses you can see.")
    st.stop()
st.caption(
    f"As of {h.as_of:%Y-%m-%d} (last inventory snapshot) · demand over the {h.window} days before · "
    f"warehouses: {', '.join(f.warehouses) or 'all'}. The date range and channel filters do not apply to "
    "stock: days of cover and stockouts are measured at the as-of day."
)

ui_inv.kpi_row(h.kpis)

st.subheader("Exceptions: act on these first")
st.caption("Sorted by value at risk. Each row names the threshold that put it here. Set a row to "
           "acknowledged or snoozed (with a date) to take it off the open list, or flag it with a note.")
shown = ["kind", "sku", "warehouse", "value_at_risk", "detail", "threshold", "threshold_value", "threshold_source",
         "on_hand", "on_order", "days_of_cover", "projected_stockout", "next_po", "state", "note", "snooze_until",
         "entity_key", "version"]
edit_table(
    h.exceptions[shown], key="inventory_exceptions", viewer=viewer, key_col="entity_key", version_col="version",
    editable=["state", "note", "snooze_until"], entity_kind=ENTITY_KIND,
    column_config={
        "state": st.column_config.SelectboxColumn("state", options=list(STATES), required=True),
        "snooze_until": st.column_config.DateColumn("snooze until"),
        "value_at_risk": st.column_config.NumberColumn("value at risk", format="%.0f"),
        "days_of_cover": st.column_config.NumberColumn("cover (d)", format="%.1f"),
        "projected_stockout": st.column_config.DateColumn("stockout"),
        "next_po": st.column_config.DateColumn("next PO"),
    },
)
download_buttons(h.exceptions, name="inventory_exceptions", key="inventory_dl_exceptions")

thr = h.thresholds.set_index("name")["value"]
chart = st.segmented_control("Chart", ["Cover", "ABC x XYZ", "Aging", "Projection"], default="Cover",
                             key="inventory_chart") or "Cover"
if chart == "Cover":
    st.altair_chart(ui_inv.cover_chart(h.positions, thr["cover_warning_days"], thr["excess_cover_days"]),
                    width="stretch")
elif chart == "ABC x XYZ":
    st.altair_chart(ui_inv.abc_xyz_chart(h.skus), width="stretch")
elif chart == "Aging":
    st.altair_chart(ui_inv.aging_chart(h.aging), width="stretch")
else:
    pairs = h.positions.sort_values("days_to_stockout", na_position="last")
    options = [f"{s} @ {w}" for s, w in zip(pairs["sku"], pairs["warehouse"], strict=True)]
    first = h.exceptions[h.exceptions["kind"] == "stockout"]
    default = f"{first.iloc[0]['sku']} @ {first.iloc[0]['warehouse']}" if len(first) else None
    st.session_state.setdefault("inventory_projection_pair", default if default in options else None)
    pick = st.selectbox("SKU @ warehouse", options, key="inventory_projection_pair")
    if pick:
        sku, wh = pick.split(" @ ")
        line = ui_inv.load_projection(engine, viewer.cache_key, viewer, sku, wh, int(window))
        row = h.positions[(h.positions["sku"] == sku) & (h.positions["warehouse"] == wh)].iloc[0]
        st.altair_chart(ui_inv.projection_chart(line, row["projected_stockout"]), width="stretch")
        st.caption(f"{row['avg_daily_demand']:.2f} units a day; open POs marked green"
                   + (" (an overdue PO counts as arriving tomorrow)" if row["po_overdue"] else "") + ".")

TABLES = {"SKU x warehouse": ("positions", "inventory_positions"), "SKU (ABC / XYZ)": ("skus", "inventory_skus"),
          "Aging": ("aging", "inventory_aging"), "Open POs": ("open_pos", "inventory_open_pos"),
          "KPIs": ("kpis", "inventory_kpis")}
table = st.segmented_control("Table", list(TABLES), default="SKU x warehouse", key="inventory_table")
attr, export_name = TABLES[table or "SKU x warehouse"]
df = getattr(h, attr)
st.dataframe(df, hide_index=True, width="stretch")
download_buttons(df, name=export_name, key="inventory_dl_table")

st.subheader("Thresholds used on this page")
current = ui_inv.load_thresholds(engine, viewer.cache_key, viewer)
st.dataframe(current[["label", "scope_kind", "scope_key", "value", "unit", "source"]], hide_index=True,
             width="stretch")
names = ui_inv.editable_thresholds(viewer)
if names:
    glob = current[current["scope_kind"] == "global"].set_index("name")
    with st.form("inventory_thresholds_form"):
        values = {n: st.number_input(f"{glob.loc[n, 'label']} ({glob.loc[n, 'unit']})",
                                     value=float(glob.loc[n, "value"]), key=f"inventory_thr_{n}") for n in names}
        why = st.text_input("Reason for the change (kept in the audit log)", key="inventory_thr_why")
        if st.form_submit_button("Save thresholds", type="primary"):
            error = ui_inv.save_thresholds(viewer, current, values, why)
            if error:
                st.error(error)
            else:
                st.rerun()
else:
    st.caption("Your role may not change these thresholds.")
