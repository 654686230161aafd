"""Scoped reads of the returns aggregates (``agg_returns_*``, built by :mod:`ops.returns.refresh`).

Every public function takes ``viewer`` and scopes in SQL with
:func:`ops.access.product_by_supplier_code` on the supplier code every aggregate row carries: a
supplier sees the returns of its own SKUs only; carriers and 3PLs see none. Rows are selected by
**sale week**: a week is in the range when its Monday lies between the Monday of ``date_from``'s
week and ``date_to`` (whole weeks; see :mod:`ops.returns`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from ops import access
from ops.access import Viewer, data_function, require_viewer
from ops.db import as_day
from ops.filters import ALL, Filters
from ops.models import AggReturnsDim, AggReturnsDimAll, AggReturnsReason, AggReturnsSkuCum, Product
from ops.returns import metrics as m
from ops.returns.metrics import (
    ACCURACY_TARGET_THRESHOLD,
    DIMS,
    HANDLING_COST_THRESHOLD,
    LOSS_THRESHOLDS,
    MIN_UNITS_THRESHOLD,
    SETTLE_WEEKS,
    SHIP_COST_THRESHOLD,
    TREND_WEEKS,
    week_start,
)

BREAKDOWNS: tuple[str, ...] = ("sku", "category", "size", "channel", "warehouse", "carrier", "supplier", "week")
_SUMS = ("units_sold", "lines_sold", "shipped_lines", "sales_value", "units_returned", "return_lines",
         "returned_value", "refund_value", "defect_units", "wrong_item_lines")
RATE_COLUMNS = ["group", "units_sold", "units_returned", "return_rate", "sales_value", "returned_value",
                "value_return_rate", "refund_value", "below_min_volume"]
PRIORITY_COLUMNS = ["rank", "sku", "category", "size", "supplier", "units_sold", "units_returned", "return_rate",
                    "category_rate", "excess_rate", "priority", "value_at_risk", "recent_rate", "prior_rate",
                    "trend_pts", "sales_value", "refund_value"]
PARETO_COLUMNS = ["reason_code", "units_returned", "share", "cumulative_share"]
HEAT_COLUMNS = ["member", "reason_code", "units_returned", "units_sold", "reason_rate", "share_of_returns"]
COST_COLUMNS = ["disposition", "return_lines", "units_returned", "refund_value", "return_shipping_cost",
                "handling_cost", "value_lost", "net_cost"]
ACCURACY_COLUMNS = ["sale_week", "warehouse", "shipped_lines", "wrong_item_lines", "mispick_rate",
                    "fulfilment_accuracy", "below_target"]
SUPPLIER_RATE_COLUMNS = ["supplier", "units_sold", "units_returned", "return_rate", "defect_rate"]


# --- helpers ---------------------------------------------------------------------------------


def week_bounds(filters: Filters) -> tuple[dt.date | None, dt.date | None]:
    """The first and last sale-week Mondays the range covers (None: unbounded)."""
    lo = week_start(filters.date_from) if filters.date_from else None
    hi = week_start(filters.date_to) if filters.date_to else None
    return lo, hi


def _dim_table(viewer: Viewer) -> Any:
    """The breakdown aggregate to read: keyed by supplier for vendors, summed over suppliers for the rest."""
    return AggReturnsDim if viewer.is_vendor else AggReturnsDimAll


def _conds(viewer: Viewer, t: Any, lo: dt.date | None, hi: dt.date | None) -> list[ColumnElement[bool]]:
    if t is AggReturnsDimAll:
        # Summed over suppliers: only for viewers who may see every supplier (fail closed otherwise).
        if viewer.is_vendor:
            raise access.AccessDenied(f"{viewer.username}: vendors read the supplier-keyed aggregate only")
        conds: list[ColumnElement[bool]] = []
    else:
        conds = [access.product_by_supplier_code(viewer, t.supplier)]
    if lo is not None:
        conds.append(t.sale_week >= lo)
    if hi is not None:
        conds.append(t.sale_week <= hi)
    return conds


def _run(session: Session, stmt: Any) -> Any:
    """Execute a read on the session's connection (Core rows: no ORM result processing on big reads)."""
    return session.connection().execute(stmt)


def _frame(rows: Any, cols: list[str], numeric: tuple[str, ...]) -> pd.DataFrame:
    rows = list(rows)
    # column by column: pandas turning thousands of Row objects into rows one by one was most of a read
    df = (pd.DataFrame(dict(zip(cols, zip(*rows, strict=True), strict=True)), columns=cols) if rows
          else pd.DataFrame(rows, columns=cols))
    for c in numeric:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0)
    return df


