"""Rebuild the ``agg_fulfil_*`` tables from the fact tables, aggregating in SQL (SQLite and PostgreSQL).

What SQL cannot do (business-day arithmetic under each warehouse's SLA calendar) is done in
Python once per *warehouse and day*, vectorised with :mod:`ops.business_time`, into a small
temporary calendar table (about 800 days x warehouses): whether the day is a business day, how
many business days precede it, and the ship-by deadline of an order paid that day before and
after the cut-off. Every fact per order line (the order's first shipment, its deadline, on-time
flags, calendar and business hours, attribution, backlog) is then one ``INSERT ... SELECT`` that
joins that table into a temporary line table, and each aggregate is one ``INSERT ... SELECT ...
GROUP BY`` from it. No order or line passes through Python.

Business hours from ``a`` to ``b`` (``a <= b``; negative when swapped), with whole business days
as the working window (the stored calendars have no working hours): on one day, ``b - a`` if it
is a business day; else the rest of ``a``'s day if business, plus ``b``'s time of day if business,
plus 24 h per business day strictly between (``count(b's day) - count(a's day) - business(a's day)``,
counts of business days before each day). Equal to :func:`ops.business_time.business_hours_between`,
which ``tests/test_fulfillment_raw.py`` checks.
Definitions: :mod:`ops.fulfillment` (package docstring).

Calendar hours are whole seconds / 3600 (as :func:`ops.business_time.calendar_hours_between`);
timestamps are compared as stored (SQLAlchemy writes one text format on SQLite).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.orm import Session

from ops.aggregates import refresher
from ops.business_time import ship_by as derive_ship_by
from ops.fulfillment.metrics import EXCLUDED_STATUSES, HIST_EDGES, SHIPPED_STATUSES
from ops.fulfillment.queries import calendars
from ops.models import (
    AggFulfilBacklog,
    AggFulfilDaily,
    AggFulfilHeat,
    AggFulfilHist,
    AggFulfilLane,
    Order,
    OrderLine,
    Shipment,
    Supplier,
)

AGG_TABLES = (AggFulfilDaily, AggFulfilHist, AggFulfilHeat, AggFulfilLane, AggFulfilBacklog)

_TMP = MetaData()
# The order's shipments summed up: first ship time and promise, last delivery (when all delivered).
TMP_SHIP = Table(
    "tmp_fulfil_ship", _TMP,
    Column("order_id", Integer, primary_key=True), Column("shipped_at", DateTime), Column("promised_at", DateTime),
    Column("delivered_at", DateTime), Column("carrier_id", Integer), Column("lane", String(64)),
    prefixes=["TEMPORARY"])
# What only Python computes, per warehouse (-1: no warehouse, the default calendar) and day.
TMP_CAL = Table(
    "tmp_fulfil_cal", _TMP,
    Column("wh_key", Integer, primary_key=True), Column("day", Date, primary_key=True),
    Column("bus", Integer),  # 1 on a business day
    Column("n_before", Integer),  # business days before this day (from the first day of the table)
    Column("cutoff_s", Integer),  # the warehouse's cut-off, seconds after midnight
    Column("ship_by_before", DateTime),  # deadline of an order paid this day before the cut-off
    Column("ship_by_after", DateTime),  # ... at or after the cut-off
    prefixes=["TEMPORARY"])
# One row per order line of an order not excluded, every fact derived.
TMP_LINE = Table(
    "tmp_fulfil_line", _TMP,
    Column("day", Date), Column("warehouse_id", Integer), Column("channel_id", Integer), Column("seller_id", Integer),
    Column("seller_region", String(50)), Column("carrier_id", Integer), Column("lane", String(64)),
    Column("order_id", Integer), Column("order_number", String(64)), Column("paid_at", DateTime),
    Column("ship_by", DateTime), Column("counted", Integer), Column("on_time", Integer),
    Column("late_hours", Float), Column("c2s_hours", Float), Column("c2s_bhours", Float),
    Column("delivered", Integer), Column("delivered_on_time", Integer), Column("transit_hours", Float),
    Column("attribution", String(16)), Column("backlog", Integer), Column("paid_dow", Integer),
    Column("paid_hour", Integer),
    prefixes=["TEMPORARY"])
_KEYS = ("day", "warehouse_id", "channel_id", "seller_id", "seller_region", "carrier_id")


# --- dialect helpers: the few expressions SQLite and PostgreSQL spell differently ----------------


class _Sql:
    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def epoch(self, ts: Any) -> ColumnElement[Any]:
        """Whole seconds since the epoch (the timestamp read as UTC; only differences are used)."""
        if self.pg:
            return cast(func.floor(func.extract("epoch", ts)), BigInteger)
        return cast(func.strftime("%s", ts), BigInteger)

    def hours(self, a: Any, b: Any) -> ColumnElement[Any]:
        """Calendar hours from ``a`` to ``b`` in whole seconds, as ``calendar_hours_between``."""
        return cast(self.epoch(b) - self.epoch(a), Float) / literal(3600.0, Float)

    def day(self, ts: Any) -> ColumnElement[Any]:
        return cast(ts, Date) if self.pg else func.date(ts)

    def dow(self, ts: Any) -> ColumnElement[Any]:
        """Weekday, Monday = 0."""
        if self.pg:
            return cast(func.extract("isodow", ts), Integer) - 1
        return (cast(func.strftime("%w", ts), Integer) + 6) % 7

    def hour(self, ts: Any) -> ColumnElement[Any]:
        if self.pg:
            return cast(func.extract("hour", ts), Integer)
        return cast(func.strftime("%H", ts), Integer)


def _flag(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((cond, 1), else_=0)


def bucket_expr(hours: Any) -> ColumnElement[Any]:
    """The histogram bucket of ``hours``: the number of ``HIST_EDGES`` at or below it (as ``metrics.bucket``)."""
    whens = [(hours < edge, i) for i, edge in enumerate(HIST_EDGES)]
    return case(*whens, else_=len(HIST_EDGES))


# --- steps --------------------------------------------------------------------------------------


def _create_temp(session: Session) -> None:
    conn = session.connection()
    for t in (TMP_LINE, TMP_CAL, TMP_SHIP):
        t.drop(conn, checkfirst=True)
    for t in (TMP_SHIP, TMP_CAL, TMP_LINE):
        t.create(conn)


def _drop_temp(session: Session) -> None:
    conn = session.connection()
    for t in (TMP_LINE, TMP_CAL, TMP_SHIP):
        t.drop(conn, checkfirst=True)


def _fill_shipments(session: Session) -> None:
    n_ship, n_delivered = func.count(), func.count(Shipment.delivered_at)
    session.execute(insert(TMP_SHIP).from_select(
        ["order_id", "shipped_at", "promised_at", "delivered_at", "carrier_id", "lane"],
        select(Shipment.order_id, func.min(Shipment.shipped_at), func.min(Shipment.promised_at),
               case((n_delivered == n_ship, func.max(Shipment.delivered_at)), else_=null()),
               func.min(Shipment.carrier_id), func.min(Shipment.lane))
        .group_by(Shipment.order_id)))


def _fill_calendar(session: Session) -> None:
    """Every warehouse's calendar (and the default one) for each day from the first payment or shipment to the last."""
    paid = session.execute(select(func.min(Order.paid_at), func.max(Order.paid_at))).one()
    shipped = session.execute(select(func.min(TMP_SHIP.c.shipped_at), func.max(TMP_SHIP.c.shipped_at))).one()
    ends = [pd.Timestamp(str(v)).normalize() for v in (*paid, *shipped) if v is not None]
    if not ends:
        return
    days = pd.date_range(min(ends), max(ends), freq="D")
    day_d = days.to_numpy().astype("datetime64[D]")
    cal_by_wh, default_cal = calendars(session)
    rows: list[dict[str, Any]] = []
    for wh_key, cal in [*cal_by_wh.items(), (-1, default_cal)]:
        if cal.work_start != dt.time(0) or cal.work_end is not None:
            raise ValueError("the SQL refresher counts whole business days; a calendar with working hours needs "
                             "ops.business_time.business_hours_between")
        bdc = cal.busdaycal
        bus = np.is_busday(day_d, busdaycal=bdc)
        n_before = np.busday_count(day_d[0], day_d, busdaycal=bdc)
        cut = dt.timedelta(hours=cal.cutoff.hour, minutes=cal.cutoff.minute, seconds=cal.cutoff.second)
        before = derive_ship_by(pd.Series(days), cal)
        after = derive_ship_by(pd.Series(days + cut), cal)
        rows += [{"wh_key": int(wh_key), "day": d.date(), "bus": int(b), "n_before": int(n),
                  "cutoff_s": int(cut.total_seconds()), "ship_by_before": sb.to_pydatetime(),
                  "ship_by_after": sa.to_pydatetime()}
                 for d, b, n, sb, sa in zip(days, bus, n_before, before, after, strict=True)]
    session.execute(insert(TMP_CAL), rows)


