"""Forecasts: the model each SKU's backtest chose, its scores, the forecast with intervals, and overrides."""

import streamlit as st

from ops import fmt
from ui import forecast as uf
from ui.cache import get_engine
from ui.context import require_page
from ui.downloads import download_buttons
from ui.table import show_table, tile

viewer = require_page("forecast")
engine = get_engine()
planner = viewer.role in ("admin", "manager", "planner")

st.title("Forecasts")
st.caption("Weekly demand per SKU over all warehouses. Each SKU gets the model that won its rolling-origin "
           "backtest; the seasonal-naive baseline is kept where nothing beat it or the history is short.")

uf.progress_panel(engine, viewer)
if planner:
    uf.show_flash("forecast_start")
    status = uf.load_status(engine, viewer)
    c1, c2 = st.columns(2)
    c1.button("Run the forecast now", on_click=uf.start_run, args=(viewer, None), disabled=status.status == "running",
              help="Starts the job in the background (backtest, model choice and forecast for every SKU).")
    if status.status in ("failed", "interrupted") and status.run_id is not None:
        c2.button(f"Resume run {status.run_id}", on_click=uf.start_run, args=(viewer, status.run_id),
                  help="Finishes the run without redoing the SKUs it already stored.")

data = uf.load_page(engine, viewer.cache_key, viewer)
if data.empty_reason:
    st.info(data.empty_reason, icon=":material/info:")
    st.stop()

st.caption(f"Latest finished forecast: run {data.success_id}, history up to {fmt.date(data.as_of)}.")
total = data.summary[data.summary["pattern"] == "all"]
if not total.empty:
    row = total.iloc[0]
    cols = st.columns(4)
    tile(cols[0], "WAPE, chosen models", row["chosen_wape"], "pct", help="Backtest: absolute errors / units sold.")
    tile(cols[1], "WAPE, seasonal naive", row["naive_wape"], "pct")
    tile(cols[2], "Chosen / naive", row["wape_ratio"], "number", help="Below 1: the chosen models beat the baseline.")
    tile(cols[3], "SKUs on the baseline by fallback", row["fallbacks"], "count")
    st.subheader("By demand pattern")
    show_table(data.summary, key="forecast_patterns")

st.subheader("Model per SKU")
show_table(data.choices, key="forecast_choices")
download_buttons(data.choices, name="forecast_choices", key="forecast_dl_choices")

names = {str(s): str(n) for s, n in data.choices[["sku", "name"]].itertuples(index=False)}
sku = st.selectbox("SKU", list(names), format_func=lambda s: f"{s} · {names[s]}", key="forecast_sku")
if sku:
    detail = uf.load_sku(engine, viewer.cache_key, viewer, sku)
    ch = detail.choice or {}
    cols = st.columns(4)
    cols[0].metric("Model", uf.MODEL_LABELS.get(str(ch.get("model", "")), fmt.MISSING), border=True)
    tile(cols[1], "Backtest WAPE", ch.get("wape"), "pct")
    tile(cols[2], "Baseline WAPE", ch.get("baseline_wape"), "pct")
    tile(cols[3], "Stockout days corrected", ch.get("censored_days"), "count",
         help="Days without stock on hand; their weeks were corrected before fitting and left out of scoring.")
    if ch.get("fallback_reason"):
        st.caption(f"On the baseline: {ch['fallback_reason']}.")
    st.altair_chart(uf.forecast_chart(detail.history, detail.weeks), width="stretch")
    show_table(detail.weeks[uf.WEEK_VIEW], key="forecast_weeks")
    download_buttons(detail.weeks[uf.WEEK_VIEW], name=f"forecast_{sku}", key="forecast_dl_weeks")
    with st.expander("Every model's backtest"):
        show_table(detail.scores[uf.SCORE_VIEW], key="forecast_scores", empty="No backtest scores for this SKU.")
    if planner:
        st.subheader("Override a week")
        uf.override_form(viewer, detail)
