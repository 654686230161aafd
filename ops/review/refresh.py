"""The weekly review's aggregates (``agg_review_week``, ``agg_review_cycle``), rebuilt in SQL.

The KPIs only the review defines (:mod:`ops.review.kpis`: cancel rate, cost per order, review score,
order defect and valid tracking rates, order cycle time) were read from two weeks of fact rows on
every page load. These tables hold, per ISO week, what those KPIs are made of, so an internal
viewer's page reads a few dozen rows instead (vendors still read their scoped rows: their scope is
a set of orders or shipments no week key holds).

- ``agg_review_week``: per week, order warehouse and order channel, counts that add up across
  warehouses and channels (so the page's warehouse and channel filters are sums of rows). Each count
  is dated by its own event, exactly as :func:`ops.review.kpis.week_values` dates it: orders by their
  placed day, reviews by their writing day, shipments by their ship day. The marketplace KPIs are the
  rows of the marketplace channels (which channels those are is decided when the page reads).
- ``agg_review_cycle``: per week, the median order cycle time of the shipments delivered that week
  (that left the warehouse at most ``MAX_TRANSIT_DAYS`` before the week began): a median does not add
  up, so this is the unfiltered figure; a filtered page reads the week's deliveries.

The incremental refresher (:func:`refresh_changes`) rebuilds only the weeks an import touched: every
week any touched order was placed, shipped, delivered or reviewed in, before and after the import.
Equal to a full rebuild (``tests/test_incremental_imports.py``, ``tests/test_review_aggregates.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    String,
    case,
    cast,
    delete,
    distinct,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from ops.aggregates import incremental, refresher
from ops.business_time import monday
from ops.db import as_day
from ops.fulfillment.metrics import EXCLUDED_STATUSES
from ops.ingest.changes import Changes
from ops.ingest.reader import batched
from ops.models import AggReviewCycle, AggReviewWeek, Order, OrderLine, Return, Review, Shipment
from ops.review.kpis import (
    DEFECT_REASONS,
    DEFECT_SHIPMENT_STATUSES,
    LOW_SCORE,
    MAX_TRANSIT_DAYS,
    cycle_days_expr,
    tracked_expr,
)

AGG_TABLES = (AggReviewWeek, AggReviewCycle)
WEEK_SUMS = ("orders", "cancelled", "shipped_orders", "label_cost", "reviews", "score_sum", "shipments",
             "tracked", "ship_orders", "defect_orders")
MAX_WEEKS = 26  # more touched weeks than this: the full rebuild is as quick
CHUNK = 5_000  # ids per IN (...) list
_WEEK = dt.timedelta(days=7)


def week_expr(dialect: str, ts: Any) -> ColumnElement[Any]:
    """The Monday of the timestamp's day, as a date (the ISO week key)."""
    if dialect == "postgresql":
        return cast(func.date_trunc("week", ts), Date)
    # SQLite: forward to the coming Sunday (the day itself when a Sunday), then back six days.
    return func.date(ts, "weekday 0", "-6 days")


def _in_weeks(col: Any, weeks: Sequence[dt.date] | None) -> list[ColumnElement[bool]]:
    """``col`` within one of ``weeks`` (None: no condition), as half-open timestamp ranges."""
    if weeks is None:
        return []
    ranges = [(dt.datetime.combine(w, dt.time.min), dt.datetime.combine(w + _WEEK, dt.time.min)) for w in weeks]
    return [or_(*[(col >= a) & (col < z) for a, z in ranges])]


