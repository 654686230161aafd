"""Session-state keys shared by app.py and the pages: who is signed in, which filters are set."""

from __future__ import annotations

import streamlit as st

from ops.access import Viewer
from ops.filters import Filters

VIEWER_KEY = "viewer"
FILTERS_KEY = "filters"


def viewer() -> Viewer:
    """The signed-in viewer; app.py's login gate guarantees one before a page runs."""
    v = st.session_state.get(VIEWER_KEY)
    if not isinstance(v, Viewer):
        st.error("You are not signed in.")
        st.stop()
    return v


def filters() -> Filters:
    """The global sidebar filters set by app.py."""
    f = st.session_state.get(FILTERS_KEY)
    return f if isinstance(f, Filters) else Filters()


def require_page(page: str) -> Viewer:
    """Stop the page with a refusal unless the signed-in viewer may open ``page``."""
    v = viewer()
    if not v.may_open(page):
        st.error("You do not have access to this page. Ask an admin if you need it.")
        st.stop()
    return v
