"""What the returns page shows on load, in one pass; the KPI tiles; the home page's headline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops import fmt
from ops.access import Viewer, data_function, require_viewer
from ops.domain import HEADLINE_EXCEPTION_COLUMNS, Headline, Kpi
from ops.filters import ALL, Filters
from ops.returns import metrics as m
from ops.returns.actions import ACTION_COLUMNS, _with_actions
from ops.returns.metrics import ACCURACY_TARGET_THRESHOLD, MIN_UNITS_THRESHOLD, RATE_ALERT_THRESHOLD
from ops.returns.queries import (
    RATE_COLUMNS,
    _conds,
    _dim_table,
    _finish_rates,
    _frame,
    _priority,
    _reason_rows,
    _run,
    cost_frame,
    fulfilment_accuracy,
    heat_frame,
    last_week,
    net_cost,
    return_rates,
    thresholds,
    week_bounds,
)

KPI_COLUMNS = ["kpi", "value", "previous", "change", "unit"]
# kpi -> (label, ops.fmt kind, higher is better, definition in plain words). Rates are fractions.
KPIS: dict[str, tuple[str, str, bool, str]] = {
    "return_rate": ("Return rate", "pct", False,
                    "Units returned / units sold, for sales in the last settled sale week of the range (the last "
                    "week at least 4 weeks before the newest sales, so most of its returns are in; later "
                    "returns still count against it). The change is against the week before."),
    "value_return_rate": ("Value returned", "pct", False,
                          "Returned units at their selling price / sales value, same week."),
    "units_returned": ("Units returned", "count", False, "Units returned from the week's sales so far."),
    "net_cost": ("Cost of returns", "money", False,
                 "Return shipping + handling + value lost by disposition for the week's returns, from the cost "
                 "assumptions below (refunds not included)."),
    "fulfilment_accuracy": ("Fulfilment accuracy", "pct", True,
                            "1 - order lines returned as the wrong item (mis-pick) / order lines shipped, same week."),
}
DIM_TITLES = {"sku": "SKU", "category": "Category", "size": "Size", "channel": "Channel", "warehouse": "Warehouse",
              "carrier": "Carrier", "supplier": "Supplier", "week": "Sale week"}


@dataclass(frozen=True)
class ReturnsPage:
    """Every table the returns page shows on load (see :func:`returns_page`)."""

    kpis: pd.DataFrame
    kpi_week: dt.date | None
    breakdown: pd.DataFrame
    weekly: pd.DataFrame
    priority: pd.DataFrame
    pareto: pd.DataFrame
    heat_category: pd.DataFrame
    heat_size: pd.DataFrame
    cost: pd.DataFrame
    accuracy: pd.DataFrame
    thresholds: dict[str, float] = field(default_factory=dict)
    empty_reason: str | None = None


def _dims(session: Session, viewer: Viewer, filters: Filters) -> pd.DataFrame:
    t = _dim_table(viewer)
    lo, hi = week_bounds(filters)
    sums = ("units_sold", "sales_value", "units_returned", "returned_value", "refund_value", "shipped_lines",
            "wrong_item_lines")
    where = _conds(viewer, t, lo, hi)
    if session.get_bind().dialect.name == "sqlite":
        # Every row's dim is one of DIMS: naming them lets the (dim, sale_week) index find the range's rows
        # (without it SQLite walks that index whole for a supplier). Not on PostgreSQL, whose plan is good
        # already and whose money sums follow the plan's row order (a new plan would move their last digit).
        where.append(t.dim.in_(m.DIMS))
    stmt = select(t.dim, t.member, *[func.sum(getattr(t, c)) for c in sums]).where(*where).group_by(t.dim, t.member)
    return _frame(_run(session, stmt).all(), ["dim", "group", *sums], sums)


def _weekly(session: Session, viewer: Viewer, filters: Filters, min_units: float) -> pd.DataFrame:
    t = _dim_table(viewer)
    lo, hi = week_bounds(filters)
    sums = ("units_sold", "sales_value", "units_returned", "returned_value", "refund_value", "shipped_lines",
            "wrong_item_lines")
    stmt = (select(t.sale_week, *[func.sum(getattr(t, c)) for c in sums])
            .where(*_conds(viewer, t, lo, hi), t.dim == "total").group_by(t.sale_week).order_by(t.sale_week))
    df = _frame(_run(session, stmt).all(), ["group", *sums], sums)
    df["group"] = pd.to_datetime(df["group"]).dt.date
    df = _finish_rates(df, min_units)
    df["fulfilment_accuracy"] = m.fulfilment_accuracy(df["wrong_item_lines"], df["shipped_lines"])
    return df


def _kpis(weekly: pd.DataFrame, week: dt.date | None, cost_by_week: dict[dt.date, float]) -> pd.DataFrame:
    rows = []
    by_week = weekly.set_index("group") if len(weekly) else weekly
    prev = week - dt.timedelta(weeks=1) if week else None

    def val(w: dt.date | None, name: str) -> float:
        if w is None:
            return np.nan
        if name == "net_cost":
            return cost_by_week.get(w, np.nan)
        if w not in by_week.index:
            return np.nan
        return float(by_week.loc[w, name])

    for name in KPIS:
        v, p = val(week, name), val(prev, name)
        rows.append({"kpi": name, "value": v, "previous": p, "change": v - p, "unit": KPIS[name][1]})
    return pd.DataFrame(rows, columns=KPI_COLUMNS).astype({"value": "float64", "previous": "float64",
                                                             "change": "float64"})


@data_function
def kpis(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """The KPI tiles: the last sale week of the range against the week before.

    Returns
    -------
    DataFrame with one row per KPI (:data:`KPIS`: return_rate, value_return_rate, units_returned,
    net_cost, fulfilment_accuracy): ``kpi`` (str), ``value``, ``previous``, ``change`` (float64;
    rates as fractions, their change a difference of fractions), ``unit`` (str, the ``ops.fmt`` kind).
    """
    return returns_page(session, viewer=viewer, filters=filters, priority_limit=0).kpis


@data_function
def returns_page(session: Session, *, viewer: Viewer, filters: Filters = ALL, by: str = "category",
                 priority_limit: int = 100) -> ReturnsPage:
    """The returns page's load: KPIs, rates by ``by``, weekly rates, priority list (with actions),
    reason Pareto, the two heatmaps, cost of returns and fulfilment accuracy.

    Each frame has the columns of the function that serves its export (:func:`return_rates`,
    :func:`priority_list` plus :data:`ops.returns.actions.ACTION_COLUMNS`, :func:`reason_pareto`,
    :func:`reason_heatmap`, :func:`cost_of_returns`, :func:`fulfilment_accuracy`) and equal values;
    here the reason rows and the breakdowns are read once and shared.
    """
    require_viewer(viewer)
    th = thresholds(session, viewer=viewer)
    min_units = th[MIN_UNITS_THRESHOLD]
    weekly = _weekly(session, viewer, filters, min_units)
    if by in ("sku", "supplier", "week"):
        breakdown = return_rates(session, viewer=viewer, filters=filters, by=by, min_units=min_units)
        dims = _dims(session, viewer, filters)
    else:
        dims = _dims(session, viewer, filters)
        part = _finish_rates(dims[dims["dim"] == by].drop(columns="dim").copy(), min_units)
        part["group"] = part["group"].astype(str)
        breakdown = part.sort_values(["below_min_volume", "return_rate", "group"], ascending=[True, False, True],
                                     na_position="last", ignore_index=True)[RATE_COLUMNS]
    rows = _reason_rows(session, viewer, filters)
    pareto = m.pareto(rows.groupby("reason_code")["units_returned"].sum())
    sold = {d: dims.loc[dims["dim"] == d, ["group", "units_sold"]].rename(columns={"group": "member"})
            .astype({"units_sold": "int64"}) for d in ("category", "size")}
    heat_cat = heat_frame(rows, sold["category"], "category")
    heat_size = heat_frame(rows, sold["size"], "size")
    cost = cost_frame(rows, th)
    accuracy = fulfilment_accuracy(session, viewer=viewer, filters=filters)
    week = last_week(session, viewer=viewer, filters=filters)
    cats = dims.loc[dims["dim"] == "category", ["group", "units_sold", "units_returned"]].rename(
        columns={"group": "category"}).reset_index(drop=True)
    cats["category_rate"] = m.return_rate(cats["units_returned"], cats["units_sold"])
    cost_by_week: dict[dt.date, float] = {}
    if week is not None:
        prev = week - dt.timedelta(weeks=1)
        two = _reason_rows(session, viewer, Filters(date_from=prev, date_to=week + dt.timedelta(days=6)),
                           weekly=True)
        for w in (week, prev):
            cost_by_week[w] = net_cost(two[two["sale_week"] == w], th)
    kpi_df = _kpis(weekly, week, cost_by_week)
    if priority_limit:
        # priority_list, with the category totals and the last week this load has read already
        prio = _priority(session, viewer, filters, priority_limit, float(min_units), cats, week)
        prio = _with_actions(session, viewer=viewer, frame=prio)
    else:
        prio = pd.DataFrame(columns=[*priority_list_columns(), *ACTION_COLUMNS])
    empty = None if int(weekly["units_sold"].sum()) else _empty_reason(session, viewer, filters)
    return ReturnsPage(kpis=kpi_df, kpi_week=week, breakdown=breakdown, weekly=weekly, priority=prio,
                       pareto=pareto, heat_category=heat_cat, heat_size=heat_size, cost=cost, accuracy=accuracy,
                       thresholds=th, empty_reason=empty)


def priority_list_columns() -> list[str]:
    from ops.returns.queries import PRIORITY_COLUMNS

    return [*PRIORITY_COLUMNS, "product_id"]


def _empty_reason(session: Session, viewer: Viewer, filters: Filters) -> str:
    t = _dim_table(viewer)
    first, last = _run(session, select(func.min(t.sale_week), func.max(t.sale_week)).where(
        *_conds(viewer, t, None, None), t.dim == "total")).one()
    if first is not None:
        return (f"No sales in the sale weeks of {filters.date_from or 'the start'} to {filters.date_to or 'the end'}."
                f" Your sales run from the week of {str(first)[:10]} to the week of {str(last)[:10]}: pick dates in "
                "that span in the sidebar.")
    if viewer.is_kind("supplier"):
        return (f"No SKU of {viewer.vendor_code} has sold yet, so there are no returns to report.")
    return "There are no sales yet: import orders and returns on the Imports page (or seed the demo data)."


# --- the home page's headline -------------------------------------------------------------------

HEADLINE_TOP = 5


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


@data_function
def headline(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> Headline:
    """The returns page in brief: its KPI tiles and the top rows of the priority list.

    Exceptions are the first :data:`HEADLINE_TOP` priority rows (``value_at_risk`` = excess
    returned units x average price); the return rate carries the global ``return_rate_alert``
    and accuracy the ``fulfilment_accuracy_target`` (both as fractions).
    """
    require_viewer(viewer)
    page = returns_page(session, viewer=viewer, filters=filters, priority_limit=HEADLINE_TOP)
    top = page.priority.head(HEADLINE_TOP)
    detail = [f"returns {fmt.pct(r)} of units sold vs {fmt.pct(c)} for {cat}; {fmt.count(p)} excess units"
              for r, c, cat, p in zip(top["return_rate"], top["category_rate"], top["category"], top["priority"],
                                      strict=True)]
    ex = pd.DataFrame({"subject": top["sku"].astype(object), "kind": ["return rate"] * len(top),
                       "detail": pd.Series(detail, index=top.index, dtype=object),
                       "value_at_risk": top["value_at_risk"].astype("float64")},
                      columns=HEADLINE_EXCEPTION_COLUMNS).reset_index(drop=True)
    note = f"Sale week of {page.kpi_week}" if page.kpi_week else ""
    if page.empty_reason is not None:
        return Headline(kpis=(), exceptions=ex, note=note, empty_reason=page.empty_reason)
    targets = {"return_rate": page.thresholds[RATE_ALERT_THRESHOLD] / 100.0,
               "fulfilment_accuracy": page.thresholds[ACCURACY_TARGET_THRESHOLD] / 100.0}
    kpi_tuple = tuple(
        Kpi(key=str(r.kpi), label=KPIS[str(r.kpi)][0], kind=KPIS[str(r.kpi)][1], value=_num(r.value),
            previous=_num(r.previous), target=targets.get(str(r.kpi)), higher_is_better=KPIS[str(r.kpi)][2],
            help=KPIS[str(r.kpi)][3])
        for r in page.kpis.itertuples(index=False))
    return Headline(kpis=kpi_tuple, exceptions=ex, note=note)
