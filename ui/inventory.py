"""Inventory health page: cached loaders (scoped by the viewer's cache key), threshold saving, Altair charts."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import inventory as inv
from ops.access import AccessDenied, Viewer
from ops.db import read_session, run_in_transaction
from ops.decisions import THRESHOLDS, DecisionError, set_threshold, threshold_table
from ops.filters import Filters
from ops.inventory_math import age_labels
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders, get_engine

PAGE = "inventory"
THRESHOLD_NAMES = ("cover_warning_days", "excess_cover_days", "dead_stock_days", "abc_a_cut", "abc_b_cut")


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_health(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, filters: Filters, window: int,
                abc_by: str, include_closed: bool) -> inv.InventoryHealth:
    """Every table of the page for one viewer, warehouse filter and window."""
    with read_session(_engine) as s:
        return inv.inventory_health(s, viewer=viewer, filters=filters, window=window, abc_by=abc_by,
                                    include_closed=include_closed)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_projection(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer, sku: str, warehouse: str,
                    window: int) -> pd.DataFrame:
    """The projected on-hand line of one SKU in one warehouse."""
    with read_session(_engine) as s:
        return inv.projection(s, viewer=viewer, sku=sku, warehouse=warehouse, window=window)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)
def load_thresholds(_engine: Engine, viewer_key: tuple[str, ...], viewer: Viewer) -> pd.DataFrame:
    """The page's thresholds: every stored value the viewer may read, with where it comes from."""
    with read_session(_engine) as s:
        t = threshold_table(s, viewer=viewer)
    return t[t["name"].isin(THRESHOLD_NAMES)].reset_index(drop=True)


def kpi_row(kpis: pd.DataFrame) -> None:
    """Metric tiles with the change against the previous week (at-risk share up is bad)."""
    for col, k in zip(st.columns(len(kpis)), kpis.itertuples(), strict=True):
        fmt = "{:,.0f}" if k.unit == "money" else ("{:.1f} %" if k.unit == "%" else "{:.1f}")
        dfmt = "{:+.1f} pts" if k.unit == "%" else fmt
        delta = None if k.change != k.change else (dfmt.format(k.change) + " vs last week")
        col.metric(k.label, "–" if k.value != k.value else fmt.format(k.value), delta,
                   delta_color="inverse" if k.kpi == "at_risk_share" else "normal")


def page_filters(filters: Filters) -> Filters:
    """Only warehouses apply to stock; dropping dates and channels keeps the cache key stable."""
    return Filters(warehouses=filters.warehouses)


def editable_thresholds(viewer: Viewer) -> list[str]:
    """Names of the page's thresholds this viewer's role may set."""
    return [n for n in THRESHOLD_NAMES if viewer.role in THRESHOLDS[n].roles]


def save_thresholds(viewer: Viewer, current: pd.DataFrame, values: dict[str, float], why: str) -> str | None:
    """Store the changed global values in one transaction; returns an error message or None."""
    glob = current[current["scope_kind"] == "global"].set_index("name")
    changed = {n: v for n, v in values.items() if not math.isclose(float(glob.loc[n, "value"]), float(v))}
    if not changed:
        return "Nothing to save: no value was changed."

    def work(s: Any) -> None:
        for name, value in changed.items():
            set_threshold(s, viewer=viewer, name=name, value=value, expected_version=int(glob.loc[name, "version"]),
                          why=why.strip() or None)

    try:
        run_in_transaction(get_engine(), work)
    except (DecisionError, AccessDenied) as exc:
        return str(exc)
    clear_loaders()
    return None


# --- charts ---------------------------------------------------------------------------------

COVER_BINS = [0, 7, 14, 28, 56, 90, 120, 180, 365]


def cover_chart(positions: pd.DataFrame, warn: float, excess: float) -> alt.Chart:
    """SKU x warehouse pairs by days of cover (pairs with no demand shown as 'no demand')."""
    cover = positions["days_of_cover"].astype(float)
    labels = [f"{a}-{b}" for a, b in zip(COVER_BINS[:-1], COVER_BINS[1:], strict=True)] + ["365+", "no demand"]
    band = pd.cut(cover.clip(upper=10_000), bins=[*COVER_BINS, 10_001], labels=labels[:-1], right=False,
                  include_lowest=True).astype(object)
    band = band.where(~cover.map(math.isinf), "no demand")
    df = pd.DataFrame({"cover": band, "warehouse": positions["warehouse"]})
    df = df.groupby(["cover", "warehouse"]).size().rename("pairs").reset_index()
    title = f"Days of cover (warning below {warn:g} d, excess above {excess:g} d)"
    return alt.Chart(df, title=title).mark_bar().encode(
        x=alt.X("cover:N", sort=labels, title="days of cover"),
        y=alt.Y("pairs:Q", title="SKU x warehouse pairs"),
        color=alt.Color("warehouse:N"),
        tooltip=["cover", "warehouse", "pairs"],
    )


def abc_xyz_chart(skus: pd.DataFrame) -> alt.Chart:
    """SKU counts and revenue in the ABC x XYZ matrix."""
    df = skus.groupby(["abc", "xyz"]).agg(skus=("sku", "size"), revenue=("revenue_52w", "sum")).reset_index()
    base = alt.Chart(df, title="ABC (52-week value) x XYZ (weekly demand variability)").encode(
        x=alt.X("xyz:N", sort=["X", "Y", "Z"], title="XYZ"), y=alt.Y("abc:N", sort=["A", "B", "C"], title="ABC"))
    heat = base.mark_rect().encode(color=alt.Color("revenue:Q", title="revenue 52 w"),
                                   tooltip=["abc", "xyz", "skus", alt.Tooltip("revenue:Q", format=",.0f")])
    return heat + base.mark_text(fontSize=16).encode(text="skus:Q")


def aging_chart(aging: pd.DataFrame) -> alt.Chart:
    """Stock value by warehouse, stacked by age since last receipt."""
    return alt.Chart(aging, title="Stock value by age since last receipt").mark_bar().encode(
        x=alt.X("warehouse:N"),
        y=alt.Y("value:Q", title="value at cost"),
        color=alt.Color("age_bucket:N", sort=age_labels(), title="age"),
        order=alt.Order("age_rank:Q"),
        tooltip=["warehouse", "age_bucket", "units", alt.Tooltip("value:Q", format=",.0f")],
    ).transform_calculate(age_rank=f"indexof({age_labels()!r}, datum.age_bucket)")


def projection_chart(line: pd.DataFrame, stockout: Any) -> alt.LayerChart:
    """Projected on hand with PO arrivals (points) and the projected stockout (rule)."""
    base = alt.Chart(line).encode(x=alt.X("day:T", title=None))
    layers: list[Any] = [
        base.mark_line().encode(y=alt.Y("on_hand:Q", title="projected on hand"),
                                tooltip=["day:T", alt.Tooltip("on_hand:Q", format=",.1f")]),
        alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(strokeDash=[2, 2], color="gray").encode(y="y:Q"),
        alt.Chart(line[line["arrivals"] > 0]).mark_point(size=120, filled=True, color="green").encode(
            x="day:T", y="on_hand:Q", tooltip=["day:T", "arrivals:Q", "po_numbers:N"]),
    ]
    if stockout is not None and not pd.isna(stockout):
        layers.append(alt.Chart(pd.DataFrame({"day": [pd.Timestamp(stockout)], "label": ["projected stockout"]}))
                      .mark_rule(color="red").encode(x="day:T", tooltip=["label", "day:T"]))
    return alt.layer(*layers)