def _frame(session: Session, stmt: Any, columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(session.execute(stmt).all(), columns=columns)
    df["week"] = [as_day(v) for v in df["week"]]
    return df


def _week_rows(session: Session, dialect: str, weeks: Sequence[dt.date] | None) -> pd.DataFrame:
    """The ``agg_review_week`` rows of every week, or of ``weeks`` only."""
    keys = ["week", "warehouse_id", "channel_id"]
    o = Order
    placed = week_expr(dialect, o.placed_at)
    # orders placed in the week, and the marketplace cancel rate's cancelled ones
    orders = _frame(session, select(placed, o.warehouse_id, o.channel_id, func.count(),
                                    func.sum(_flag(o.status == "cancelled")))
                    .where(o.placed_at.is_not(None), *_in_weeks(o.placed_at, weeks))
                    .group_by(placed, o.warehouse_id, o.channel_id), [*keys, "orders", "cancelled"])
    # cost per order: orders placed in the week (not cancelled or unavailable) with a shipped shipment,
    # and the labels of all their shipments
    per_order = (select(Shipment.order_id.label("order_id"), func.sum(Shipment.label_cost).label("labels"))
                 .group_by(Shipment.order_id).having(func.count(Shipment.shipped_at) > 0))
    if weeks is not None:
        per_order = per_order.where(Shipment.order_id.in_(
            select(o.id).where(*_in_weeks(o.placed_at, weeks))))
    po = per_order.subquery()
    shipped = _frame(session, select(placed, o.warehouse_id, o.channel_id, func.count(), func.sum(po.c.labels))
                     .join(po, po.c.order_id == o.id)
                     .where(o.status.not_in(EXCLUDED_STATUSES), *_in_weeks(o.placed_at, weeks))
                     .group_by(placed, o.warehouse_id, o.channel_id), [*keys, "shipped_orders", "label_cost"])
    # review score: reviews written in the week
    written = week_expr(dialect, Review.created_at)
    reviews = _frame(session, select(written, o.warehouse_id, o.channel_id, func.count(), func.sum(Review.score))
                     .join(o, o.id == Review.order_id)
                     .where(Review.created_at.is_not(None), *_in_weeks(Review.created_at, weeks))
                     .group_by(written, o.warehouse_id, o.channel_id), [*keys, "reviews", "score_sum"])
    # tracking and defects: shipments shipped in the week, and their orders
    s = Shipment
    low = select(Review.order_id).where(Review.score <= LOW_SCORE)
    bad_return = (select(OrderLine.order_id).join(Return, Return.order_line_id == OrderLine.id)
                  .where(func.lower(Return.reason_code).in_(DEFECT_REASONS)))
    bad = or_(s.status.in_(DEFECT_SHIPMENT_STATUSES), s.order_id.in_(low), s.order_id.in_(bad_return))
    ship_wk = week_expr(dialect, s.shipped_at)
    ships = _frame(session, select(ship_wk, o.warehouse_id, o.channel_id, func.count(),
                                   func.sum(_flag(tracked_expr(dialect))),
                                   func.count(distinct(s.order_id)),
                                   func.count(distinct(_when(bad, s.order_id))))
                   .join(o, o.id == s.order_id)
                   .where(s.shipped_at.is_not(None), *_in_weeks(s.shipped_at, weeks))
                   .group_by(ship_wk, o.warehouse_id, o.channel_id),
                   [*keys, "shipments", "tracked", "ship_orders", "defect_orders"])
    # an order without a warehouse is its own group (-1 while joining); sums absent from a part are 0
    parts = [p.assign(**{k: pd.to_numeric(p[k]).fillna(-1).astype("int64") for k in keys[1:]}).set_index(keys)
             for p in (orders, shipped, reviews, ships) if len(p)]
    if not parts:
        return pd.DataFrame(columns=[*keys, *WEEK_SUMS])
    out = pd.concat(parts, axis=1, join="outer").reset_index().reindex(columns=[*keys, *WEEK_SUMS])
    for k in ("warehouse_id", "channel_id"):
        out[k] = out[k].astype(object).where(out[k] != -1, None)
    for c in WEEK_SUMS:
        out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0)
        out[c] = out[c].astype("float64" if c == "label_cost" else "int64")
    return out[[*keys, *WEEK_SUMS]]


def _flag(cond: ColumnElement[bool]) -> Any:
    return case((cond, 1), else_=0)


def _when(cond: ColumnElement[bool], value: Any) -> Any:
    return case((cond, value), else_=None)


_JDN_ORDINAL = 1_721_425  # a Julian day number minus the proleptic Gregorian ordinal of the same day