def _business_seconds(sql: _Sql, a: Any, ca: Any, b: Any, cb: Any) -> ColumnElement[Any]:
    """Business seconds from ``a`` to ``b`` (``a <= b``), ``ca`` / ``cb`` their days' calendar rows."""
    sod_a, sod_b = sql.epoch(a) % 86_400, sql.epoch(b) % 86_400
    return case(
        (ca.day == cb.day, ca.bus * (sod_b - sod_a)),
        else_=ca.bus * (86_400 - sod_a) + cb.bus * sod_b + 86_400 * (cb.n_before - ca.n_before - ca.bus))


def _fill_lines(session: Session, sql: _Sql) -> None:
    s = TMP_SHIP.c
    paid_cal, ship_cal = TMP_CAL.alias("paid_cal"), TMP_CAL.alias("ship_cal")
    pc, sc = paid_cal.c, ship_cal.c
    wh_key = func.coalesce(Order.warehouse_id, -1)
    derived = case((sql.epoch(Order.paid_at) % 86_400 < pc.cutoff_s, pc.ship_by_before), else_=pc.ship_by_after)
    deadline = func.coalesce(OrderLine.ship_by, Order.ship_by, derived)
    shipped = s.shipped_at.is_not(None)
    counted = and_(deadline.is_not(None), shipped)
    on_time = and_(counted, s.shipped_at <= deadline)
    c2s_ok = and_(Order.paid_at.is_not(None), shipped)
    delivered = and_(s.delivered_at.is_not(None), s.promised_at.is_not(None))
    delivered_on_time = and_(delivered, sql.day(s.delivered_at) <= sql.day(s.promised_at))
    attribution = case((~delivered, ""), (delivered_on_time, "on_time"), (~counted, "unknown"),
                       (on_time, "carrier"), else_="warehouse")
    cols: dict[str, Any] = {
        "day": sql.day(Order.placed_at), "warehouse_id": Order.warehouse_id, "channel_id": Order.channel_id,
        "seller_id": OrderLine.seller_id, "seller_region": Supplier.region, "carrier_id": s.carrier_id,
        "lane": s.lane, "order_id": Order.id, "order_number": Order.order_number, "paid_at": Order.paid_at,
        "ship_by": deadline, "counted": _flag(counted), "on_time": _flag(on_time),
        "late_hours": case((and_(counted, ~on_time), sql.hours(deadline, s.shipped_at)), else_=null()),
        "c2s_hours": case((c2s_ok, sql.hours(Order.paid_at, s.shipped_at)), else_=null()),
        "c2s_bhours": case(
            (and_(c2s_ok, s.shipped_at >= Order.paid_at),
             cast(_business_seconds(sql, Order.paid_at, pc, s.shipped_at, sc), Float) / literal(3600.0, Float)),
            (c2s_ok, -cast(_business_seconds(sql, s.shipped_at, sc, Order.paid_at, pc), Float)
             / literal(3600.0, Float)),
            else_=null()),
        "delivered": _flag(delivered), "delivered_on_time": _flag(delivered_on_time),
        "transit_hours": case((and_(delivered, shipped), sql.hours(s.shipped_at, s.delivered_at)), else_=null()),
        "attribution": attribution,
        "backlog": _flag(and_(~shipped, Order.status.not_in(SHIPPED_STATUSES))),
        "paid_dow": sql.dow(Order.paid_at), "paid_hour": sql.hour(Order.paid_at),
    }
    stmt = (select(*[c.label(k) for k, c in cols.items()])
            .select_from(OrderLine).join(Order, Order.id == OrderLine.order_id)
            .outerjoin(Supplier, Supplier.id == OrderLine.seller_id)
            .outerjoin(TMP_SHIP, s.order_id == Order.id)
            .outerjoin(paid_cal, and_(pc.wh_key == wh_key, pc.day == sql.day(Order.paid_at)))
            .outerjoin(ship_cal, and_(sc.wh_key == wh_key, sc.day == sql.day(s.shipped_at)))
            .where(Order.status.not_in(EXCLUDED_STATUSES)))
    session.execute(insert(TMP_LINE).from_select(list(cols), stmt))


