"""Shared sidebar: global filters kept in the URL, the account box and the data-freshness line."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops.access import Viewer
from ops.db import read_session
from ops.filters import Filters
from ops.freshness import data_freshness, row_counts
from ops.reference import data_span, filter_options
from ui.cache import MAX_ENTRIES, TTL_SECONDS, get_engine

DEFAULT_DAYS = 90


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def _options(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> dict[str, list[str]]:
    with read_session(_engine) as s:
        return filter_options(s, viewer=viewer)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def _span(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> tuple[dt.date, dt.date] | None:
    with read_session(_engine) as s:
        return data_span(s, viewer=viewer)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def _freshness(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> tuple[pd.DataFrame, pd.DataFrame]:
    with read_session(_engine) as s:
        return data_freshness(s, viewer=viewer), row_counts(s, viewer=viewer)


def _parse_date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def global_filters(viewer: Viewer) -> Filters:
    """Render the date / warehouse / channel filters; mirror them into the URL query string."""
    engine = get_engine()
    qp = st.query_params
    opts = _options(engine, viewer.cache_key, viewer)
    span = _span(engine, viewer.cache_key, viewer)
    end_default = span[1] if span else dt.date.today()
    start_default = max(span[0], end_default - dt.timedelta(days=DEFAULT_DAYS - 1)) if span else end_default
    start = _parse_date(qp.get("from")) or start_default
    end = _parse_date(qp.get("to")) or end_default
    wh_q = [w for w in (qp.get("wh") or "").split(",") if w in opts["warehouses"]]
    ch_q = [c for c in (qp.get("ch") or "").split(",") if c in opts["channels"]]

    with st.sidebar:
        st.subheader("Filters")
        picked = st.date_input("Date range", value=(start, end), key="global_dates", format="YYYY-MM-DD")
        warehouses = st.multiselect("Warehouse", opts["warehouses"], default=wh_q, key="global_wh",
                                    placeholder="All warehouses")
        channels = st.multiselect("Channel", opts["channels"], default=ch_q, key="global_ch",
                                  placeholder="All channels")
    if isinstance(picked, tuple) and len(picked) == 2:
        start, end = picked
    elif isinstance(picked, tuple) and len(picked) == 1:
        start = end = picked[0]
    qp["from"], qp["to"] = start.isoformat(), end.isoformat()
    for key, values in (("wh", warehouses), ("ch", channels)):
        if values:
            qp[key] = ",".join(values)
        elif key in qp:
            del qp[key]
    return Filters(date_from=start, date_to=end, warehouses=tuple(warehouses), channels=tuple(channels))


def account_box(viewer: Viewer) -> None:
    """Who is signed in, and a sign-out button."""
    from ui import auth

    with st.sidebar:
        scope = f" · {viewer.vendor_kind} {viewer.vendor_code}" if viewer.is_vendor else ""
        st.caption(f"Signed in as **{viewer.username}** ({viewer.role}{scope})")
        st.button("Sign out", key="sign_out", on_click=auth.sign_out)


def freshness_line(viewer: Viewer) -> None:
    """One line: when data last arrived, the last day it covers, and how much is loaded."""
    engine = get_engine()
    imports, counts = _freshness(engine, viewer.cache_key, viewer)
    span = _span(engine, viewer.cache_key, viewer)
    by_table = dict(zip(counts["table"], counts["rows"], strict=True))
    last = imports["finished_at"].dropna()
    when = last.iloc[0].strftime("%Y-%m-%d %H:%M") if len(last) else "never"
    covers = f" · orders to {span[1]:%Y-%m-%d}" if span else ""
    with st.sidebar:
        st.caption(
            f"Last import {when} UTC{covers} · {by_table.get('orders', 0):,} orders · "
            f"{by_table.get('products', 0):,} SKUs"
        )