def _text_ts(d: dt.date) -> str:
    """Midnight of ``d`` as SQLAlchemy stores a timestamp on SQLite."""
    return f"{d.isoformat()} 00:00:00.000000"


def _driver_rows(session: Session, stmt: Any) -> list[Any]:
    """``stmt``'s rows as the driver's plain tuples (a million SQLAlchemy rows cost more than the query).
    Its parameters must need no bind processing (numbers and strings)."""
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    args = [params[k] for k in (compiled.positiontup or [])]
    cur = conn.connection.cursor()
    try:
        cur.execute(compiled.string, args)
        return list(cur.fetchall())
    finally:
        cur.close()


def _sqlite_cycle_rows(session: Session, weeks: Sequence[dt.date] | None) -> pd.DataFrame:
    """:func:`_cycle_rows` on SQLite: the deliveries' (week, days) read in one pass, the medians taken in
    numpy (a window ranking sorts every delivery in SQLite's temp b-tree, ~3x slower at bench size).

    Days as Julian day numbers of the stored text's date part (``substr(ts, 1, 10)``: exact, no time of
    day rounded), so the week (its Monday: the day number less its remainder by 7, 0 being a Monday) and
    the ship window (from ``MAX_TRANSIT_DAYS`` days before that Monday to the next Monday, by day, as the
    timestamps' text against midnight) are the ones the window query used."""
    s, o = Shipment, Order

    def day(ts: Any) -> Any:
        return cast(func.julianday(func.substr(ts, 1, 10)) + 0.5, Integer)

    delivered = type_coerce(s.delivered_at, String)  # the weeks' bounds as the stored text, so no bind processing
    in_weeks = [] if weeks is None else [or_(*[(delivered >= _text_ts(w)) & (delivered < _text_ts(w + _WEEK))
                                              for w in weeks])]
    got = _driver_rows(session, select(day(s.delivered_at), day(s.shipped_at),
                                       cycle_days_expr("sqlite", o.placed_at, s.delivered_at))
                       .join(o, o.id == s.order_id)
                       .where(s.delivered_at.is_not(None), s.shipped_at.is_not(None), *in_weeks))
    if not got:
        return pd.DataFrame({"week": [], "deliveries": [], "median_days": []})
    jd = np.fromiter((r[0] for r in got), dtype=np.int64, count=len(got))
    sd = np.fromiter((r[1] for r in got), dtype=np.int64, count=len(got))
    days = np.fromiter((r[2] for r in got), dtype=np.float64, count=len(got))
    wk = jd - jd % 7  # the Monday (numpy's % of a positive divisor is never negative, as SQLite's here)
    keep = (sd >= wk - MAX_TRANSIT_DAYS) & (sd < wk + 7)
    wk, days = wk[keep], days[keep]
    if not len(wk):
        return pd.DataFrame({"week": [], "deliveries": [], "median_days": []})
    order = np.lexsort((days, wk))
    wk, days = wk[order], days[order]
    keys, first, n = np.unique(wk, return_index=True, return_counts=True)
    # the middle one (odd count) or two (even): ranks (n + 1) // 2 and (n + 2) // 2, 1-based
    lo, hi = days[first + (n + 1) // 2 - 1], days[first + (n + 2) // 2 - 1]
    return pd.DataFrame({"week": [dt.date.fromordinal(int(k) - _JDN_ORDINAL) for k in keys],
                         "deliveries": n.astype("int64"), "median_days": (lo + hi) / 2})


def _cycle_rows(session: Session, dialect: str, weeks: Sequence[dt.date] | None) -> pd.DataFrame:
    """The ``agg_review_cycle`` rows: per delivery week, the count and the median (the mean of the two
    middle values when even, as numpy's median) found in SQL by their rank (numpy on SQLite)."""
    if dialect == "sqlite":
        return _sqlite_cycle_rows(session, weeks)
    s, o = Shipment, Order
    wk = week_expr(dialect, s.delivered_at)
    if dialect == "postgresql":
        week_start = func.date_trunc("week", s.delivered_at)
        earliest, after = (week_start - literal(dt.timedelta(days=MAX_TRANSIT_DAYS)),
                           week_start + literal(_WEEK))
    else:  # ISO text on SQLite: 'YYYY-MM-DD 00:00:00' sorts before any stored time of that day
        earliest = func.datetime(wk, f"-{MAX_TRANSIT_DAYS} days")
        after = func.datetime(wk, "+7 days")
    days = cycle_days_expr(dialect, o.placed_at, s.delivered_at)
    rows = (select(wk.label("week"), days.label("days"))
            .join(o, o.id == s.order_id)
            .where(s.delivered_at.is_not(None), *_in_weeks(s.delivered_at, weeks),
                   s.shipped_at >= earliest, s.shipped_at < after)
            .subquery())
    ranked = select(rows.c.week, rows.c.days,
                    func.row_number().over(partition_by=rows.c.week, order_by=rows.c.days).label("rn"),
                    func.count().over(partition_by=rows.c.week).label("n")).subquery()
    # the middle one (odd count) or two (even): ranks (n + 1) / 2 and (n + 2) / 2 in integer division
    mid = select(ranked.c.week, ranked.c.n, ranked.c.days).where(
        or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2))
    df = _frame(session, mid, ["week", "deliveries", "days"])
    if df.empty:
        return pd.DataFrame({"week": [], "deliveries": [], "median_days": []})
    df["days"] = pd.to_numeric(df["days"], errors="coerce").astype("float64")
    out = df.groupby("week", as_index=False).agg(deliveries=("deliveries", "first"),
                                                  median_days=("days", lambda v: float(np.mean(v.to_numpy()))))
    out["deliveries"] = out["deliveries"].astype("int64")
    return out


