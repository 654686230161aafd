"""Inventory health: what will run out, what is stuck, what is worth acting on."""

import streamlit as st

from ops import fmt
from ops.inventory import ENTITY_KIND, WINDOWS
from ui import inventory as ui_inv
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.downloads import download_buttons
from ui.editor import edit_table
from ui.table import show_table

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
    st.info("No stock to show: there are no inventory snapshots for the SKUs and warehouses you can see. "
            "Clear the warehouse filter in the sidebar, or import inventory snapshots.")
    st.stop()
st.caption(
    f"As of {h.as_of:%Y-%m-%d} (last inventory snapshot) · demand over the {h.window} days before · "
    f"warehouses: {', '.join(f.warehouses) or 'all'}. The date range and channel filters do not apply to "
    "stock: days of cover and stockouts are measured at the as-of day."
)

ui_inv.kpi_row(h.kpis)

st.subheader("Exceptions: act on these first")
if h.exceptions.empty:
    st.success("No open exceptions: nothing runs out within its warning, nothing is in excess or dead."
               + ("" if include_closed else " Switch on “Include acknowledged / snoozed” to see closed ones."))
else:
    st.caption("Sorted by value at risk. “Listed by” names the threshold that put the row here. Set a row to "
               "acknowledged or snoozed (with a date) to take it off the open list, or flag it with a note.")
    rows = ui_inv.exception_rows(h.exceptions)
    edit_table(rows, key="inventory_exceptions", viewer=viewer, key_col="entity_key", version_col="version",
               editable=["state", "note", "snooze_until"], entity_kind=ENTITY_KIND,
               column_config=ui_inv.exception_config(rows))
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
    if h.aging.empty:
        st.info("No stock on hand to age in the warehouses you can see.")
    else:
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
        st.caption(f"{fmt.number(row['avg_daily_demand'], 2)} units a day; open POs marked green"
                   + (" (an overdue PO counts as arriving tomorrow)" if row["po_overdue"] else "") + ".")

TABLES = {"SKU x warehouse": ("positions", "inventory_positions"), "SKU (ABC / XYZ)": ("skus", "inventory_skus"),
          "Aging": ("aging", "inventory_aging"), "Open POs": ("open_pos", "inventory_open_pos"),
          "KPIs": ("kpis", "inventory_kpis")}
table = st.segmented_control("Table", list(TABLES), default="SKU x warehouse", key="inventory_table")
attr, export_name = TABLES[table or "SKU x warehouse"]
df = getattr(h, attr)
if attr == "kpis":
    show_table(ui_inv.kpi_table(df), key="inventory_table_kpis")
else:
    show_table(ui_inv.table_view(df, attr), key=f"inventory_table_{attr}",
               empty="No rows for the SKUs and warehouses you can see.")
    st.caption("The downloads carry every column (thresholds, lost sales, demand statistics).")
download_buttons(df, name=export_name, key="inventory_dl_table")

st.subheader("Thresholds used on this page")
current = ui_inv.load_thresholds(engine, viewer.cache_key, viewer)
show_table(ui_inv.threshold_rows(current), key="inventory_thresholds")
ui_inv.threshold_form(viewer, current)
