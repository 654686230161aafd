"""Cached loaders and widgets for thresholds and the audit log (ops.decisions)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops.access import Viewer
from ops.db import read_session
from ops.decisions import audit_facets, audit_log, entity_states, threshold_table
from ui.cache import MAX_ENTRIES, TTL_SECONDS


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_threshold_table(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    """Every threshold's global value and stored overrides, with where each value comes from."""
    with read_session(_engine) as s:
        return threshold_table(s, viewer=viewer)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_audit_log(
    _engine: Engine,
    viewer_key: tuple[str, ...],
    viewer: Viewer,
    actor: str | None = None,
    action: str | None = None,
    entity_kind: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> pd.DataFrame:
    """The audit log for ``viewer`` with the page's filters (newest first)."""
    with read_session(_engine) as s:
        return audit_log(s, viewer=viewer, actor=actor, action=action, entity_kind=entity_kind,
                         date_from=date_from, date_to=date_to)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_audit_facets(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> dict[str, list[str]]:
    """Distinct actors, actions and entity kinds, for the audit log's filter dropdowns."""
    with read_session(_engine) as s:
        return audit_facets(s, viewer=viewer)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_entity_states(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer,
                       entity_kind: str | None = None) -> pd.DataFrame:
    """Stored states of ``entity_kind`` (all kinds when None) with each vendor's response, for editors."""
    with read_session(_engine) as s:
        return entity_states(s, viewer=viewer, entity_kind=entity_kind)
