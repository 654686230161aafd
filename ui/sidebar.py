"""Shared sidebar: global filters kept in the URL, the account box and the data-freshness line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops.access import Viewer
from ops.db import read_session
from ops.filters import Filters
from ops.freshness import data_freshness, row_counts
from ops.reference import data_span, filter_options
from ops.review.week import Week, last_full_week, parse_week
from ui.cache import MAX_ENTRIES, TTL_SECONDS, get_engine

DEFAULT_DAYS = 90
LAST_FILTERS_KEY = "filters_last"  # the filters last used, kept while pages that hide them are open
LAST_WEEK_KEY = "review_week_last"  # the review week last used ("" when review mode was turned off)
WEEK_PARAM = "week"  # review mode in the URL: ?week=2026-W47 (the Weekly review page reads the same)
REVIEW_WEEKS = 26  # weeks offered in the review-week list


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


@dataclass(frozen=True)
class FilterDefaults:
    """Where the sidebar's starting values come from, and what it has to tell the person."""

    start: dt.date
    end: dt.date
    warehouses: tuple[str, ...]
    channels: tuple[str, ...]
    notes: tuple[str, ...]
    week: Week | None = None  # review mode: the dates are this ISO week


def resolve_defaults(query: dict[str, str], span: tuple[dt.date, dt.date] | None, options: dict[str, list[str]],
                     last: Filters | None, today: dt.date, last_week: str | None = None) -> FilterDefaults:
    """The filter values to start from: the link's, else the last ones used, else the data's last 90 days.

    Pure (no Streamlit), so every odd link is tested: a reversed range is swapped, an unreadable
    date falls back, unknown warehouse or channel codes are dropped, and each of these is said.
    **Review mode**: a ``week`` in the link (``2026-W47``), else the review week last used
    (``last_week``; "" = turned off), sets the dates to that ISO week, Monday to Sunday; the pages'
    KPIs then compare it with the week before. An unreadable week is said and ignored.
    """
    notes: list[str] = []
    week: Week | None = None
    raw_week = query.get(WEEK_PARAM) or (last_week if last_week is not None and not query.get("from") else "")
    if raw_week:
        try:
            week = parse_week(raw_week)
        except ValueError as exc:
            notes.append(f"The link's review {exc}; it was ignored.")
    end_default = span[1] if span else today
    start_default = max(span[0], end_default - dt.timedelta(days=DEFAULT_DAYS - 1)) if span else \
        end_default - dt.timedelta(days=DEFAULT_DAYS - 1)
    if last is not None and last.date_from and last.date_to:
        start_default, end_default = last.date_from, last.date_to
    q_from, q_to = _parse_date(query.get("from")), _parse_date(query.get("to"))
    for name in ("from", "to"):
        if query.get(name) and _parse_date(query.get(name)) is None:
            notes.append(f"The link's '{name}' date {query[name]!r} is not a date (YYYY-MM-DD); it was ignored.")
    start, end = q_from or start_default, q_to or end_default
    if week is not None:
        start, end = week.start, week.end
    if start > end:
        start, end = end, start
        notes.append(f"The date range was reversed; showing {start:%Y-%m-%d} to {end:%Y-%m-%d}.")
    picked: dict[str, tuple[str, ...]] = {}
    for key, opt, what in (("wh", "warehouses", "warehouse"), ("ch", "channels", "channel")):
        raw = [v for v in (query.get(key) or "").split(",") if v]
        if raw:
            known = tuple(v for v in raw if v in options[opt])
            unknown = [v for v in raw if v not in options[opt]]
            if unknown:
                notes.append(f"Unknown {what} {', '.join(repr(u) for u in unknown)} in the link was ignored.")
        else:
            known = tuple(getattr(last, opt)) if last is not None else ()
        picked[opt] = known
    if span is None:
        notes.append("No orders involve your account yet, so the date range has nothing to narrow.")
    elif end < span[0] or start > span[1]:
        notes.append(f"No orders in this range: the data runs from {span[0]:%Y-%m-%d} to {span[1]:%Y-%m-%d}.")
    return FilterDefaults(start, end, picked["warehouses"], picked["channels"], tuple(notes), week)


