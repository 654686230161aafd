"""Your scorecard: a vendor's landing page showing who they are signed in as and the rows they share with us."""

import streamlit as st

from ui.auth import vendor_card
from ui.cache import get_engine
from ui.context import require_page

TABLE_LABELS = {
    "products": "Products (SKUs)",
    "orders": "Orders",
    "order_lines": "Order lines",
    "shipments": "Shipments",
    "purchase_orders": "Purchase orders",
    "returns": "Returns",
    "suppliers": "Suppliers",
}
# Tables that can hold a vendor's rows, by vendor kind (a carrier never owns products or POs).
RELEVANT = {
    "supplier": ("products", "purchase_orders", "orders", "order_lines", "shipments"),
    "carrier": ("shipments", "orders", "order_lines"),
    "warehouse": ("orders", "order_lines", "shipments", "purchase_orders"),
}
KIND_LABELS = {"supplier": "Supplier", "carrier": "Carrier", "warehouse": "3PL warehouse operator"}

viewer = require_page("scorecard")
profile, counts = vendor_card(get_engine(), viewer.cache_key, viewer)

st.title("Your scorecard")
if profile:
    st.subheader(f"{profile['name']} · {KIND_LABELS.get(profile['kind'], profile['kind'])} {profile['code']}")
    if profile["sites"]:
        st.caption("Warehouses you operate: " + ", ".join(profile["sites"]))
else:
    st.subheader(f"{viewer.username} · {viewer.role} (not a vendor account: you see every vendor's rows)")

st.markdown("**Records we hold that involve you**")
wanted = RELEVANT.get(viewer.vendor_kind or "", tuple(TABLE_LABELS))
shown = counts.set_index("table").reindex(wanted).dropna().reset_index()
cols = st.columns(max(len(shown), 1))
for col, (_, row) in zip(cols, shown.iterrows(), strict=False):
    col.metric(TABLE_LABELS[row["table"]], f"{int(row['rows']):,}")
if int(shown["rows"].sum()) == 0:
    st.warning("We hold no records linked to your vendor code yet. If that looks wrong, ask your OpsDeck contact.")

st.info(
    "The full scorecard (on-time rates, lead times and trends against your targets) is planned. "
    "Until then this page shows which of our records are linked to your account; every figure here "
    "counts only your own rows."
)
