"""OpsDeck router: page config, sign-in gate, shared sidebar filters, role-based navigation."""

from __future__ import annotations

import streamlit as st

from ui import auth, context, errors, nav, sidebar
from ui.cache import sync_with_database

st.set_page_config(page_title="OpsDeck", page_icon=":material/inventory_2:", layout="wide")
sync_with_database()  # another app process may have written since: drop what this one cached

viewer = auth.gate()  # re-checks the session every rerun; stops with the sign-in form until someone is signed in
st.session_state[context.VIEWER_KEY] = viewer
sidebar.account_box(viewer)  # before anything that can fail, so sign-out is always there
auth.account_menu(viewer)  # "My account": change your password
sections, by_id = nav.page_objects(viewer)
page = st.navigation(sections)
landing = st.session_state.pop(auth.LANDING_KEY, None)
if landing in by_id and landing != nav.current_id(page, by_id):
    # signed in from a pasted link: open the page it named, with its filters
    st.switch_page(by_id[landing], query_params=st.query_params.to_dict())

with errors.boundary():
    st.session_state[context.FILTERS_KEY] = sidebar.global_filters(
        viewer, nav.filters_for(nav.current_id(page, by_id), viewer))
    sidebar.freshness_line(viewer)
    page.run()
