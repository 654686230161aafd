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

The full rebuild reads each fact table once: the orders (placed week), the reviews (written week) and
the shipments joined to their orders, grouped once by placed week and ship week together (SQLite sorts
one packed integer per row) and split in pandas; then the deliveries for the medians (numpy on SQLite).

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
    Column,
    ColumnElement,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased

from ops.aggregates import incremental, refresher
from ops.business_time import monday
from ops.db import as_day, driver_rows
from ops.fulfillment.metrics import EXCLUDED_STATUSES
from ops.ingest.changes import Changes
from ops.ingest.reader import batched
from ops.models import (
    AggReviewCycle,
    AggReviewWeek,
    Channel,
    Order,
    OrderLine,
    Return,
    Review,
    Shipment,
    Warehouse,
)
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


def week_number(dialect: str, ts: Any) -> ColumnElement[Any]:
    """Whole weeks from Monday 0001-01-01 to the timestamp's day: its ISO week's Monday is
    ``date.fromordinal(7 * n + 1)``, the day :func:`week_expr` gives (on SQLite both read the day from the
    parsed timestamp, so a time rounded up to the next midnight falls on the same day)."""
    if dialect == "postgresql":
        return (cast(ts, Date) - literal(dt.date(1, 1, 1), Date)) // 7
    return cast(func.julianday(ts) - _JULIAN_DAY_0001, Integer) // 7


_JULIAN_DAY_0001 = 1721425.5  # julianday('0001-01-01'), a Monday
_WEEKS = 2**18  # week numbers (weeks since 0001-01-01) are below this until the year 5000
_PACK_LIMIT = 2**62


def _monday(n: Any) -> dt.date | None:
    return None if n is None or pd.isna(n) else dt.date.fromordinal(7 * int(n) + 1)


class _Groups:
    """How one integer packs a row's week numbers, order warehouse and order channel (SQLite sorts one integer
    for a ``GROUP BY`` about three times faster than several columns); the columns themselves are read from
    each group's rows. PostgreSQL, or ids too large to pack, group by the columns."""

    def __init__(self, session: Session, dialect: str) -> None:
        # an order's ids are those of rows of these tables (foreign keys)
        wh, ch = (int(session.scalar(select(func.max(c))) or 0) for c in (Warehouse.id, Channel.id))
        self.n_wh, self.n_ch = wh + 2, ch + 1  # warehouse code 0: none
        self.packed = dialect == "sqlite" and _WEEKS * _WEEKS * self.n_wh * self.n_ch < _PACK_LIMIT

    def key(self, weeks: list[Any]) -> Any:
        """The packed key of ``weeks`` (week numbers, NULL packing as 0) and the order's warehouse and channel."""
        k: Any = literal(0)
        for w in weeks:
            k = k * _WEEKS + func.coalesce(w + 1, 0)
        return (k * self.n_wh + func.coalesce(Order.warehouse_id + 1, 0)) * self.n_ch + Order.channel_id

    def grouped(self, inner: Any, n_keys: int, sums: list[str]) -> Any:
        """``inner`` (its first ``n_keys`` columns the keys, then ``k``, then ``sums``) grouped: by ``k`` when
        packed, else by the keys. ``inner`` is computed once per row (fenced), so the sort carries only its
        small values."""
        sub = inner.offset(0).subquery() if not self.packed else inner.limit(-1).offset(0).subquery()
        keys = list(sub.c)[:n_keys]
        return (select(*keys, *[func.sum(sub.c[c]) for c in sums])
                .group_by(*([sub.c.k] if self.packed else keys)))