def _sum0(col: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(col), 0)


def _aggregate(session: Session) -> None:
    t = TMP_LINE.c
    keys = [getattr(t, k) for k in _KEYS]
    split = and_(t.delivered == 1, t.c2s_hours.is_not(None), t.transit_hours.is_not(None))
    daily: dict[str, Any] = {
        "lines": func.count(), "ship_counted": func.sum(t.counted), "ship_on_time": func.sum(t.on_time),
        "ship_late": func.sum(t.counted) - func.sum(t.on_time), "late_hours_sum": _sum0(t.late_hours),
        "c2s_n": func.count(t.c2s_hours), "c2s_hours_sum": _sum0(t.c2s_hours),
        "c2s_bhours_sum": _sum0(t.c2s_bhours), "delivered": func.sum(t.delivered),
        "delivered_on_time": func.sum(t.delivered_on_time),
        "late_warehouse": func.sum(_flag(t.attribution == "warehouse")),
        "late_carrier": func.sum(_flag(t.attribution == "carrier")),
        "late_unknown": func.sum(_flag(t.attribution == "unknown")), "split_n": func.sum(_flag(split)),
        "processing_hours_sum": _sum0(case((split, t.c2s_hours), else_=0.0)),
        "transit_hours_sum": _sum0(case((split, t.transit_hours), else_=0.0)),
    }
    _insert_grouped(session, AggFulfilDaily, keys, daily)

    for measure, col in (("c2s", t.c2s_hours), ("c2s_bus", t.c2s_bhours), ("late", t.late_hours)):
        b = bucket_expr(col)
        _insert_grouped(session, AggFulfilHist, [*keys, b.label("bucket")],
                        {"measure": literal(measure, String(8)), "n": func.count()}, where=col.is_not(None),
                        group_extra=[b])

    _insert_grouped(session, AggFulfilHeat, [*keys, t.paid_dow, t.paid_hour],
                    {"shipped": func.count(), "late": func.sum(1 - t.on_time)},
                    where=and_(t.counted == 1, t.paid_at.is_not(None)))

    lane = func.nullif(t.lane, "")
    _insert_grouped(session, AggFulfilLane, [*keys, lane.label("lane")],
                    {"delivered": func.count(), "delivered_on_time": func.sum(t.delivered_on_time),
                     "late_warehouse": func.sum(_flag(t.attribution == "warehouse")),
                     "late_carrier": func.sum(_flag(t.attribution == "carrier")),
                     "transit_hours_sum": _sum0(t.transit_hours)},
                    where=t.delivered == 1, group_extra=[lane])

    _insert_grouped(session, AggFulfilBacklog, [*keys, t.order_id, t.order_number],
                    {"paid_at": func.min(t.paid_at), "ship_by": func.min(t.ship_by), "lines": func.count()},
                    where=t.backlog == 1)


def _insert_grouped(session: Session, model: Any, keys: list[Any], values: dict[str, Any],
                    where: Any = None, group_extra: list[Any] | None = None) -> None:
    """``INSERT INTO model (keys, values) SELECT keys, values FROM tmp_fulfil_line [WHERE] GROUP BY keys``."""
    names = [k.name for k in keys] + list(values)
    stmt = select(*keys, *[v.label(k) for k, v in values.items()])
    if where is not None:
        stmt = stmt.where(where)
    plain = [k for k in keys if not hasattr(k, "element")]
    stmt = stmt.group_by(*plain, *(group_extra or []))
    session.execute(insert(model).from_select(names, stmt))


@refresher("fulfillment")
def refresh(session: Session) -> None:
    """Rebuild every ``agg_fulfil_*`` table from the fact tables (inside the caller's transaction)."""
    for t in AGG_TABLES:
        session.execute(delete(t))
    sql = _Sql(session.get_bind().dialect.name)
    # On failure the caller's transaction rolls back, temporary tables included.
    _create_temp(session)
    _fill_shipments(session)
    _fill_calendar(session)
    _fill_lines(session, sql)
    _aggregate(session)
    _drop_temp(session)
