"""Inventory health page: cached loaders (scoped by the viewer's cache key), people's tables and tiles,
the threshold form (confirm implausible values, say what was saved), Altair charts."""

from __future__ import annotations

import math
from typing import Any, Final, cast

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from ops import fmt
from ops import inventory as inv
from ops.access import AccessDenied, Viewer
from ops.db import read_session, run_in_transaction
from ops.decisions import (
    STATES,
    THRESHOLD_ENTITY,
    THRESHOLDS,
    Change,
    ChangeSet,
    DecisionError,
    apply,
    plausibility_question,
    threshold_key,
    threshold_table,
)
from ops.filters import Filters
from ops.inventory.metrics import KPIS, age_labels
from ui.cache import MAX_ENTRIES, TTL_SECONDS, clear_loaders, get_engine
from ui.table import column_config, tile

PAGE = "inventory"
THRESHOLD_NAMES = inv.THRESHOLD_NAMES
# Session keys of the threshold form: the reason box, the last save's outcome, a value awaiting confirmation.
THR_WHY, THR_FLASH, THR_PENDING = "inventory_thr_why", "inventory_thr_flash", "inventory_thr_pending"
# The exceptions editor shows few columns, SKU first and pinned; the rest are in the tables and exports.
EXCEPTION_VIEW = ["sku", "kind", "warehouse", "value_at_risk", "detail", "rule", "state", "note", "snooze_until",
                  "entity_key", "version"]
# The stock tables show the columns a reviewer reads; the downloads carry every column.
TABLE_VIEWS = {
    "positions": ["sku", "name", "warehouse", "on_hand", "on_order", "avg_daily_demand", "days_of_cover",
                  "projected_stockout", "next_po", "stock_value", "age_bucket", "days_since_sale", "xyz", "pattern",
                  "at_risk", "dead", "excess_units"],
    "skus": ["sku", "name", "category", "supplier", "warehouses", "on_hand", "on_order", "units", "revenue",
             "avg_daily_demand", "days_of_cover", "earliest_stockout", "stock_value", "revenue_52w", "abc", "xyz",
             "pattern"],
}
UNIT_SUFFIX = {"days": " d", "hours": " h", "%": " %"}
# Distinct, colour-blind-friendlier categorical scheme for warehouses, carriers and other groups.
CATEGORICAL: Final = "tableau10"


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


def page_filters(filters: Filters) -> Filters:
    """Only warehouses apply to stock; dropping dates and channels keeps the cache key stable."""
    return Filters(warehouses=filters.warehouses)


# --- tiles and tables ------------------------------------------------------------------------


def kpi_row(kpis: pd.DataFrame) -> None:
    """Metric tiles with the change against the previous period (at-risk share up is bad).

    ``unit`` is the ``ops.fmt`` kind (shares are fractions, kind ``pct``); the definition of each
    KPI (:data:`ops.inventory.metrics.KPIS`) is the tile's help.
    """
    for col, k in zip(st.columns(len(kpis)), kpis.itertuples(), strict=True):
        kind = str(k.unit)
        _label, _kind, up_good, definition = KPIS.get(str(k.kpi), ("", kind, True, ""))
        tile(col, str(k.label), k.value, kind, change=k.change, places=1 if kind == "number" else None,
             higher_is_better=up_good, help=f"{definition} Change: against the previous 28 days.".strip())


