"""The one cache layer: the engine as a resource, data loaders as cached data, kept coherent across processes.

Every loader that returns scoped rows takes ``viewer_key`` (``Viewer.cache_key``) as an
ordinary argument so one viewer's cached rows never reach another (the cache is shared by all
sessions of the app). ``_engine`` is left out of the key on purpose: there is one per process.

Several app processes (replicas) may serve one database. A write clears the caches of the
process that made it (``clear_loaders``); the others learn of it from ``sync_with_database``,
which ``app.py`` calls at the start of every rerun: it reads ``ops.freshness.data_version`` (one
cheap query) and clears this process's caches when the version differs from the one it last saw.
So a decision made in one replica shows in every other on its next rerun, not after the TTL.
"""

from __future__ import annotations

import logging
import threading

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ops.db import database_url, make_engine, read_session
from ops.freshness import data_version

TTL_SECONDS = 300
MAX_ENTRIES = 64

log = logging.getLogger(__name__)

# What this process last saw: (database URL, data version). Module-level, so shared by every
# session of the process, like the caches it guards; the lock makes compare-and-clear one step.
_SEEN: dict[str, tuple[str, tuple[int, ...]] | None] = {"last": None}
_SEEN_LOCK = threading.Lock()


@st.cache_resource
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    """The process-wide engine for the current OPS_DATABASE_URL (keyed by URL, so tests can switch)."""
    return _engine_for(database_url())


def clear_loaders() -> None:
    """Drop every cached loader result (after a write or an import)."""
    st.cache_data.clear()


def sync_with_database() -> bool:
    """Clear this process's cached data when the database changed since this process last looked.

    Called once at the start of every rerun (``app.py``). Compares the database URL and
    ``data_version`` with what this process saw last; when either differs, every cached loader
    is cleared before the page loads. A failed version read (a database being set up, a
    connection blip) also clears: stale data is worse than a slower page. Returns True when the
    caches were cleared.
    """
    url = database_url()
    seen: tuple[str, tuple[int, ...]] | None
    try:
        with read_session(get_engine()) as s:
            seen = (url, data_version(s))
    except SQLAlchemyError as exc:
        log.warning("could not read the data version (%s); clearing the caches", type(exc).__name__)
        seen = None
    with _SEEN_LOCK:
        if seen is not None and _SEEN["last"] == seen:
            return False
        st.cache_data.clear()
        _SEEN["last"] = seen
    return True
