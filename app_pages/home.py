"""Overview: the weekly review's first screen: headline KPIs and the top exceptions of each page."""

import streamlit as st

from ui import fulfillment as uf
from ui import inventory as ui_inv
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.table import show_table

TOP = 5

viewer = require_page("home")
flt = filters()
engine = get_engine()

st.title("Overview")
st.caption("Headline figures and the exceptions worth acting on first. Open a page for the detail; "
           "acknowledging or flagging a row happens there, so it is recorded in the audit log.")

if viewer.may_open("inventory"):
    st.subheader("Inventory health")
    h = ui_inv.load_health(engine, viewer.cache_key, viewer, ui_inv.page_filters(flt), 28, "revenue", False)
    if h.as_of is None or h.positions.empty:
        st.info("No stock to show: there are no inventory snapshots for the SKUs and warehouses you can see. "
                "Clear the warehouse filter in the sidebar, or import inventory snapshots.", icon=":material/info:")
    else:
        st.caption(f"As of {h.as_of:%Y-%m-%d} (last inventory snapshot), demand over the 28 days before; "
                   "the date range does not apply to stock.")
        ui_inv.kpi_row(h.kpis)
        top = h.exceptions.head(TOP)
        if top.empty:
            st.success("No open inventory exceptions: nothing runs out within its warning, nothing is in excess "
                       "or dead.")
        else:
            show_table(top[["sku", "kind", "warehouse", "value_at_risk", "detail"]], key="home_inventory_top")
    st.page_link("app_pages/inventory.py", label="Open Inventory health", icon=":material/arrow_forward:")

if viewer.may_open("fulfillment"):
    st.subheader("Fulfilment SLA")
    data = uf.load_overview(engine, viewer.cache_key, viewer, flt, "warehouse")
    empty_reason = data.get("empty_reason")
    if isinstance(empty_reason, str) and empty_reason:
        # no lines in the range: tiles of zeros would contradict the message, so say why instead
        st.info(str(empty_reason), icon=":material/info:")
    else:
        uf.kpi_row(data["kpis"])
        top = data["exceptions"].head(TOP)
        if top.empty:
            st.success("No backlog past the alert age and no warehouse below the on-time target.")
        else:
            show_table(top[["subject", "kind", "detail"]], key="home_fulfillment_top")
    st.page_link("app_pages/fulfillment.py", label="Open Fulfilment SLA", icon=":material/arrow_forward:")