def _week_rows(session: Session, dialect: str, weeks: Sequence[dt.date] | None) -> pd.DataFrame:
    """The ``agg_review_week`` rows of every week, or of ``weeks`` only.

    One pass per fact table: the orders (placed), the reviews (written) and the shipments with their
    orders (:func:`_shipment_sums`: the cost-per-order figures by the order's placed week and the
    tracking and defect figures by ship week, grouped together)."""
    keys = ["week", "warehouse_id", "channel_id"]
    o = Order
    g = _Groups(session, dialect)
    wk = week_number(dialect, o.placed_at)
    # orders placed in the week, and the marketplace cancel rate's cancelled ones
    inner = (select(wk.label("w"), o.warehouse_id, o.channel_id, g.key([wk]).label("k"), literal(1).label("n"),
                    _flag(o.status == "cancelled").label("cancelled"))
             .where(o.placed_at.is_not(None), *_in_weeks(o.placed_at, weeks)))
    orders = _weeks_frame(session, g.grouped(inner, 3, ["n", "cancelled"]), [*keys, "orders", "cancelled"], 1)
    # review score: reviews written in the week
    written = week_expr(dialect, Review.created_at)
    reviews = _frame(session, select(written, o.warehouse_id, o.channel_id, func.count(), func.sum(Review.score))
                     .join(o, o.id == Review.order_id)
                     .where(Review.created_at.is_not(None), *_in_weeks(Review.created_at, weeks))
                     .group_by(written, o.warehouse_id, o.channel_id), [*keys, "reviews", "score_sum"])
    if weeks is None:
        shipped, ships = _shipment_sums(session, dialect, g, [], None)
    else:  # each half from the rows its own index finds: orders placed in the weeks, shipments shipped in them
        in_placed = _in_weeks(o.placed_at, weeks)
        shipped = _shipment_sums(session, dialect, g, in_placed, select(o.id).where(*in_placed))[0]
        s2 = aliased(Shipment)
        ships = _shipment_sums(session, dialect, g, _in_weeks(Shipment.shipped_at, weeks),
                               select(s2.order_id).where(*_in_weeks(s2.shipped_at, weeks)))[1]
    # an order without a warehouse is its own group (-1 while joining); sums absent from a part are 0
    parts = [p.assign(**{k: pd.to_numeric(p[k]).fillna(-1).astype("int64") for k in keys[1:]}).set_index(keys)
             for p in (orders, shipped, reviews, ships) if len(p)]
    if not parts:
        return pd.DataFrame(columns=[*keys, *WEEK_SUMS])
    out = pd.concat(parts, axis=1, join="outer").reset_index().reindex(columns=[*keys, *WEEK_SUMS])
    # rows stored in key order on both databases (PostgreSQL's hash aggregates return groups in no order)
    out = out.sort_values(keys, kind="stable", ignore_index=True)
    for k in ("warehouse_id", "channel_id"):
        out[k] = out[k].astype(object).where(out[k] != -1, None)
    for c in WEEK_SUMS:
        out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0)
        out[c] = out[c].astype("float64" if c == "label_cost" else "int64")
    return out[[*keys, *WEEK_SUMS]]


_PLACED_SUMS = ("shipped_orders", "label_cost")
# The orders with more than one shipment (none at bench size).
TMP_MULTI = Table("tmp_review_multi", MetaData(), Column("order_id", Integer, primary_key=True, autoincrement=False),
                  prefixes=["TEMPORARY"])
_SHIP_SUMS = ("shipments", "tracked", "ship_orders", "defect_orders")


