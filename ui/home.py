"""The Overview page's parts: each registered domain's headline, cached per viewer and filters."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import fmt, headline_store
from ops.access import Viewer
from ops.db import read_session
from ops.domain import Domain, Headline, Kpi, load_domains
from ops.filters import Filters
from ui.cache import MAX_ENTRIES, TTL_SECONDS
from ui.table import show_table, tile

TOP = 5


def inbox_section(engine: Engine, viewer: Viewer, filters: Filters) -> None:
    """The exceptions inbox: every breached threshold of every page the viewer may open, one list."""
    from ui import review

    df = review.load_inbox(engine, viewer.cache_key, viewer, filters)
    open_items = df[df["status"] != "resolved"]
    st.subheader("Exceptions inbox")
    st.caption(f"{fmt.count(len(open_items))} open of {fmt.count(len(df))}: each page's top breached thresholds. "
               "Open a row's page to see the filtered view that explains it; a status change is recorded in the "
               "audit log.")
    review.inbox_table(df, key="home_inbox")
    review.status_form(engine, viewer, df, key="home_inbox")


def domain_filters(filters: Filters, domain: Domain) -> Filters:
    """Only the filters the domain reads, so its cached headline is keyed on what matters."""
    return Filters(
        date_from=filters.date_from if "dates" in domain.filters else None,
        date_to=filters.date_to if "dates" in domain.filters else None,
        warehouses=filters.warehouses if "warehouses" in domain.filters else (),
        channels=filters.channels if "channels" in domain.filters else (),
    )


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_headline(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, domain_id: str,
                  filters: Filters) -> Headline:
    """One domain's headline for one viewer and filters."""
    domain = load_domains()[domain_id]
    assert domain.headline is not None  # ui.nav.headline_domains offers only domains with one
    with read_session(_engine) as s:
        return headline_store.headline(s, viewer, filters, domain)


def _target_help(k: Kpi) -> str:
    text = k.help or ""
    if k.target is not None and not pd.isna(k.target):
        text += f" Target: {fmt.value(k.target, k.kind)}."
    return text.strip()


def render(domain: Domain, headline: Headline) -> None:
    """A domain's section: its KPIs, its top exceptions, a link to the page; or why it is empty."""
    st.subheader(domain.title)
    if headline.note:
        st.caption(headline.note)
    if headline.empty_reason:
        st.info(headline.empty_reason, icon=":material/info:")
    else:
        if headline.kpis:
            for col, k in zip(st.columns(len(headline.kpis)), headline.kpis, strict=True):
                tile(col, k.label, k.value, k.kind, change=k.change, higher_is_better=k.higher_is_better,
                     help=_target_help(k) or None)
        top = headline.exceptions.head(TOP)
        if top.empty:
            st.success(f"No open {domain.title.lower()} exceptions.")
        else:
            shown = top.dropna(axis=1, how="all")
            show_table(shown, key=f"home_{domain.id}_top")
    st.page_link(f"app_pages/{domain.id}.py", label=f"Open {domain.title}", icon=":material/arrow_forward:")