def kpi_table(kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPIs as text for a table: measure, now, previous, change (formatted like the tiles)."""
    rows = []
    for k in kpis.itertuples():
        kind = str(k.unit)
        places = 1 if kind == "number" else None
        rows.append({"Measure": k.label, "Now": fmt.value(k.value, kind, places),
                     "Previous": fmt.value(k.previous, kind, places),
                     "Change": fmt.delta(k.change, kind, places) or fmt.MISSING})
    return pd.DataFrame(rows, columns=["Measure", "Now", "Previous", "Change"])


def table_view(df: pd.DataFrame, attr: str) -> pd.DataFrame:
    """The columns of table ``attr`` shown on the page (all of them for the small tables)."""
    cols = TABLE_VIEWS.get(attr)
    return df[cols] if cols else df


def _threshold_text(value: Any, unit: str) -> str:
    """``14 d``, ``80 %``, ``12.5 h``: a threshold value in its unit, with separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return fmt.MISSING
    v = float(value)
    return fmt.number(v, 0 if v.is_integer() else 2) + UNIT_SUFFIX.get(unit, f" {unit}")


def _rule(name: str, value: Any, source: Any) -> str:
    d = THRESHOLDS.get(name)
    label, unit = (d.label, d.unit) if d else ("Lead time", "days")
    where = "" if source is None or (isinstance(source, float) and math.isnan(source)) else f" ({source})"
    return f"{label} {_threshold_text(value, unit)}{where}"


def exception_rows(ex: pd.DataFrame) -> pd.DataFrame:
    """The exceptions editor's rows: :data:`EXCEPTION_VIEW`, the threshold as one "rule" text."""
    rule_cols = ["threshold", "threshold_value", "threshold_source"]
    # thousands of rows share a handful of rules: word each distinct rule once, then look it up
    rules = ex[rule_cols].drop_duplicates()
    rules["rule"] = [_rule(str(n), v, s) for n, v, s in rules.itertuples(index=False)]
    out = ex[[c for c in EXCEPTION_VIEW if c != "rule"] + rule_cols].merge(rules, on=rule_cols, how="left")
    out["note"] = out["note"].astype(object).where(out["note"].notna(), "")  # editable: empty, never "None"
    return out[EXCEPTION_VIEW]


def exception_config(rows: pd.DataFrame) -> dict[str, Any]:
    """The editor's column_config: SKU pinned first, state a choice, key and version hidden."""
    return column_config(rows, overrides={
        "sku": st.column_config.TextColumn("SKU", pinned=True),
        "state": st.column_config.SelectboxColumn("State", options=list(STATES), required=True),
        "snooze_until": st.column_config.DateColumn("Snooze until", format="YYYY-MM-DD"),
        "rule": st.column_config.TextColumn("Listed by", help="The threshold that put the row here, and its source."),
        "detail": st.column_config.TextColumn("Detail", width="medium"),
        "note": st.column_config.TextColumn("Note", max_chars=500),
    })


def threshold_rows(current: pd.DataFrame) -> pd.DataFrame:
    """The thresholds table as people read it: threshold, applies to, value with unit, source."""
    return pd.DataFrame({
        "Threshold": current["label"],
        "Applies to": ["all" if k == "global" else f"{k} {key}" for k, key in
                       zip(current["scope_kind"], current["scope_key"], strict=True)],
        "Value": [_threshold_text(v, u) for v, u in zip(current["value"], current["unit"], strict=True)],
        "Source": current["source"].astype(object).where(current["source"].notna(), fmt.MISSING),
    })


# --- the threshold form --------------------------------------------------------------------


def editable_thresholds(viewer: Viewer) -> list[str]:
    """Names of the page's thresholds this viewer's role may set."""
    return [n for n in THRESHOLD_NAMES if viewer.role in THRESHOLDS[n].roles]


def changed_thresholds(current: pd.DataFrame, values: dict[str, float]) -> dict[str, tuple[float, float, int]]:
    """``{name: (old, new, version)}`` of the global values that differ from what is stored."""
    glob = current[current["scope_kind"] == "global"].set_index("name")
    return {n: (float(glob.loc[n, "value"]), float(v), int(glob.loc[n, "version"])) for n, v in values.items()
            if not math.isclose(float(glob.loc[n, "value"]), float(v))}


def saved_message(changed: dict[str, tuple[float, float, int]]) -> str:
    """``Saved: Low-cover warning 14 d -> 60 d.`` for every changed threshold."""
    parts = [f"{THRESHOLDS[n].label} {_threshold_text(old, THRESHOLDS[n].unit)} → "
             f"{_threshold_text(new, THRESHOLDS[n].unit)}" for n, (old, new, _v) in changed.items()]
    return "Saved: " + "; ".join(parts) + "."


def save_thresholds(viewer: Viewer, changed: dict[str, tuple[float, float, int]], why: str, *,
                    confirm: bool = False) -> str | None:
    """Store the changed global values as one change set through ``ops.decisions.apply`` (the one write
    path: one transaction, one audit row per value); returns an error message or None."""
    changes = ChangeSet(changes=tuple(
        Change(entity_kind=THRESHOLD_ENTITY, key=threshold_key(name), field="value", old=old, new=new,
               expected_version=version) for name, (old, new, version) in changed.items()), why=why.strip() or None)

    def work(s: Any) -> None:
        apply(s, changes, viewer=viewer, confirm=confirm)

    try:
        run_in_transaction(get_engine(), work)
    except (DecisionError, AccessDenied) as exc:
        return str(exc)
    clear_loaders()
    return None


def _store(viewer: Viewer, changed: dict[str, tuple[float, float, int]], why: str, confirm: bool) -> None:
    error = save_thresholds(viewer, changed, why, confirm=confirm)
    if error:
        st.session_state[THR_FLASH] = ("error", f"Not saved: {error}")
    else:
        st.session_state[THR_FLASH] = ("success", saved_message(changed))
        st.session_state[THR_WHY] = ""  # the next change must not silently reuse this reason
    for name in changed if error else ():  # a refused value does not stay in the form
        st.session_state.pop(f"inventory_thr_{name}", None)


def _on_submit(viewer: Viewer, current: pd.DataFrame, names: list[str]) -> None:
    values = {n: float(st.session_state[f"inventory_thr_{n}"]) for n in names}
    changed = changed_thresholds(current, values)
    why = str(st.session_state.get(THR_WHY) or "")
    st.session_state.pop(THR_PENDING, None)
    if not changed:
        st.session_state[THR_FLASH] = ("info", "Nothing to save: no value was changed.")
        return
    questions = [q for n, (_o, new, _v) in changed.items() if (q := plausibility_question(n, new))]
    if questions:
        st.session_state[THR_PENDING] = {"changed": changed, "why": why, "question": " ".join(questions)}
        return
    _store(viewer, changed, why, confirm=False)


def _on_confirm(viewer: Viewer) -> None:
    pending = st.session_state.pop(THR_PENDING, None)
    if pending:
        _store(viewer, pending["changed"], pending["why"], confirm=True)


def _on_cancel() -> None:
    pending = st.session_state.pop(THR_PENDING, None) or {}
    for name in pending.get("changed", {}):
        st.session_state.pop(f"inventory_thr_{name}", None)
    st.session_state[THR_FLASH] = ("info", "Not saved: the values were put back.")


def threshold_form(viewer: Viewer, current: pd.DataFrame) -> None:
    """The global thresholds form: asks before saving an implausible value, then says what was saved."""
    names = editable_thresholds(viewer)
    if not names:
        st.caption("Your role may not change these thresholds.")
        return
    flash = st.session_state.pop(THR_FLASH, None)
    if flash:
        {"success": st.success, "error": st.error}.get(flash[0], st.info)(flash[1])
    pending = st.session_state.get(THR_PENDING)
    if pending:
        st.warning(pending["question"], icon=":material/help:")
        c1, c2, _ = st.columns([1, 1, 4])
        c1.button("Save anyway", key="inventory_thr_confirm", type="primary", on_click=_on_confirm, args=(viewer,))
        c2.button("Cancel", key="inventory_thr_cancel", on_click=_on_cancel)
    glob = current[current["scope_kind"] == "global"].set_index("name")
    with st.form("inventory_thresholds_form"):
        for n in names:
            d = THRESHOLDS[n]
            usual = f" Usual range: {_threshold_text(d.plausible[0], d.unit)} to " \
                    f"{_threshold_text(d.plausible[1], d.unit)}." if d.plausible else ""
            st.number_input(f"{d.label} ({d.unit})", value=float(glob.loc[n, "value"]), min_value=d.min,
                            max_value=d.max, key=f"inventory_thr_{n}", help=d.help + usual)
        st.text_input("Reason for the change (kept in the audit log)", key=THR_WHY, max_chars=500)
        st.form_submit_button("Save thresholds", type="primary", on_click=_on_submit, args=(viewer, current, names))


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
    title = (f"Days of cover (low-cover warning below {_threshold_text(warn, 'days')}, "
             f"excess above {_threshold_text(excess, 'days')})")
    return cast(alt.Chart, alt.Chart(df, title=title).mark_bar().encode(
        x=alt.X("cover:N", sort=labels, title="Days of cover"),
        y=alt.Y("pairs:Q", title="SKU x warehouse pairs"),
        color=alt.Color("warehouse:N", title="Warehouse", scale=alt.Scale(scheme=CATEGORICAL)),
        tooltip=[alt.Tooltip("cover:N", title="Days of cover"), alt.Tooltip("warehouse:N", title="Warehouse"),
                 alt.Tooltip("pairs:Q", title="Pairs", format=",")],
    ))


def abc_xyz_chart(skus: pd.DataFrame) -> alt.LayerChart:
    """SKU counts and revenue in the ABC x XYZ matrix."""
    df = skus.groupby(["abc", "xyz"]).agg(skus=("sku", "size"), revenue=("revenue_52w", "sum")).reset_index()
    base = alt.Chart(df, title="ABC (52-week value) x XYZ (weekly demand variability)").encode(
        x=alt.X("xyz:N", sort=["X", "Y", "Z"], title="Demand variability (X steady, Z erratic)"),
        y=alt.Y("abc:N", sort=["A", "B", "C"], title="Value class (A most valuable)"))
    heat = base.mark_rect().encode(
        color=alt.Color("revenue:Q", title="Revenue, 52 weeks", scale=alt.Scale(scheme="blues")),
        tooltip=[alt.Tooltip("abc:N", title="ABC"), alt.Tooltip("xyz:N", title="XYZ"),
                 alt.Tooltip("skus:Q", title="SKUs", format=","),
                 alt.Tooltip("revenue:Q", title=f"Revenue, 52 weeks ({fmt.currency()})", format=",.0f")])
    text = base.mark_text(fontSize=16).encode(
        text=alt.Text("skus:Q", format=","),
        color=alt.condition(alt.datum.revenue > float(df["revenue"].max() or 0) / 2, alt.value("white"),
                            alt.value("black")))
    return cast(alt.LayerChart, heat + text)


def aging_chart(aging: pd.DataFrame) -> alt.Chart:
    """Stock value by warehouse, stacked by age since last receipt (youngest at the bottom)."""
    ages = age_labels()
    chart = alt.Chart(aging, title="Stock value by age since last receipt").mark_bar().encode(
        x=alt.X("warehouse:N", title="Warehouse"),
        y=alt.Y("value:Q", title=f"Stock value at cost ({fmt.currency()})", axis=alt.Axis(format=",.0f")),
        color=alt.Color("age_bucket:N", sort=ages, title="Days since last receipt",
                        scale=alt.Scale(domain=ages, scheme="viridis", reverse=True)),
        order=alt.Order("age_rank:Q"),
        tooltip=[alt.Tooltip("warehouse:N", title="Warehouse"), alt.Tooltip("age_bucket:N", title="Age"),
                 alt.Tooltip("units:Q", title="Units", format=","),
                 alt.Tooltip("value:Q", title=f"Value ({fmt.currency()})", format=",.0f")],
    ).transform_calculate(age_rank=f"indexof({ages!r}, datum.age_bucket)")
    return cast(alt.Chart, chart)


def projection_chart(line: pd.DataFrame, stockout: Any) -> alt.LayerChart:
    """Projected on hand with PO arrivals (points) and the projected stockout (rule)."""
    base = alt.Chart(line).encode(x=alt.X("day:T", title="Day"))
    layers: list[Any] = [
        base.mark_line().encode(y=alt.Y("on_hand:Q", title="Projected units on hand"),
                                tooltip=[alt.Tooltip("day:T", title="Day"),
                                         alt.Tooltip("on_hand:Q", title="On hand", format=",.1f")]),
        alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(strokeDash=[2, 2], color="gray").encode(y="y:Q"),
        alt.Chart(line[line["arrivals"] > 0]).mark_point(size=120, filled=True, color="#2ca02c").encode(
            x="day:T", y="on_hand:Q",
            tooltip=[alt.Tooltip("day:T", title="Day"), alt.Tooltip("arrivals:Q", title="Units arriving", format=","),
                     alt.Tooltip("po_numbers:N", title="PO")]),
    ]
    if stockout is not None and not pd.isna(stockout):
        layers.append(alt.Chart(pd.DataFrame({"day": [pd.Timestamp(stockout)], "label": ["projected stockout"]}))
                      .mark_rule(color="#d62728").encode(x="day:T", tooltip=[alt.Tooltip("label:N", title="Marks"),
                                                                             alt.Tooltip("day:T", title="Day")]))
    return cast(alt.LayerChart, alt.layer(*layers))