def _shipment_sums(session: Session, dialect: str, g: _Groups, where: list[ColumnElement[bool]],
                   orders: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the shipments (``where``: of those rows only, all of the shipments of their orders that fall in the
    groups they feed; ``orders``: a select of those orders' ids, None for every order) joined to their
    orders, two frames keyed by week, order warehouse and order channel:

    - by the order's placed week: ``shipped_orders`` (orders not cancelled or unavailable with a shipped
      shipment) and ``label_cost`` (the labels of all their shipments);
    - by ship week: ``shipments`` shipped, those ``tracked``, and the orders with a shipment shipped in the
      week (``ship_orders``), those with a defect (``defect_orders``).

    An order with one shipment (every order at bench size) is its own distinct order in both groupings, so
    those rows are grouped once by placed week and ship week together and split in pandas: one scan and one
    sort of the shipments where the two groupings (and the distinct counts) took two scans, two sorts and a
    group per order. Orders with several shipments are grouped per order (and per ship week) apart."""
    s, o = Shipment, Order
    placed, ship_wk = week_number(dialect, o.placed_at), week_number(dialect, s.shipped_at)
    shipped = s.shipped_at.is_not(None)
    live = o.status.not_in(EXCLUDED_STATUSES)
    low = select(Review.order_id).where(Review.score <= LOW_SCORE)
    bad_return = (select(OrderLine.order_id).join(Return, Return.order_line_id == OrderLine.id)
                  .where(func.lower(Return.reason_code).in_(DEFECT_REASONS)))
    bad = or_(s.status.in_(DEFECT_SHIPMENT_STATUSES), s.order_id.in_(low), s.order_id.in_(bad_return))
    multi = select(s.order_id).group_by(s.order_id).having(func.count() > 1)
    if orders is not None:
        multi = multi.where(s.order_id.in_(orders))
    conn = session.connection()
    TMP_MULTI.drop(conn, checkfirst=True)
    TMP_MULTI.create(conn)
    session.execute(insert(TMP_MULTI).from_select(["order_id"], multi))
    several = session.scalar(select(func.count()).select_from(TMP_MULTI))
    multi = select(TMP_MULTI.c.order_id)
    cond = where
    keys = ["placed", "ship_wk", "warehouse_id", "channel_id"]
    sums = [*_PLACED_SUMS, *_SHIP_SUMS]
    by = (placed.label("placed"), ship_wk.label("ship_wk"), o.warehouse_id, o.channel_id)
    inner = (select(*by, g.key([placed, ship_wk]).label("k"), _flag(live & shipped).label("shipped_orders"),
                    case((live & shipped, s.label_cost), else_=0.0).label("label_cost"),
                    _flag(shipped).label("shipments"), _flag(shipped & tracked_expr(dialect)).label("tracked"),
                    _flag(shipped & bad).label("defect_orders"))
             .select_from(s).join(o, o.id == s.order_id).where(*([s.order_id.not_in(multi)] if several else []), *cond))
    single = g.grouped(inner, 4, ["shipped_orders", "label_cost", "shipments", "tracked", "defect_orders"])
    got = _weeks_frame(session, single, [*keys, "shipped_orders", "label_cost", "shipments", "tracked",
                                         "defect_orders"], 2)
    got["ship_orders"] = got["shipments"]  # one shipment per order
    # several shipments: per order its placed-week figures; per order and ship week its ship-week ones
    any_shipped = func.count(s.shipped_at) > 0
    per_order = (select(placed, literal(None), o.warehouse_id, o.channel_id, _flag(live & any_shipped),
                        case((live & any_shipped, func.sum(s.label_cost)), else_=0.0),
                        literal(0), literal(0), literal(0), literal(0))
                 .select_from(s).join(o, o.id == s.order_id).where(s.order_id.in_(multi), *cond)
                 .group_by(o.id, o.placed_at, o.warehouse_id, o.channel_id, o.status))
    per_week = (select(placed, ship_wk, o.warehouse_id, o.channel_id, literal(0), literal(0.0), func.count(),
                       func.sum(_flag(tracked_expr(dialect))), literal(1), func.max(_flag(bad)))
                .select_from(s).join(o, o.id == s.order_id).where(s.order_id.in_(multi), shipped, *cond)
                .group_by(o.id, o.placed_at, o.warehouse_id, o.channel_id, ship_wk))
    frames = [_weeks_frame(session, q, [*keys, *sums], 2) for q in (per_order, per_week)] if several else []
    TMP_MULTI.drop(conn)
    got = pd.concat([got[[*keys, *sums]], *[f for f in frames if len(f)]], ignore_index=True)
    for k in ("warehouse_id", "channel_id"):
        got[k] = pd.to_numeric(got[k]).fillna(-1).astype("int64")

    def split(week: str, cols: tuple[str, ...]) -> pd.DataFrame:
        # a group is in a half when it counts an order (placed) or a shipment (ship week), as when queried apart
        part = got[got[week].notna()]
        part = part.groupby([week, "warehouse_id", "channel_id"], sort=True)[list(cols)].sum().reset_index()
        part = part[part[cols[0]] > 0].rename(columns={week: "week"}).reset_index(drop=True)
        part["warehouse_id"] = part["warehouse_id"].astype(object).where(part["warehouse_id"] != -1, None)
        return part

    return split("placed", _PLACED_SUMS), split("ship_wk", _SHIP_SUMS)


def _weeks_frame(session: Session, stmt: Any, columns: list[str], n_weeks: int) -> pd.DataFrame:
    """``stmt``'s rows, its first ``n_weeks`` columns week numbers read as their Mondays (None stays None)."""
    df = pd.DataFrame(session.execute(stmt).all(), columns=columns)
    for c in columns[:n_weeks]:
        df[c] = [_monday(v) for v in df[c]]
    for c in columns[n_weeks + 2:]:
        df[c] = pd.to_numeric(df[c])
    return df


def _flag(cond: ColumnElement[bool]) -> Any:
    return case((cond, 1), else_=0)


_JDN_ORDINAL = 1_721_425  # a Julian day number minus the proleptic Gregorian ordinal of the same day


def _text_ts(d: dt.date) -> str:
    """Midnight of ``d`` as SQLAlchemy stores a timestamp on SQLite."""
    return f"{d.isoformat()} 00:00:00.000000"


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
    got = driver_rows(session, select(day(s.delivered_at), day(s.shipped_at),
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