def _ints(df: pd.DataFrame, cols: tuple[str, ...]) -> pd.DataFrame:
    for c in cols:
        if c in df:
            df[c] = df[c].astype("int64")
    return df



@data_function
def thresholds(session: Session, *, viewer: Viewer) -> dict[str, float]:
    """The returns thresholds in force (global values), by name."""
    from ops.decisions import THRESHOLDS, thresholds_for

    names = [MIN_UNITS_THRESHOLD, m.RATE_ALERT_THRESHOLD, ACCURACY_TARGET_THRESHOLD, SHIP_COST_THRESHOLD,
             HANDLING_COST_THRESHOLD, *LOSS_THRESHOLDS.values()]
    # One read of the rows the viewer may see; the global value of each is its stored global row, else the
    # registered default: what ``decisions.threshold`` picks with no scope, without a query per name.
    rows = thresholds_for(session, viewer=viewer)
    glob = rows[rows["scope_kind"] == "global"]
    stored = dict(zip(glob["name"], glob["value"], strict=True))
    return {n: float(stored[n]) if n in stored else float(THRESHOLDS[n].default) for n in names}


def _finish_rates(df: pd.DataFrame, min_units: float) -> pd.DataFrame:
    df = _ints(df, ("units_sold", "units_returned"))
    df["return_rate"] = m.return_rate(df["units_returned"], df["units_sold"])
    df["value_return_rate"] = m.value_return_rate(df["returned_value"], df["sales_value"])
    df["below_min_volume"] = df["units_sold"] < min_units
    return df


# --- rates by one breakdown ----------------------------------------------------------------


WEEK_SUM_COLUMNS = ["sale_week", "units_sold", "units_returned", "shipped_lines", "wrong_item_lines"]


