"""Your scorecard: a vendor's landing page showing who they are signed in as and the rows they share with us."""

import streamlit as st

from ui.auth import vendor_card
from ui.cache import get_engine
from ui.context import require_page
from ui.table import tile

TABLE_LABELS = {
    "products": "Products (SKUs)",
    "orders": "Orders",
    "order_lines": "Order lines",
    "delivered_lines": "Delivered lines",
    "shipments": "Shipments",
    "purchase_orders": "Purchase orders",
    "returns": "Returns",
    "suppliers": "Suppliers",
}
HELP = {"order_lines": "Lines of orders that were not cancelled.",
        "delivered_lines": "Order lines whose shipment was delivered."}
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
shown = counts[counts["table"].isin(list(TABLE_LABELS))]
cols = st.columns(max(len(shown), 1))
for col, (_, row) in zip(cols, shown.iterrows(), strict=False):
    tile(col, TABLE_LABELS[row["table"]], row["rows"], "count", help=HELP.get(row["table"]))
if int(shown["rows"].sum()) == 0:
    st.warning("We hold no records linked to your vendor code yet. If that looks wrong, ask your OpsDeck contact.")

st.info(
    "The full scorecard (on-time rates, lead times and trends against your targets) is planned. "
    "Until then this page shows which of our records are linked to your account; every figure here "
    "counts only your own rows."
)