def review_weeks(span: tuple[dt.date, dt.date] | None, today: dt.date, current: Week | None) -> list[Week]:
    """The weeks a review can pick: the last full week of the data and the 25 before it, newest first,
    plus ``current`` when it is older or newer than those."""
    weeks = [last_full_week(span[1] if span else today)]
    for _ in range(REVIEW_WEEKS - 1):
        weeks.append(weeks[-1].previous())
    if current is not None and current not in weeks:
        weeks.insert(0, current)
    return weeks


def global_filters(viewer: Viewer, applies: tuple[str, ...] = ("dates", "warehouses", "channels")) -> Filters:
    """Render the filters the current page reads (``applies``); mirror them into the URL query string.

    Filters a page does not read are not shown; their last values are kept for the next page.
    """
    engine = get_engine()
    qp = st.query_params
    opts = _options(engine, viewer.cache_key, viewer)
    span = _span(engine, viewer.cache_key, viewer)
    last = st.session_state.get(LAST_FILTERS_KEY)
    d = resolve_defaults({k: qp.get(k) or "" for k in ("from", "to", "wh", "ch", WEEK_PARAM)}, span, opts,
                         last if isinstance(last, Filters) else None, dt.date.today(),
                         st.session_state.get(LAST_WEEK_KEY))
    start, end, warehouses, channels = d.start, d.end, list(d.warehouses), list(d.channels)
    week = d.week
    if applies:
        with st.sidebar:
            st.subheader("Filters")
            if "dates" in applies:
                start, end, week = _dates(start, end, week, span)
            if "warehouses" in applies:
                warehouses = st.multiselect("Warehouse", opts["warehouses"], default=warehouses, key="global_wh",
                                            placeholder="All warehouses")
            if "channels" in applies:
                channels = st.multiselect("Channel", opts["channels"], default=channels, key="global_ch",
                                          placeholder="All channels")
            for note in d.notes:
                st.caption(f":material/info: {note}")
        if "dates" in applies:
            qp["from"], qp["to"] = start.isoformat(), end.isoformat()
            if week is not None:
                qp[WEEK_PARAM] = week.label
            elif WEEK_PARAM in qp:
                del qp[WEEK_PARAM]
            st.session_state[LAST_WEEK_KEY] = week.label if week is not None else ""
        for key, name, values in (("wh", "warehouses", warehouses), ("ch", "channels", channels)):
            if name not in applies:
                continue
            if values:
                qp[key] = ",".join(values)
            elif key in qp:
                del qp[key]
    flt = Filters(date_from=start, date_to=end, warehouses=tuple(warehouses), channels=tuple(channels))
    st.session_state[LAST_FILTERS_KEY] = flt
    return flt


def _dates(start: dt.date, end: dt.date, week: Week | None,
           span: tuple[dt.date, dt.date] | None) -> tuple[dt.date, dt.date, Week | None]:
    """The date controls: a review week (one ISO week against the week before), or a free date range."""
    review = st.toggle("Review week", value=week is not None, key="global_review",
                       help="Show one ISO week on every page, compared with the week before; the link keeps the "
                            "week, so a meeting invite opens the same view.")
    if review:
        weeks = review_weeks(span, dt.date.today(), week)
        current = week if week in weeks else weeks[0]
        picked: Week = st.selectbox("Week", weeks, index=weeks.index(current), key="global_review_week",
                                    format_func=lambda w: f"{w.label} ({w.start:%d %b} to {w.end:%d %b %Y})")
        st.caption(f":material/event: Review mode: {picked.label} against {picked.previous().label}.")
        return picked.start, picked.end, picked
    value = (start, end)
    if week is not None:  # leaving review mode: keep the week's dates as the range to start from
        value = (week.start, week.end)
    got = st.date_input("Date range", value=value, key="global_dates", format="YYYY-MM-DD")
    if isinstance(got, tuple) and len(got) == 2:
        start, end = sorted(got)
    elif isinstance(got, tuple) and len(got) == 1:
        start = end = got[0]
    return start, end, None


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
    if viewer.is_vendor:  # what the vendor's own rows are: SKUs (supplier), shipments (carrier), lines...
        kinds = (("products", "SKUs"), ("shipments", "shipments"), ("purchase_orders", "purchase orders"),
                 ("order_lines", "order lines"))
        held = " · ".join(f"{by_table[t]:,} {label}" for t, label in kinds if by_table.get(t)) or "no rows of yours yet"
    else:
        held = f"{by_table.get('orders', 0):,} orders · {by_table.get('products', 0):,} SKUs"
    with st.sidebar:
        st.caption(f"Last import {when} UTC{covers} · {held}")
