"""OpsDeck router: page config, sign-in gate, shared sidebar filters, role-based navigation."""

from __future__ import annotations

import streamlit as st

from ui import auth, context, nav, sidebar

st.set_page_config(page_title="OpsDeck", page_icon=":material/inventory_2:", layout="wide")

viewer = auth.gate()  # stops with the sign-in form until someone is signed in
st.session_state[context.VIEWER_KEY] = viewer
st.session_state[context.FILTERS_KEY] = sidebar.global_filters(viewer)
sidebar.account_box(viewer)
sidebar.freshness_line(viewer)

st.navigation(nav.pages_for(viewer)).run()
