"""Placeholder: this area is planned and not built yet."""

import streamlit as st

from ui.context import require_page

require_page("returns")
st.title("returns".capitalize())
st.info("This page is not built yet. It is planned; see the roadmap in README.md.")