@data_function
def weekly_sums(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame | None:
    """Units sold and returned, lines shipped and wrong-item lines per sale week of the range, for the
    filters' warehouses or channels (the breakdown rows of those members); None when both are set,
    which no breakdown row answers (the page has neither filter; the weekly review asks for them).

    Returns
    -------
    DataFrame with :data:`WEEK_SUM_COLUMNS`: ``sale_week`` (date, the Monday), the four sums (float64);
    only weeks with rows, oldest first.
    """
    require_viewer(viewer)
    if filters.warehouses and filters.channels:
        return None
    dim, members = (("warehouse", filters.warehouses) if filters.warehouses else
                    ("channel", filters.channels) if filters.channels else ("total", ()))
    lo, hi = week_bounds(filters)
    t = _dim_table(viewer)
    sums = WEEK_SUM_COLUMNS[1:]
    stmt = (select(t.sale_week, *[func.sum(getattr(t, c)) for c in sums])
            .where(*_conds(viewer, t, lo, hi), t.dim == dim, *([t.member.in_(members)] if members else []))
            .group_by(t.sale_week).order_by(t.sale_week))
    df = pd.DataFrame(_run(session, stmt).all(), columns=WEEK_SUM_COLUMNS)
    df["sale_week"] = df["sale_week"].map(as_day)
    return df.astype(dict.fromkeys(sums, "float64"))



@data_function
def return_rates(session: Session, *, viewer: Viewer, filters: Filters = ALL, by: str = "category",
                 min_units: float | None = None) -> pd.DataFrame:
    """Return rate (units and value) by ``by`` over the sale weeks of the range.

    ``by`` is one of :data:`BREAKDOWNS`. Rows selling fewer than ``min_units`` (default: the
    ``returns_min_units`` threshold) are kept but flagged ``below_min_volume`` and sorted last.

    Returns
    -------
    DataFrame with :data:`RATE_COLUMNS`: ``group`` (str; for ``week`` the Monday as a date),
    ``units_sold``, ``units_returned`` (int64), ``return_rate`` (float64, fraction),
    ``sales_value``, ``returned_value`` (float64), ``value_return_rate`` (float64, fraction),
    ``refund_value`` (float64), ``below_min_volume`` (bool). Sorted by return rate, highest first
    (``week``: by week).
    """
    require_viewer(viewer)
    if by not in BREAKDOWNS:
        raise ValueError(f"returns by {by!r}: use one of {', '.join(BREAKDOWNS)}")
    if min_units is None:
        min_units = thresholds(session, viewer=viewer)[MIN_UNITS_THRESHOLD]
    lo, hi = week_bounds(filters)
    sums = ("units_sold", "sales_value", "units_returned", "returned_value", "refund_value")
    if by == "sku":
        df = _sku_totals(session, viewer, lo, hi).rename(columns={"sku": "group"})[["group", *sums]]
    else:
        t = AggReturnsDim if by == "supplier" else _dim_table(viewer)
        dim = by if by in DIMS else "total"
        key = t.supplier if by == "supplier" else t.sale_week if by == "week" else t.member
        where = [*_conds(viewer, t, lo, hi), t.dim == dim]
        stmt = select(key.label("group"), *[func.sum(getattr(t, c)).label(c) for c in sums]).where(*where).group_by(key)
        df = _frame(_run(session, stmt).all(), ["group", *sums], sums)
    df = _finish_rates(df, float(min_units))
    if by == "week":
        df["group"] = df["group"].map(as_day)
        df = df.sort_values("group", ignore_index=True)
    else:
        df["group"] = df["group"].fillna(m.NONE_MEMBER).astype(str)
        df = df.sort_values(["below_min_volume", "return_rate", "group"], ascending=[True, False, True],
                            na_position="last", ignore_index=True)
    return df[RATE_COLUMNS]


@data_function
def supplier_return_rates(session: Session, *, viewer: Viewer, start: dt.date | None = None,
                          end: dt.date | None = None) -> pd.DataFrame:
    """Return and defect rates per supplier of the SKUs sold in ``start``..``end`` (the scorecards' input).

    Returns are attributed to the week of the SALE (sale weeks whose Monday lies between the
    Monday of ``start``'s week and ``end``), so a return arriving after ``end`` still counts
    against a sale inside it (None: unbounded). Defect = the reason codes in
    :data:`ops.returns.metrics.DEFECT_REASONS`. A supplier sees only its own row.

    Returns
    -------
    DataFrame with ``supplier`` (str, code), ``units_sold``, ``units_returned`` (int64),
    ``return_rate``, ``defect_rate`` (float64 fractions: units returned, and units returned as
    defective or damaged, over units sold; NaN with no units sold). Sorted by supplier.
    """
    require_viewer(viewer)
    t = AggReturnsDim
    lo = week_start(start) if start else None
    hi = week_start(end) if end else None
    sums = ("units_sold", "units_returned", "defect_units")
    stmt = (select(t.supplier, *[func.sum(getattr(t, c)).label(c) for c in sums])
            .where(*_conds(viewer, t, lo, hi), t.dim == "total", t.supplier.is_not(None))
            .group_by(t.supplier).order_by(t.supplier))
    df = _frame(_run(session, stmt).all(), ["supplier", *sums], sums)
    df = _ints(df, sums)
    df["return_rate"] = m.return_rate(df["units_returned"], df["units_sold"])
    df["defect_rate"] = m.ratio(df["defect_units"], df["units_sold"])
    df["supplier"] = df["supplier"].astype(str)
    return df[SUPPLIER_RATE_COLUMNS].astype({"return_rate": "float64", "defect_rate": "float64"})


# --- priority --------------------------------------------------------------------------------


CUM_SUMS = ("units_sold", "sales_value", "units_returned", "returned_value", "refund_value")


def _own_products(viewer: Viewer, product_id: Any) -> ColumnElement[bool]:
    """For a supplier, ``product_id`` among its products: the running sums' index is (sale_week, product_id),
    so a supplier's rows of a week are found by seeks instead of a walk over every SKU's row. The
    scope itself stays the rows' supplier code (:func:`ops.access.product_by_supplier_code`)."""
    if not viewer.is_vendor:
        return true()
    return product_id.in_(select(Product.id).where(access.product_condition(viewer)))


def _cum_diff(session: Session, viewer: Viewer, end: dt.date, before: dt.date | None, *, attrs: bool = True,
              min_units: float | None = None, product_ids: list[int] | None = None) -> pd.DataFrame:
    """Per SKU, the running sums at sale week ``end`` minus those at ``before`` (None: nothing before).

    One indexed read: the ``end`` rows joined to the ``before`` rows of the same SKU. SKUs selling
    nothing in between are left out; ``min_units`` keeps only SKUs selling at least that many and
    returning some (the priority list's candidates).
    """
    hi = AggReturnsSkuCum.__table__.alias("hi")
    lo = AggReturnsSkuCum.__table__.alias("lo")
    join_on = and_(lo.c.product_id == hi.c.product_id, lo.c.sale_week == before)
    diff = {c: (hi.c[c] - func.coalesce(lo.c[c], 0) if before is not None else hi.c[c] + 0).label(c)
            for c in CUM_SUMS}
    stmt = (select(hi.c.product_id, *([hi.c.sku, hi.c.category, hi.c.size, hi.c.supplier] if attrs else []),
                   *diff.values())
            .select_from(hi.outerjoin(lo, join_on) if before is not None else hi)
            .where(access.product_by_supplier_code(viewer, hi.c.supplier), hi.c.sale_week == end,
                   _own_products(viewer, hi.c.product_id)))
    if before is not None and product_ids is None:
        stmt = stmt.where(diff["units_sold"].element != 0)
    if product_ids is not None:
        stmt = stmt.where(hi.c.product_id.in_(product_ids))
    if min_units is not None:
        stmt = stmt.where(diff["units_sold"].element >= min_units, diff["units_returned"].element > 0)
    names = ["product_id", *(["sku", "category", "size", "supplier"] if attrs else []), *CUM_SUMS]
    return _frame(_run(session, stmt).all(), names, CUM_SUMS)


def _cum_bounds(session: Session, viewer: Viewer) -> tuple[dt.date | None, dt.date | None]:
    t = AggReturnsSkuCum
    # ORDER BY ... LIMIT 1 walks the (sale_week, product_id) index from one end; SQLite plans MIN() and
    # MAX() together with a WHERE clause as a scan of the whole table.
    scope = and_(access.product_by_supplier_code(viewer, t.supplier), _own_products(viewer, t.product_id))
    lo = session.scalar(select(t.sale_week).where(scope).order_by(t.sale_week).limit(1))
    hi = session.scalar(select(t.sale_week).where(scope).order_by(t.sale_week.desc()).limit(1))
    return as_day(lo), as_day(hi)


def _sku_totals(session: Session, viewer: Viewer, lo: dt.date | None, hi: dt.date | None,
                min_units: float | None = None,
                bounds: tuple[dt.date | None, dt.date | None] | None = None) -> pd.DataFrame:
    """Per SKU, its sums over the sale weeks ``lo``..``hi``: the running sums at ``hi`` minus those before ``lo``
    (``bounds``: :func:`_cum_bounds`, when already read)."""
    first, last = bounds or _cum_bounds(session, viewer)
    cols = ["product_id", "sku", "category", "size", "supplier", *CUM_SUMS]
    if last is None or first is None:
        return pd.DataFrame(columns=cols)
    end = last if hi is None else min(hi, last)
    if lo is not None and lo > end:
        return pd.DataFrame(columns=cols)
    before = lo - dt.timedelta(weeks=1) if lo is not None and lo - dt.timedelta(weeks=1) >= first else None
    df = _cum_diff(session, viewer, end, before, min_units=min_units)
    return df[df["units_sold"] != 0].reset_index(drop=True)[cols]


def _category_totals(session: Session, viewer: Viewer, lo: dt.date | None, hi: dt.date | None) -> pd.DataFrame:
    t = _dim_table(viewer)
    stmt = (select(t.member, func.sum(t.units_sold), func.sum(t.units_returned))
            .where(*_conds(viewer, t, lo, hi), t.dim == "category").group_by(t.member))
    df = _frame(_run(session, stmt).all(), ["category", "units_sold", "units_returned"],
                ("units_sold", "units_returned"))
    df["category_rate"] = m.return_rate(df["units_returned"], df["units_sold"])
    return df


def _trend_windows(session: Session, viewer: Viewer, product_ids: list[int], last: dt.date,
                   first: dt.date | None = None) -> pd.DataFrame:
    """Per SKU, units sold and returned in the :data:`TREND_WEEKS` sale weeks up to ``last`` and the ones before
    (``first``: the first week of the running sums, read when not given)."""
    cols = ["recent_sold", "recent_returned", "prior_sold", "prior_returned"]
    if not product_ids:
        return pd.DataFrame(columns=cols)
    step = dt.timedelta(weeks=TREND_WEEKS)
    if first is None:
        first, _ = _cum_bounds(session, viewer)
    weeks = [w if first is not None and w >= first else None for w in (last, last - step, last - 2 * step)]
    if weeks[0] is None:
        return pd.DataFrame(columns=cols)
    # One read of the SKUs' running sums at the (up to) three week boundaries; each window is the difference
    # of two of them, as :func:`_cum_diff` takes it (a SKU without a row at a window's end sold nothing in it).
    t = AggReturnsSkuCum
    sums = ["units_sold", "units_returned"]
    stmt = (select(t.product_id, t.sale_week, *[getattr(t, c) for c in sums])
            .where(access.product_by_supplier_code(viewer, t.supplier), _own_products(viewer, t.product_id),
                   t.sale_week.in_([w for w in weeks if w is not None]), t.product_id.in_(product_ids)))
    rows = _frame(_run(session, stmt).all(), ["product_id", "sale_week", *sums], tuple(sums))
    rows["sale_week"] = rows["sale_week"].map(as_day)

    def at(week: dt.date | None) -> pd.DataFrame:
        return rows.loc[rows["sale_week"] == week, ["product_id", *sums]].set_index("product_id")

    def window(end: dt.date, before: dt.date | None) -> pd.DataFrame:
        hi = at(end)
        diff = hi - at(before).reindex(hi.index).fillna(0) if before is not None else hi
        return diff.reindex(product_ids).fillna(0)

    recent = window(weeks[0], weeks[1])
    prior = window(weeks[1], weeks[2]) if weeks[1] is not None else recent * 0
    return pd.DataFrame({"recent_sold": recent["units_sold"], "recent_returned": recent["units_returned"],
                         "prior_sold": prior["units_sold"], "prior_returned": prior["units_returned"]},
                        index=product_ids)


@data_function
def last_week(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> dt.date | None:
    """The last *settled* sale week (Monday) of the range holding sales the viewer may see.

    Settled: at least :data:`~ops.returns.metrics.SETTLE_WEEKS` weeks before the last sale week
    of all the viewer's data, so most of its returns have arrived (a fresher week looks better
    than it is only because its returns are still on their way).
    """
    t = _dim_table(viewer)
    lo, hi = week_bounds(filters)
    newest = as_day(session.scalar(select(func.max(t.sale_week)).where(*_conds(viewer, t, None, None),
                                                                         t.dim == "total")))
    if newest is None:
        return None
    settled = newest - dt.timedelta(weeks=SETTLE_WEEKS)
    hi = settled if hi is None else min(hi, settled)
    return as_day(session.scalar(select(func.max(t.sale_week)).where(*_conds(viewer, t, lo, hi),
                                                                       t.dim == "total")))


def priority_frame(skus: pd.DataFrame, cats: pd.DataFrame, trend: pd.DataFrame | None, min_units: float,
                   limit: int | None) -> pd.DataFrame:
    """The priority list from per-SKU totals, category totals and per-SKU trend windows (pure pandas)."""
    df = skus.merge(cats[["category", "category_rate"]], on="category", how="left")
    df = _ints(df, ("units_sold", "units_returned"))
    df["return_rate"] = m.return_rate(df["units_returned"], df["units_sold"])
    df["excess_rate"] = df["return_rate"] - df["category_rate"]
    df["priority"] = m.priority(df["return_rate"], df["category_rate"], df["units_sold"])
    avg_price = m.ratio(df["sales_value"], df["units_sold"])
    df["value_at_risk"] = df["priority"] * avg_price
    df = df[(df["units_sold"] >= min_units) & (df["priority"] > 0)]
    df = df.sort_values(["priority", "sku"], ascending=[False, True], ignore_index=True)
    if limit is not None:
        df = df.head(limit)
    df["rank"] = np.arange(1, len(df) + 1, dtype="int64")
    df["recent_rate"] = np.nan
    df["prior_rate"] = np.nan
    if trend is not None and len(df) and len(trend):
        df["recent_rate"] = df["product_id"].map(m.return_rate(trend["recent_returned"], trend["recent_sold"]))
        df["prior_rate"] = df["product_id"].map(m.return_rate(trend["prior_returned"], trend["prior_sold"]))
    df["trend_pts"] = df["recent_rate"] - df["prior_rate"]
    df["size"] = df["size"].where(df["size"].notna(), None)
    df = df.astype(dict.fromkeys(("return_rate", "category_rate", "excess_rate", "priority", "value_at_risk",
                                  "recent_rate", "prior_rate", "trend_pts"), "float64"))
    return df[[*PRIORITY_COLUMNS, "product_id"]]


@data_function
def priority_list(session: Session, *, viewer: Viewer, filters: Filters = ALL, limit: int | None = 200,
                  min_units: float | None = None) -> pd.DataFrame:
    """SKUs to fix first: priority = (SKU return rate - its category's rate) x units sold, highest first.

    Only SKUs selling at least ``min_units`` (default: the ``returns_min_units`` threshold) in the
    range and returning more than their category are listed. ``recent_rate`` / ``prior_rate`` are
    the SKU's return rate over the last 4 settled sale weeks of the range (:func:`last_week`) and the 4
    weeks before those (which may start before the range); ``trend_pts`` their difference (a fraction;
    shown in points). ``value_at_risk`` = priority x the SKU's
    average selling price.

    Returns
    -------
    DataFrame with :data:`PRIORITY_COLUMNS` plus ``product_id`` (int64): ``rank`` (int64),
    ``sku``, ``category``, ``size``, ``supplier`` (str; size None when the SKU has none),
    ``units_sold``, ``units_returned`` (int64), the rates and ``priority`` (float64, excess
    returned units), ``value_at_risk``, ``sales_value``, ``refund_value`` (float64).
    """
    require_viewer(viewer)
    if min_units is None:
        min_units = thresholds(session, viewer=viewer)[MIN_UNITS_THRESHOLD]
    lo, hi = week_bounds(filters)
    return _priority(session, viewer, filters, limit, float(min_units), _category_totals(session, viewer, lo, hi),
                     last_week(session, viewer=viewer, filters=filters))


def _priority(session: Session, viewer: Viewer, filters: Filters, limit: int | None, min_units: float,
              cats: pd.DataFrame, last: dt.date | None) -> pd.DataFrame:
    """:func:`priority_list` from the category totals and the last settled week (when the caller has them)."""
    lo, hi = week_bounds(filters)
    bounds = _cum_bounds(session, viewer)
    # Only SKUs at the minimum volume with some returns can be listed: the read keeps just those.
    skus = _sku_totals(session, viewer, lo, hi, min_units=min_units, bounds=bounds)
    df = priority_frame(skus, cats, None, min_units, limit)
    if last is not None and len(df):
        trend = _trend_windows(session, viewer, [int(x) for x in df["product_id"]], last, bounds[0])
        df["recent_rate"] = df["product_id"].map(m.return_rate(trend["recent_returned"], trend["recent_sold"]))
        df["prior_rate"] = df["product_id"].map(m.return_rate(trend["prior_returned"], trend["prior_sold"]))
        df["trend_pts"] = df["recent_rate"] - df["prior_rate"]
    return df.astype({"recent_rate": "float64", "prior_rate": "float64", "trend_pts": "float64"})


# --- reasons -----------------------------------------------------------------------------------


def _reason_rows(session: Session, viewer: Viewer, filters: Filters, category: str | None = None,
                 size: str | None = None, supplier: str | None = None, weekly: bool = False) -> pd.DataFrame:
    t = AggReturnsReason
    lo, hi = week_bounds(filters)
    conds = _conds(viewer, t, lo, hi)
    if category:
        conds.append(t.category == category)
    if size:
        conds.append(t.size == size if size != m.NONE_MEMBER else t.size.is_(None))
    if supplier:
        conds.append(t.supplier == supplier)
    sums = ("return_lines", "units_returned", "returned_value", "refund_value", "cost_value")
    keys = [t.category, t.size, t.reason_code, t.disposition, *([t.sale_week] if weekly else [])]
    stmt = select(*keys, *[func.sum(getattr(t, c)) for c in sums]).where(*conds).group_by(*keys)
    names = ["category", "size", "reason_code", "disposition", *(["sale_week"] if weekly else []), *sums]
    df = _frame(_run(session, stmt).all(), names, sums)
    if weekly:
        df["sale_week"] = df["sale_week"].map(as_day)
    df["size"] = df["size"].fillna(m.NONE_MEMBER)
    return df


@data_function
def reason_pareto(session: Session, *, viewer: Viewer, filters: Filters = ALL, category: str | None = None,
                  size: str | None = None, supplier: str | None = None) -> pd.DataFrame:
    """Returned units by reason code, largest first, with each reason's share and the running share.

    The selection is the range's sale weeks and, optionally, one category, size and supplier.

    Returns
    -------
    DataFrame with :data:`PARETO_COLUMNS`: ``reason_code`` (str), ``units_returned`` (int64),
    ``share`` and ``cumulative_share`` (float64 fractions).
    """
    require_viewer(viewer)
    rows = _reason_rows(session, viewer, filters, category, size, supplier)
    return m.pareto(rows.groupby("reason_code")["units_returned"].sum())[PARETO_COLUMNS]


def heat_frame(rows: pd.DataFrame, sold: pd.DataFrame, by: str) -> pd.DataFrame:
    """Reason x ``by`` cells from reason rows and units sold per member (pure pandas)."""
    cells = rows.groupby([by, "reason_code"], as_index=False)["units_returned"].sum().rename(columns={by: "member"})
    cells = cells.merge(sold, on="member", how="left")
    cells["units_sold"] = cells["units_sold"].fillna(0).astype("int64")
    cells["units_returned"] = cells["units_returned"].astype("int64")
    cells["reason_rate"] = m.return_rate(cells["units_returned"], cells["units_sold"])
    per_member = cells.groupby("member")["units_returned"].transform("sum")
    cells["share_of_returns"] = m.ratio(cells["units_returned"], per_member)
    return cells.sort_values(["member", "reason_code"], ignore_index=True)[HEAT_COLUMNS]


def _sold_by(session: Session, viewer: Viewer, filters: Filters, dim: str) -> pd.DataFrame:
    t = _dim_table(viewer)
    lo, hi = week_bounds(filters)
    stmt = (select(t.member, func.sum(t.units_sold)).where(*_conds(viewer, t, lo, hi), t.dim == dim)
            .group_by(t.member))
    return _frame(_run(session, stmt).all(), ["member", "units_sold"], ("units_sold",))


@data_function
def reason_heatmap(session: Session, *, viewer: Viewer, filters: Filters = ALL, by: str = "size",
                   category: str | None = None) -> pd.DataFrame:
    """Reason x category (``by="category"``) or reason x size (``by="size"``) over the range's sale weeks.

    ``reason_rate`` = units returned for the reason / units sold in the member (so a size that
    runs small stands out against the sizes sold as often); ``share_of_returns`` = the reason's
    share of the member's returned units. ``category`` narrows a size heatmap to one category
    (its units sold are then that category's, read from the SKU aggregate).

    Returns
    -------
    DataFrame with :data:`HEAT_COLUMNS`: ``member`` (str), ``reason_code`` (str),
    ``units_returned``, ``units_sold`` (int64), ``reason_rate``, ``share_of_returns`` (float64).
    """
    require_viewer(viewer)
    if by not in ("category", "size"):
        raise ValueError(f"heatmap by {by!r}: use category or size")
    rows = _reason_rows(session, viewer, filters, category=category)
    if category and by == "size":
        skus = _sku_totals(session, viewer, *week_bounds(filters))
        skus = skus[skus["category"] == category].assign(member=skus["size"].fillna(m.NONE_MEMBER))
        sold = skus.groupby("member", as_index=False)["units_sold"].sum()
    else:
        sold = _sold_by(session, viewer, filters, by)
    return heat_frame(rows, sold, by)


# --- cost and accuracy -----------------------------------------------------------------------


def cost_frame(rows: pd.DataFrame, th: dict[str, float]) -> pd.DataFrame:
    """Cost of returns by disposition from reason rows and the cost thresholds (pure pandas).

    Return shipping = return lines x ``return_shipping_cost``; handling = units x
    ``return_handling_cost``; value lost = the units' cost x the disposition's loss share;
    net cost = shipping + handling + value lost (refunds are shown beside it, not added: the
    refund gives back the sale, while restocked goods keep their value).
    """
    g = rows.assign(disposition=rows["disposition"].fillna("unknown")).groupby("disposition", as_index=False)[
        ["return_lines", "units_returned", "refund_value", "cost_value"]].sum()
    loss = {k: th[v] for k, v in LOSS_THRESHOLDS.items()}
    g["return_shipping_cost"] = g["return_lines"].astype("float64") * th[SHIP_COST_THRESHOLD]
    g["handling_cost"] = g["units_returned"].astype("float64") * th[HANDLING_COST_THRESHOLD]
    g["value_lost"] = m.disposition_loss(g["cost_value"], g["disposition"], loss)
    g["net_cost"] = g["return_shipping_cost"] + g["handling_cost"] + g["value_lost"]
    order = {d: i for i, d in enumerate(LOSS_THRESHOLDS)}
    g["_o"] = g["disposition"].map(order).fillna(len(order))
    g = g.sort_values(["_o", "disposition"], ignore_index=True)
    g = _ints(g, ("return_lines", "units_returned"))
    total = pd.DataFrame([{"disposition": "total", **{c: g[c].sum() for c in COST_COLUMNS[1:]}}])
    out = pd.concat([g[COST_COLUMNS], total], ignore_index=True) if len(g) else g[COST_COLUMNS]
    return _ints(out, ("return_lines", "units_returned")).astype(
        dict.fromkeys(COST_COLUMNS[3:], "float64"))


def net_cost(rows: pd.DataFrame, th: dict[str, float]) -> float:
    """The total of :func:`cost_frame`'s ``net_cost`` column, computed straight from the reason rows."""
    loss = rows["disposition"].map({k: th[v] / 100.0 for k, v in LOSS_THRESHOLDS.items()}).fillna(0.0)
    return float((rows["return_lines"] * th[SHIP_COST_THRESHOLD] + rows["units_returned"] * th[HANDLING_COST_THRESHOLD]
                  + rows["cost_value"] * loss).sum())


@data_function
def cost_of_returns(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """What returns of the range's sale weeks cost, by disposition (restock, refurbish, liquidate, scrap) and in total.

    Assumptions are thresholds (editable on the page): return shipping per return line, handling
    per unit, and the share of the unit cost lost per disposition (definitions: :func:`cost_frame`).

    Returns
    -------
    DataFrame with :data:`COST_COLUMNS`: ``disposition`` (str; last row "total"), ``return_lines``,
    ``units_returned`` (int64), ``refund_value``, ``return_shipping_cost``, ``handling_cost``,
    ``value_lost``, ``net_cost`` (float64, money).
    """
    require_viewer(viewer)
    return cost_frame(_reason_rows(session, viewer, filters), thresholds(session, viewer=viewer))


def accuracy_frame(rows: pd.DataFrame, target_pct: float | dict[str, float]) -> pd.DataFrame:
    """Fulfilment accuracy cells (sale week x warehouse) from their shipped and wrong-item line counts.

    ``target_pct``: the target in % for every warehouse, or per warehouse code.
    """
    df = _ints(rows.copy(), ("shipped_lines", "wrong_item_lines"))
    df["mispick_rate"] = m.mispick_rate(df["wrong_item_lines"], df["shipped_lines"])
    df["fulfilment_accuracy"] = m.fulfilment_accuracy(df["wrong_item_lines"], df["shipped_lines"])
    target = (df["warehouse"].map(target_pct).astype("float64") if isinstance(target_pct, dict)
              else pd.Series(float(target_pct), index=df.index))
    df["below_target"] = (df["fulfilment_accuracy"] < target / 100.0).astype(bool)
    return df.sort_values(["sale_week", "warehouse"], ignore_index=True)[ACCURACY_COLUMNS]


@data_function
def fulfilment_accuracy(session: Session, *, viewer: Viewer, filters: Filters = ALL) -> pd.DataFrame:
    """Fulfilment accuracy by sale week and warehouse: 1 - wrong-item (mis-pick) return lines / shipped lines.

    ``below_target`` compares with the ``fulfilment_accuracy_target`` threshold (in %) in force for
    the warehouse (its own override, else the global value).

    Returns
    -------
    DataFrame with :data:`ACCURACY_COLUMNS`: ``sale_week`` (date), ``warehouse`` (str),
    ``shipped_lines``, ``wrong_item_lines`` (int64), ``mispick_rate``, ``fulfilment_accuracy``
    (float64 fractions), ``below_target`` (bool).
    """
    require_viewer(viewer)
    t = _dim_table(viewer)
    lo, hi = week_bounds(filters)
    stmt = (select(t.sale_week, t.member, func.sum(t.shipped_lines), func.sum(t.wrong_item_lines))
            .where(*_conds(viewer, t, lo, hi), t.dim == "warehouse").group_by(t.sale_week, t.member))
    df = _frame(_run(session, stmt).all(), ["sale_week", "warehouse", "shipped_lines", "wrong_item_lines"],
                ("shipped_lines", "wrong_item_lines"))
    df["sale_week"] = df["sale_week"].map(as_day)
    from ops.decisions import threshold

    # The target in force per warehouse (a warehouse override, else the global value).
    targets = {wh: float(threshold(session, viewer=viewer, name=ACCURACY_TARGET_THRESHOLD,
                                   scope={"warehouse": wh}).value) for wh in df["warehouse"].unique()}
    return accuracy_frame(df, targets)