def _write(session: Session, weeks: Sequence[dt.date] | None) -> None:
    dialect = session.get_bind().dialect.name
    if weeks is None:
        for t in AGG_TABLES:
            session.execute(delete(t))
    else:
        session.execute(delete(AggReviewWeek).where(AggReviewWeek.week.in_(list(weeks))))
        session.execute(delete(AggReviewCycle).where(AggReviewCycle.week.in_(list(weeks))))
    rows = _week_rows(session, dialect, weeks)
    if len(rows):
        recs = rows.astype(object).where(rows.notna(), None).to_dict("records")
        session.execute(insert(AggReviewWeek), recs)
    cyc = _cycle_rows(session, dialect, weeks)
    if len(cyc):
        session.execute(insert(AggReviewCycle), cyc.astype(object).to_dict("records"))


@refresher("review")
def refresh(session: Session) -> None:
    """Rebuild ``agg_review_week`` and ``agg_review_cycle`` from the fact tables (in the caller's transaction)."""
    _write(session, None)


def _week_of(values: Iterable[Any]) -> set[dt.date]:
    return {monday(d) for d in (as_day(v) for v in values) if d is not None}


@incremental("review")
def refresh_changes(session: Session, changes: Changes) -> bool:
    """Rebuild the weeks an import touched: every week a touched order (its own row, its lines, shipments
    or returns) was placed, shipped, delivered or reviewed in, now and before the import. False (run the
    full rebuild) when reviews changed or more than ``MAX_WEEKS`` weeks were touched."""
    if changes.changed("reviews"):
        return False
    orders = changes.order_ids(session) | {int(v) for v in changes.old_values("order_lines", "order_id")}
    weeks = _week_of(changes.old_values("orders", "placed_at"))
    weeks |= _week_of(changes.old_values("shipments", "shipped_at"))
    weeks |= _week_of(changes.old_values("shipments", "delivered_at"))
    for chunk in batched(sorted(orders), CHUNK):
        weeks |= _week_of(session.scalars(select(Order.placed_at).where(Order.id.in_(chunk))))
        for shipped, delivered in session.execute(select(Shipment.shipped_at, Shipment.delivered_at)
                                                  .where(Shipment.order_id.in_(chunk))):
            weeks |= _week_of((shipped, delivered))
        weeks |= _week_of(session.scalars(select(Review.created_at).where(Review.order_id.in_(chunk))))
    if not weeks:
        return True
    if len(weeks) > MAX_WEEKS:
        return False
    _write(session, sorted(weeks))
    return True
