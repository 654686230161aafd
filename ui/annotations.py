"""Annotations on time charts: one layer any Altair time chart can add.

``annotation_layer((start, end), annotations)`` returns shaded bands (date ranges) and rules
(single days) with their text as tooltips, for the annotations that overlap ``start``..``end``;
layer it on the chart: ``chart + annotation_layer(...)``. The annotations frame is what
``ops.review.annotations.chart_annotations`` returns (id, start, end, page, scope_kind,
scope_key, text); ``load_chart_annotations`` is its cached loader.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops.access import Viewer
from ops.db import read_session
from ops.review.annotations import ALL_PAGES, chart_annotations
from ui.cache import MAX_ENTRIES, TTL_SECONDS

BAND_COLOR = "#f2b134"


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_chart_annotations(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, page: str = ALL_PAGES,
                           start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """The annotations a chart of ``page`` over ``start``..``end`` draws (vendors: none)."""
    with read_session(_engine) as s:
        return chart_annotations(s, viewer=viewer, page=page, start=start, end=end)


def annotation_frame(chart_df_range: tuple[Any, Any], annotations: pd.DataFrame) -> pd.DataFrame:
    """The annotations overlapping the chart's range, clipped to it (pure; what the layer draws).

    Columns: start, end (datetime64[ns]; ``end`` is the day after the last day, so a one-day
    note is a one-day band), label (str: the text, with its scope when it has one).
    """
    lo, hi = (pd.Timestamp(chart_df_range[0]), pd.Timestamp(chart_df_range[1]))
    cols = ["start", "end", "label"]
    if annotations is None or annotations.empty:
        return pd.DataFrame(columns=cols).astype({"start": "datetime64[ns]", "end": "datetime64[ns]"})
    a = annotations.copy()
    first = pd.to_datetime(a["start"])
    last = pd.to_datetime(a["end"].where(a["end"].notna(), a["start"])) + pd.Timedelta(days=1)
    keep = (last > lo) & (first <= hi)
    scope = [f" ({k} {v})" if isinstance(k, str) and k else "" for k, v in
             zip(a.get("scope_kind", pd.Series([None] * len(a))), a.get("scope_key", pd.Series([None] * len(a))),
                 strict=True)]
    out = pd.DataFrame({"start": first.clip(lower=lo), "end": last.clip(upper=hi + pd.Timedelta(days=1)),
                        "label": [f"{t}{s}" for t, s in zip(a["text"].astype(str), scope, strict=True)]})
    return out[keep.to_numpy()].reset_index(drop=True)


def annotation_layer(chart_df_range: tuple[Any, Any], annotations: pd.DataFrame) -> alt.LayerChart:
    """Bands for the annotations overlapping ``chart_df_range`` (the chart's first and last x), with tooltips.

    Layer it under or over any chart whose x axis is a date/time field: ``chart + layer``.
    """
    data = annotation_frame(chart_df_range, annotations)
    band = alt.Chart(data).mark_rect(opacity=0.18, color=BAND_COLOR).encode(
        x="start:T", x2="end:T", tooltip=[alt.Tooltip("label:N", title="Annotation")])
    rule = alt.Chart(data).mark_rule(color=BAND_COLOR, strokeDash=[4, 3]).encode(
        x="start:T", tooltip=[alt.Tooltip("label:N", title="Annotation")])
    return alt.layer(band, rule)
