"""Streamlit-only helpers: cached loaders, session state, widgets, charts."""
