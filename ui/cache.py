"""The one cache layer: the engine as a resource, data loaders as cached data.

Every loader that returns scoped rows takes ``viewer_key`` (``Viewer.cache_key``) as an
ordinary argument so one viewer's cached rows never reach another (the cache is shared by all
sessions of the app). ``_engine`` is left out of the key on purpose: there is one per process.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from ops.db import database_url, make_engine

TTL_SECONDS = 300
MAX_ENTRIES = 64


@st.cache_resource
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    """The process-wide engine for the current OPS_DATABASE_URL (keyed by URL, so tests can switch)."""
    return _engine_for(database_url())


def clear_loaders() -> None:
    """Drop every cached loader result (after a write or an import)."""
    st.cache_data.clear()
