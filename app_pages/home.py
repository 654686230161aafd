"""Overview: the weekly review's first screen: headline KPIs and the top exceptions of each page."""

import streamlit as st

from ui import fulfillment as uf
from ui import inventory as ui_inv
from ui.cache import get_engine
from ui.context import filters, require_page

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
    if h.positions.empty:
        st.info("No stock to show for the SKUs and warehouses you can see.")
    else:
        st.caption(f"As of {h.as_of:%Y-%m-%d}, demand over the last 28 days.")
        ui_inv.kpi_row(h.kpis)
        top = h.exceptions.head(TOP)
        if top.empty:
            st.success("No open inventory exceptions.")
        else:
            st.dataframe(top[["kind", "sku", "warehouse", "value_at_risk", "detail"]], hide_index=True,
                         column_config={"value_at_risk": st.column_config.NumberColumn("value at risk",
                                                                                        format="%,.0f")})
    st.page_link("app_pages/inventory.py", label="Open Inventory health", icon=":material/arrow_forward:")

if viewer.may_open("fulfillment"):
    st.subheader("Fulfilment SLA")
    data = uf.load_overview(engine, viewer.cache_key, viewer, flt, "warehouse")
    uf.kpi_row(data["kpis"])
    top = data["exceptions"].head(TOP)
    if top.empty:
        st.success("No backlog past the alert age and no warehouse below the on-time target.")
    else:
        st.dataframe(top[["kind", "subject", "detail"]], hide_index=True)
    st.page_link("app_pages/fulfillment.py", label="Open Fulfilment SLA", icon=":material/arrow_forward:")
