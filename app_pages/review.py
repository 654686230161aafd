"""Weekly review: the week's KPIs against the previous week and target, the inbox, events and the report."""

import streamlit as st

from ui import review
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.table import show_table

viewer = require_page("review")
flt = filters()
engine = get_engine()

st.title("Weekly review")
week = review.week_picker(engine, viewer)
st.caption(f"{week.label} against {week.previous().label}. The link holds the week and the filters, so it opens "
           "this same view. Each KPI says what it measures, its threshold and where that threshold is set.")

kpis = review.load_kpis(engine, viewer.cache_key, viewer, week.label, flt)
review.kpi_table(kpis, key="review_kpis")
reasons, sat, trend = review.load_side(engine, viewer.cache_key, viewer, week.label, flt)

st.subheader("Customer satisfaction and late deliveries")
st.markdown(review.satisfaction_text(sat))
st.subheader("Top return reasons of this week's sales")
show_table(reasons, key="review_reasons", empty="No returns yet of this week's sales (with a warehouse or channel "
           "filter none are listed: the Returns page's reasons have neither).")

st.subheader("Weekly trend")
notes = review.trend_annotations(engine, viewer, trend)
st.altair_chart(review.trend_chart(trend, notes), width="stretch")
review.annotation_form(engine, viewer, week)

st.subheader("Exceptions")
st.caption("Breached thresholds over the four weeks ending with the review week.")
items = review.load_inbox(engine, viewer.cache_key, viewer, review.inbox_filters(week, flt))
review.inbox_table(items, key="review_inbox")
review.status_form(engine, viewer, items, key="review_inbox")

st.subheader("Report")
st.caption("The report as you see it here: KPIs, trend chart, exceptions with owners, decisions of the week.")
review.report_buttons(engine, viewer, week, flt)
