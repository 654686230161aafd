"""Reorder planner: how much to order and when, what if, and the draft POs to approve."""

import streamlit as st

from ops import planner as pl
from ops.planner.exports import COMPARE_LABELS
from ops.planner.math import InputError
from ui import planner as ui_pl
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.downloads import download_buttons
from ui.table import show_table, tile

viewer = require_page("planner")
engine = get_engine()
f = filters()
st.session_state.setdefault(ui_pl.POLICY, "")

st.title("Reorder planner")
try:
    page = ui_pl.load_page(engine, viewer.cache_key, viewer, f, st.session_state[ui_pl.POLICY])
except InputError as exc:  # impossible master data (an MOQ of 0, a case pack not dividing the MOQ)
    st.error(f"The plan cannot be computed: {exc}. Correct it in the product data and import again.")
    st.session_state[ui_pl.POLICY] = ""
    st.stop()
ui_pl.show_flash()
if page.empty_reason:
    st.info(page.empty_reason)
    st.stop()
policy = pl.Policy.from_json(st.session_state[ui_pl.POLICY]) if st.session_state[ui_pl.POLICY] else pl.Policy()
target = "fill rate" if policy.target == "fill_rate" else "cycle service level"
st.caption(f"As of {page.as_of:%Y-%m-%d} (last inventory snapshot) · {target} {policy.service_level:.1%} · review "
           f"every {policy.review_days:g} days · warehouses: {', '.join(f.warehouses) or 'all'}.")
for note in page.notes:
    st.info(note, icon=":material/info:")

with st.expander("What if: service level, demand, lead time, MOQ, budget", expanded=False):
    ui_pl.policy_form(page, viewer)

s = page.summary
c = st.columns(4)
tile(c[0], "Lines to order", s["lines"], "count")
tile(c[1], "Critical SKUs", s["critical"], "count", higher_is_better=False,
     help="The stock runs out before a new order could arrive and before an open PO lands: expedite.")
tile(c[2], "Suggested order value", s["order_value"], "money")
tile(c[3], "Expected fill rate", s["fill_rate"], "pct",
     help="1 - expected units short / demand of one review cycle, after these orders.")
if page.budget_message:
    st.warning(page.budget_message)

views = ["Suggested orders", "Draft POs", "Explain", "Scenarios", "Risk"]
view = st.segmented_control("View", views, default="Suggested orders", key="planner_view") or views[0]

if view == "Suggested orders":
    if page.lines.empty:
        st.success("Nothing to order: every inventory position covers its order-up-to level.")
    else:
        st.caption("Most urgent first. Edit “Units to order” (0 drops a line), then approve: the lines become "
                   "open purchase orders, one per supplier and warehouse.")
        grid = ui_pl.editor_frame(page.lines)
        edited = st.data_editor(grid, key=ui_pl.EDITOR, hide_index=True, width="stretch",
                                disabled=[c for c in grid.columns if c != "order_qty"],
                                column_config=ui_pl.editor_config(grid))
        why = st.text_input("Reason (optional, kept in the audit log)", key="planner_why")
        if st.button("Approve as purchase orders", type="primary", key="planner_approve"):
            ui_pl.approve(edited, page, viewer, why)
            st.rerun()
        download_buttons(page.lines, name="planner_lines", key="planner_dl_lines")
    with st.expander("Approved purchase orders (CSV for the ERP)"):
        erp = ui_pl.load_erp(engine, viewer.cache_key, viewer, f)
        show_table(erp, key="planner_erp", empty="No purchase orders approved here yet.")
        if not erp.empty:
            download_buttons(erp, name="planner_erp_pos", key="planner_dl_erp")
elif view == "Draft POs":
    show_table(page.drafts, key="planner_drafts", empty="No draft POs: nothing to order.")
    download_buttons(page.drafts, name="planner_drafts", key="planner_dl_drafts")
    if viewer.role in ("admin", "manager") and not page.drafts.empty:
        options = [f"{a} @ {b}" for a, b in zip(page.drafts["supplier"], page.drafts["warehouse"], strict=True)]
        pick = st.selectbox("Share a draft with its supplier", options, key="planner_share_pick")
        if pick and st.button("Share draft", key="planner_share"):
            sup, wh = pick.split(" @ ")
            ui_pl.share(page, viewer, sup, wh)
            st.rerun()
elif view == "Explain":
    skus = list(dict.fromkeys(page.lines["sku"])) or sorted(page.plan["sku"].unique())
    st.session_state.setdefault("planner_explain_sku", skus[0] if skus else None)
    sku = st.selectbox("SKU", skus, key="planner_explain_sku")
    for para in pl.explain(page.plan, sku) if sku else []:
        st.markdown(para)
elif view == "Scenarios":
    saved = ui_pl.load_scenarios(engine, viewer.cache_key, viewer)
    names = st.multiselect("Compare with the baseline", list(saved["name"]), default=list(saved["name"])[:3],
                           key="planner_compare_names")
    summary, by_supplier = ui_pl.load_compare(engine, viewer.cache_key, viewer, f, tuple(names))
    st.dataframe(ui_pl.summary_view(summary), hide_index=True, width="stretch")
    measure = st.selectbox("Chart", list(COMPARE_LABELS), format_func=COMPARE_LABELS.get, key="planner_cmp_measure")
    st.altair_chart(ui_pl.compare_chart(summary, measure, COMPARE_LABELS[measure]), width="stretch")
    st.caption("Order value per supplier")
    show_table(by_supplier, key="planner_cmp_suppliers", empty="No supplier has anything to order.")
    if saved.empty:
        st.caption("No saved scenarios yet: open “What if”, set the parameters and give the scenario a name.")
else:
    rows = page.lines if not page.lines.empty else page.plan
    options = [f"{a} @ {b}" for a, b in zip(rows["sku"], rows["warehouse"], strict=True)]
    pick = st.selectbox("SKU @ warehouse", options, key="planner_risk_pick")
    if pick:
        sku, wh = pick.split(" @ ")
        res = ui_pl.load_simulation(engine, viewer.cache_key, viewer, f, st.session_state[ui_pl.POLICY], sku, wh)
        c = st.columns(3)
        tile(c[0], "Stockout probability", res.stockout_probability, "pct", higher_is_better=False,
             help="Share of 10,000 simulated paths with at least one day short in the next 91 days.")
        tile(c[1], "Expected fill rate", res.fill_rate, "pct")
        tile(c[2], "Cycle service level", res.cycle_service_level, "pct")
        st.altair_chart(ui_pl.fan_chart(res.fan, f"On hand, {sku} @ {wh}"), width="stretch")
        st.caption("Demand and lead times drawn from their distributions (seeded); the policy reorders up to "
                   "its level every review; demand not served is lost.")
