"""Sign-in gate (placeholder until local accounts and SSO land): uses a viewer already in session state."""

from __future__ import annotations

import streamlit as st

from ops.access import Viewer
from ui.context import VIEWER_KEY


def gate() -> Viewer:
    v = st.session_state.get(VIEWER_KEY)
    if isinstance(v, Viewer):
        return v
    st.title("OpsDeck")
    st.info("Sign-in is not configured yet.")
    st.stop()
    raise AssertionError("unreachable")


def sign_out() -> None:
    st.session_state.pop(VIEWER_KEY, None)
