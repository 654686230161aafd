"""Returns root-cause: which products come back, why, what it costs, and what to fix first."""

import streamlit as st

from ops.decisions import THRESHOLD_ENTITY
from ui import returns as ur
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.downloads import download_buttons
from ui.editor import edit_table
from ui.table import column_config, show_table

viewer = require_page("returns")
flt = filters()
engine = get_engine()
manager = viewer.role in ("manager", "admin")

st.title("Returns root-cause")
st.session_state.setdefault("returns_by", "Category")
data = ur.load_page(engine, viewer.cache_key, viewer, flt, ur.BREAKDOWNS[st.session_state["returns_by"]])

ur.kpi_row(data.kpis)
st.caption(f"Tiles: sales of the sale week of {data.kpi_week or '–'} (the last settled week: returns arrive weeks "
           "after the sale and always count against the week of the sale) against the week before.")

if data.empty_reason:
    st.info(data.empty_reason, icon=":material/info:")
    st.stop()

st.subheader("Fix first")
st.caption("Priority = (the SKU's return rate - its category's) x units sold: the returned units above the category "
           "norm. SKUs selling fewer units than the minimum volume are not ranked.")
show_table(data.priority[ur.PRIORITY_VIEW], key="returns_priority",
           empty="No SKU with enough sales returns more than its category in this range.")
download_buttons(data.priority.drop(columns=["product_id", "key", "version"]), name="returns_priority",
                 key="returns_dl_priority")
if manager and not data.priority.empty:
    with st.expander("Assign an action", expanded=False):
        ur.action_form(viewer, data.priority)

st.subheader("Return rate by")
st.segmented_control("Break down by", list(ur.BREAKDOWNS), key="returns_by")
show_table(data.breakdown, key="returns_breakdown", overrides=None)
download_buttons(data.breakdown, name=f"returns_by_{ur.BREAKDOWNS[st.session_state['returns_by'] or 'Category']}",
                 key="returns_dl_breakdown")
st.altair_chart(ur.weekly_chart(data.weekly), width="stretch")

st.subheader("Why they come back")
c1, c2 = st.columns(2)
categories = sorted(data.heat_category["member"].unique())
category = c1.selectbox("Category", ["All", *categories], key="returns_category")
sizes = sorted(data.heat_size["member"].unique())
size = c2.selectbox("Size", ["All", *sizes], key="returns_size")
sel_cat = None if category == "All" else category
sel_size = None if size == "All" else size
if sel_cat or sel_size:
    sel = ur.load_selection(engine, viewer.cache_key, viewer, flt, sel_cat, sel_size)
    pareto, heat_size = sel["pareto"], sel["heat_size"]
else:
    pareto, heat_size = data.pareto, data.heat_size
st.altair_chart(ur.pareto_chart(pareto), width="stretch")
download_buttons(pareto, name="returns_pareto", key="returns_dl_pareto")
st.session_state.setdefault("returns_heat", "Reason x size")
heat = st.segmented_control("Heatmap", ["Reason x size", "Reason x category"], key="returns_heat")
heat_df = data.heat_category if heat == "Reason x category" else heat_size
st.altair_chart(ur.heatmap_chart(heat_df, "Category" if heat == "Reason x category" else "Size"), width="stretch")
st.caption("Colour: units returned for the reason / units sold of that size or category.")
download_buttons(heat_df, name="returns_heatmap", key="returns_dl_heat")

st.subheader("What returns cost")
show_table(data.cost, key="returns_cost", empty="No returns in this range.")
download_buttons(data.cost, name="returns_cost", key="returns_dl_cost")

st.subheader("Fulfilment accuracy")
target = data.thresholds[ur.ret.ACCURACY_TARGET_THRESHOLD]
st.altair_chart(ur.accuracy_chart(data.accuracy, target), width="stretch")
below = data.accuracy[data.accuracy["below_target"]]
show_table(below, key="returns_accuracy", empty=f"Every warehouse met the {target:g} % target in every sale week.")
download_buttons(data.accuracy, name="returns_accuracy", key="returns_dl_accuracy")

if not viewer.is_vendor:
    st.subheader("Comment themes")
    ur.show_flash("returns_themes")
    runs = ur.load_runs(engine, viewer)
    running = not runs.empty and runs["status"].iloc[0] in ("queued", "running")
    if running:
        st.progress(float(runs["progress"].iloc[0]), text=str(runs["note"].iloc[0]))
        st.button("Refresh progress", key="returns_themes_poll")
    elif manager:
        st.button("Mine comment themes", key="returns_themes_start", on_click=ur.start_themes, args=(viewer,),
                  help="Runs in the background (python -m ops returns themes); the page only reads the result.")
    done = runs[runs["status"] == "done"]
    th = ur.load_themes(engine, viewer.cache_key, viewer, int(done["run_id"].iloc[0]) if len(done) else None)
    if th["themes"].empty:
        st.info("No themes mined yet.")
    else:
        show_table(ur.themed_view(th["themes"], th["names"]), key="returns_themes")
        download_buttons(th["themes"], name="returns_themes", key="returns_dl_themes")
        if manager:
            ur.theme_form(viewer, th["themes"], th["names"], list(data.pareto["reason_code"]))

with st.expander("Thresholds and cost assumptions", expanded=False):
    thresholds = ur.load_thresholds(engine, viewer.cache_key, viewer)
    edit_table(thresholds, key="returns_thresholds", viewer=viewer, key_col="key", version_col="version",
               editable=["value"], entity_kind=THRESHOLD_ENTITY, read_only=not manager,
               column_config=column_config(thresholds))
