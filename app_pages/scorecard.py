"""Your scorecard: a vendor's own figures, trend, definitions and disputes; the only comparison is anonymous."""

import streamlit as st

from ops import scorecards as sc
from ui import scorecards as us
from ui.auth import vendor_card
from ui.cache import get_engine
from ui.context import require_page
from ui.downloads import download_buttons
from ui.planner import load_shared_drafts
from ui.table import show_table, tile

TABLE_LABELS = {"products": "Products (SKUs)", "orders": "Orders", "order_lines": "Order lines",
                "delivered_lines": "Delivered lines", "shipments": "Shipments", "purchase_orders": "Purchase orders",
                "returns": "Returns", "suppliers": "Suppliers"}
KIND_LABELS = {"supplier": "Supplier", "carrier": "Carrier", "warehouse": "3PL warehouse operator"}

viewer = require_page("scorecard")
engine = get_engine()
profile, counts = vendor_card(engine, viewer.cache_key, viewer)

st.title("Your scorecard")
if profile:
    st.subheader(f"{profile['name']} · {KIND_LABELS.get(profile['kind'], profile['kind'])} {profile['code']}")
    if profile["sites"]:
        st.caption("Warehouses you operate: " + ", ".join(profile["sites"]))

st.session_state.setdefault("scorecard_week", "")
week = st.text_input("Week (ISO, e.g. 2026-W47; empty: the latest)", key="scorecard_week").strip() or None
try:
    sc.parse_week(week)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
LOADS = {"carrier": ("carriers",), "supplier": ("suppliers",), "warehouse": ("tpl", "carriers")}
page = us.load_page(engine, viewer.cache_key, viewer, week, LOADS.get(viewer.vendor_kind or "", ()))
if page.empty_reason:
    st.info(page.empty_reason)
else:
    st.caption(f"{page.period}. Every figure counts only your own rows; the lane benchmark is the median of all "
               "carriers with enough volume on the lane, without names or ranks.")
    if page.weights_problem:
        st.warning("The score is being reconfigured: no score is shown this week.")
    kind = viewer.vendor_kind
    if kind == "carrier":
        cards = page.carriers
        if cards.empty:
            st.info("No shipments of yours in the period.")
        else:
            t = page.trend
            c = st.columns(4)
            tile(c[0], "Shipments in period", int(cards["shipments"].sum()), "count")
            on_time = float((t["on_time_rate"] * t["shipments"]).sum() / max(t["shipments"].sum(), 1))
            tile(c[1], "On time (shipment-weighted)", on_time, "pct")
            tile(c[2], "Score, last week", t["score"].iloc[-1] if len(t) else None, "pct")
            c[3].metric("Band, last week", (t["band"].iloc[-1] or "–") if len(t) else "–", border=True)
            st.subheader("Your lanes")
            show_table(us.view(cards, [c_ for c_ in us.CARRIER_VIEW if c_ != "score_rank"]), key="scorecard_cards")
            download_buttons(cards, name=f"my_scorecard_{page.week}", key="scorecard_dl")
            st.subheader("Your 13-week trend")
            st.altair_chart(us.trend_chart(t, float(cards["target_on_time_rate"].iloc[0])), width="stretch")
            lanes = sorted(cards["lane"].unique())
            lane = st.selectbox("Lane", lanes, key="scorecard_lane")
            st.altair_chart(us.lane_chart(page.lane_weeks[page.lane_weeks["lane"] == lane]), width="stretch")
            st.altair_chart(us.transit_chart(page.transit[page.transit["lane"] == lane]), width="stretch")
            show_table(us.view(page.late_lanes, us.LANE_WEEK_VIEW), key="scorecard_late",
                       empty="None of your lanes was flagged late in the period.")
    elif kind == "supplier":
        sup = page.suppliers
        if page.returns_note:
            st.info(page.returns_note)
        if sup.empty:
            st.info("No purchase-order line of yours was due in the period.")
        else:
            r = sup.iloc[0]
            c = st.columns(5)
            tile(c[0], "Score", r["score"], "pct")
            tile(c[1], "OTIF", r["otif_rate"], "pct")
            tile(c[2], "On time", r["on_time_rate"], "pct")
            tile(c[3], "In full", r["in_full_rate"], "pct")
            tile(c[4], "Fill rate", r["fill_rate"], "pct")
            w = page.weights[page.weights["scorecard"] == "Suppliers"]
            parts = [f"{c if c[:2].isupper() else c[:1].lower() + c[1:]} {v:g} %"  # "PO lines" keeps its capitals
                     for c, v in zip(w["criterion"], w["weight_pct"], strict=True)]
            st.caption(("Band: **" + str(r["band"]) + "**. " if r["band"] else "")
                       + "The score weighs " + ", ".join(parts) + ".")
            show_table(us.view(sup, us.SUPPLIER_VIEW), key="scorecard_sup")
            download_buttons(sup, name=f"my_scorecard_{page.week}", key="scorecard_dl")
            st.altair_chart(us.leadtime_chart(sup.dropna(subset=["lt_mean_days"])), width="stretch")
            show_table(page.supplier_trend, key="scorecard_sup_trend")
        st.subheader("Draft purchase orders shared with you")
        drafts = load_shared_drafts(engine, viewer.cache_key, viewer)
        show_table(drafts, key="scorecard_shared_drafts", hide=["supplier"],
                   empty="No draft purchase order has been shared with you.")
        if not drafts.empty:
            download_buttons(drafts, name="shared_draft_pos", key="scorecard_drafts_dl")
    else:
        show_table(page.tpl, key="scorecard_tpl", empty="No order lines in your warehouses in the period.")
        download_buttons(page.tpl, name=f"my_scorecard_{page.week}", key="scorecard_dl")
        st.subheader("Carriers leaving your warehouses")
        show_table(us.view(page.carriers, [c_ for c_ in us.CARRIER_VIEW if c_ != "score_rank"]),
                   key="scorecard_tpl_carriers", empty="No shipments left your warehouses in the period.")
    us.definitions()
    if viewer.vendor_kind:
        st.download_button("Download this scorecard (HTML)", us.own_file(viewer, page),
                           file_name=f"scorecard_{viewer.vendor_code}_{page.week}.html", mime="text/html",
                           key="scorecard_dl_html", icon=":material/download:", on_click="ignore")

    st.subheader("Comments and disputes")
    us.show_flash("scorecard_dispute")
    show_table(us.view(page.disputes, us.DISPUTE_VIEW), key="scorecard_disputes",
               empty="You have not raised any dispute.")
    with st.form("scorecard_dispute_form"):
        st.selectbox("About", ["A week", "A shipment (tracking number)", "A PO line (PO number:line id)"],
                     key="scorecard_dispute_kind")
        st.text_input("Week, tracking number or PO line", key="scorecard_dispute_subject")
        st.text_area("Reason", key="scorecard_dispute_reason")
        st.form_submit_button("Send", on_click=us.on_raise_dispute, args=("scorecard_dispute", viewer))

with st.expander("Records we hold that involve you", expanded=False):
    shown = counts[counts["table"].isin(list(TABLE_LABELS))]
    cols = st.columns(max(len(shown), 1))
    for col, (_, row) in zip(cols, shown.iterrows(), strict=False):
        tile(col, TABLE_LABELS[row["table"]], row["rows"], "count")
