"""Scorecards: carriers by lane, suppliers, 3PLs, late-lane flags, disputes to answer, and the score's weights."""

import streamlit as st

from ops import scorecards as sc
from ui import scorecards as us
from ui.cache import get_engine
from ui.context import require_page
from ui.downloads import download_buttons
from ui.editor import show_flash as show_save_flash
from ui.table import show_table

viewer = require_page("carriers")
engine = get_engine()

st.title("Scorecards")
st.session_state.setdefault("carriers_week", "")
week = st.text_input("Week (ISO, e.g. 2026-W47; empty: the latest)", key="carriers_week").strip() or None
try:
    sc.parse_week(week)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
st.session_state.setdefault("carriers_view", "Carriers")
section = st.segmented_control("Scorecard", ["Carriers", "Suppliers", "3PLs", "Disputes", "Weights & bands"],
                               key="carriers_view") or "Carriers"
loads = {"Carriers": ("carriers",), "Suppliers": ("suppliers",), "3PLs": ("tpl",)}.get(section, ())
page = us.load_page(engine, viewer.cache_key, viewer, week, loads)
if page.empty_reason:
    st.info(page.empty_reason)
    st.stop()
st.caption(f"{page.period}. Lanes with fewer shipments than the minimum volume are shown but not ranked or flagged.")
if page.weights_problem:
    st.error(page.weights_problem)
us.definitions()
st.download_button("Every vendor's scorecard files (zip: one HTML + CSV each, only its own data)",
                   us.vendor_files_zip(week), file_name=f"scorecards_{page.week}.zip", mime="application/zip",
                   key="carriers_dl_vendor_files", icon=":material/download:", on_click="ignore")

if section == "Carriers":
    st.subheader("Late lanes")
    show_table(us.view(page.late_lanes, us.LANE_WEEK_VIEW), key="carriers_late",
               empty="No carrier lane with the minimum volume fell below the late-lane rate in the period.")
    st.subheader("Carrier scorecard by lane")
    show_table(us.view(page.carriers, us.CARRIER_VIEW), key="carriers_table")
    download_buttons(page.carriers, name=f"carrier_scorecard_{page.week}", key="carriers_dl")
    st.subheader("On-time delivery by week")
    st.altair_chart(us.trend_chart(page.trend), width="stretch")
    download_buttons(page.trend, name=f"carrier_trend_{page.week}", key="carriers_dl_trend")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Cost per package vs on time** (ranked lanes)")
        st.altair_chart(us.cost_chart(page.carriers[page.carriers["ranked"].astype(bool)]), width="stretch")
    with c2:
        lanes = sorted(page.transit["lane"].unique())
        lane = st.selectbox("Transit time on lane", lanes, key="carriers_lane") if lanes else None
        if lane:
            st.altair_chart(us.transit_chart(page.transit[page.transit["lane"] == lane]), width="stretch")
    with st.expander("Flag a carrier lane or record a corrective action"):
        us.show_flash("carriers_flag")
        pairs = sorted({f"{r.carrier}|{r.lane}" for r in page.carriers.itertuples()})
        key = st.selectbox("Carrier lane", pairs, key="carriers_flag_key", format_func=lambda k: k.replace("|", " "))
        if key:
            version, state = us.flag_version(viewer, sc.LANE_ENTITY, key)
            st.caption(f"Now: {state or 'not flagged'}")
            with st.form("carriers_flag_form"):
                st.selectbox("State", ["flagged", "acknowledged", "open"], key="carriers_flag_state")
                st.text_area("Corrective action / note", key="carriers_flag_note")
                st.form_submit_button("Save", on_click=us.on_flag,
                                      args=("carriers_flag", viewer, sc.LANE_ENTITY, key, version))

elif section == "Suppliers":
    if page.returns_note:
        st.info(page.returns_note)
    show_table(us.view(page.suppliers, us.SUPPLIER_VIEW), key="carriers_suppliers",
               empty="No purchase-order line was due in the period.")
    download_buttons(page.suppliers, name=f"supplier_scorecard_{page.week}", key="carriers_dl_sup")
    st.markdown("**Lead time: stated (red tick) vs measured mean (bar) and p90 (dot)**")
    st.altair_chart(us.leadtime_chart(page.suppliers.dropna(subset=["lt_mean_days"])), width="stretch")
    with st.expander("Flag a supplier or record a corrective action"):
        us.show_flash("carriers_sflag")
        sup = st.selectbox("Supplier", page.suppliers["supplier"].tolist(), key="carriers_sflag_key")
        if sup:
            version, state = us.flag_version(viewer, sc.SUPPLIER_ENTITY, sup)
            st.caption(f"Now: {state or 'not flagged'}")
            with st.form("carriers_sflag_form"):
                st.selectbox("State", ["flagged", "acknowledged", "open"], key="carriers_sflag_state")
                st.text_area("Corrective action / note", key="carriers_sflag_note")
                st.form_submit_button("Save", on_click=us.on_flag,
                                      args=("carriers_sflag", viewer, sc.SUPPLIER_ENTITY, sup, version))

elif section == "3PLs":
    st.caption("Fulfilment SLA figures of the warehouses each 3PL operates, for orders placed in the period.")
    show_table(page.tpl, key="carriers_tpl", empty="No warehouse is run by a 3PL.")
    download_buttons(page.tpl, name=f"tpl_scorecard_{page.week}", key="carriers_dl_tpl")

elif section == "Disputes":
    us.show_flash("carriers_dispute")
    show_table(us.view(page.disputes, us.DISPUTE_VIEW), key="carriers_disputes", empty="No dispute was raised.")
    open_ = page.disputes[page.disputes["state"] == "open"] if not page.disputes.empty else page.disputes
    if not page.disputes.empty:
        ids = page.disputes["id"].tolist()
        pick = st.selectbox("Answer dispute", ids, key="carriers_dispute_id",
                            format_func=lambda i: f"#{i}" + (" (open)" if i in set(open_["id"]) else ""))
        row = page.disputes[page.disputes["id"] == pick].iloc[0]
        with st.form("carriers_dispute_form"):
            st.selectbox("Status", list(sc.DISPUTE_STATES), key="carriers_dispute_state")
            st.text_area("Answer to the vendor", key="carriers_dispute_note")
            st.form_submit_button("Save answer", on_click=us.on_decide,
                                  args=("carriers_dispute", viewer, int(pick), int(row["version"])))
        st.caption("Accepting a shipment or PO-line dispute removes that row from every figure (see 'Excluded').")

else:
    current = us.load_weights(engine, viewer.cache_key, viewer)
    show_save_flash("carriers_weights")
    us.show_flash("carriers_weights")
    show_table(page.weights.drop(columns=["threshold"]), key="carriers_weights_table")
    glob = current[current["scope_kind"] == "global"].set_index("name")
    with st.form("carriers_weights_form"):
        for name in [*sc.thresholds.WEIGHT_THRESHOLDS, *sc.thresholds.SUPPLIER_WEIGHT_THRESHOLDS,
                     *sc.thresholds.BAND_THRESHOLDS, sc.thresholds.TARGET_THRESHOLD]:
            st.session_state.setdefault(f"carriers_weights_{name}", float(glob.loc[name, "value"]))
            st.number_input(str(glob.loc[name, "label"]) if "label" in glob.columns else name, min_value=0.0,
                            max_value=100.0, step=1.0, key=f"carriers_weights_{name}")
        st.text_input("Why", key="carriers_weights_why")
        st.form_submit_button("Save weights and bands", on_click=us.on_save_weights,
                              args=("carriers_weights", viewer, current))
