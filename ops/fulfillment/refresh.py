"""Rebuild the ``agg_fulfil_*`` tables from the fact tables, aggregating in SQL (SQLite and PostgreSQL).

What SQL cannot do (business-day arithmetic under each warehouse's SLA calendar) is done in
Python once per *warehouse and day*, vectorised with :mod:`ops.business_time`, into a small
temporary calendar table (about 800 days x warehouses): whether the day is a business day, how
many business days precede it, and the ship-by deadline of an order paid that day before and
after the cut-off. No order or line passes through Python. The SQL runs in three staging passes
and one ``GROUP BY`` per aggregate:

1. ``tmp_fulfil_ship``: the order's shipments summed up (first ship time, last delivery when all
   delivered), each timestamp parsed once into whole seconds.
2. ``tmp_fulfil_order``: one row per order not excluded, with every per-order fact (derived
   ship-by deadline, calendar and business click-to-ship hours, delivery, transit, backlog,
   the weekday and hour paid) computed once per order from integer seconds; the calendar is
   joined on integer day numbers.
3. ``tmp_fulfil_line``: one row per order line, adding what a line can change (its own ship-by
   deadline: counted, on time, hours late, attribution) and its seller.

Each aggregate then groups the line table by one integer packing the grain's keys (placed day
number, warehouse, channel, seller, carrier; the seller's region follows from the seller), which
SQLite sorts about three times faster than the six columns; the keys are unpacked and the day
and region joined back on the (much smaller) grouped rows. Timestamps are parsed once per order
or shipment (SQLite's date functions over ISO text were most of the time before).

``agg_fulfil_hours`` holds the click-to-ship histograms (``HIST_EDGES`` buckets of calendar,
business and late hours; half-hour buckets of the two click-to-ship measures, from whole seconds)
per placed day and cell with each cell's running total over the days, computed with one window
sum per cell; :func:`refresh_days` recomputes the running totals of the cells it touched from their
first touched day on, so both paths write the same rows. ``agg_fulfil_hours_cells`` lists the cells.
Every cell exists per warehouse, channel, seller and carrier and again per warehouse alone (channel,
seller and carrier ids ``WAREHOUSE_ROLLUP``, -1): the page of a full viewer or a 3PL reads those, a
tenth as many cells to seek.

Business hours from ``a`` to ``b`` (``a <= b``; negative when swapped), with whole business days
as the working window (the stored calendars have no working hours): on one day, ``b - a`` if it
is a business day; else the rest of ``a``'s day if business, plus ``b``'s time of day if business,
plus 24 h per business day strictly between (``count(b's day) - count(a's day) - business(a's day)``,
counts of business days before each day). Equal to :func:`ops.business_time.business_hours_between`,
which ``tests/test_fulfillment_raw.py`` checks.
Definitions: :mod:`ops.fulfillment` (package docstring).

Calendar hours are whole seconds / 3600 (as :func:`ops.business_time.calendar_hours_between`);
"on time" compares the timestamps as stored (SQLAlchemy writes one text format on SQLite), so a
fraction of a second counts as it did.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session

from ops.aggregates import refresher
from ops.business_time import ship_by as derive_ship_by
from ops.fulfillment.metrics import EXCLUDED_STATUSES, HIST_EDGES, SHIPPED_STATUSES, WAREHOUSE_ROLLUP
from ops.fulfillment.queries import calendars
from ops.models import (
    AggFulfilBacklog,
    AggFulfilDaily,
    AggFulfilHeat,
    AggFulfilHours,
    AggFulfilHoursCell,
    AggFulfilLane,
    Order,
)

# The tables keyed by placed day (refresh_days replaces their rows of the touched days); the hours cells follow them.
AGG_TABLES = (AggFulfilDaily, AggFulfilHours, AggFulfilHeat, AggFulfilLane, AggFulfilBacklog)
# A cell of agg_fulfil_hours (ids are 0 where the line has none).
CELL_COLS = ("warehouse_id", "channel_id", "seller_id", "carrier_id", "measure", "fine", "bucket")
# Half-hour buckets: floor(seconds / FINE_S), computed as ((s + FLOOR_SHIFT) / FINE_S) - FLOOR_SHIFT / FINE_S so that
# integer division truncates a positive number on both databases (values down to -FLOOR_SHIFT seconds).
FINE_S = 1800
FLOOR_SHIFT = FINE_S * 10_000_000

# Day numbers are days since 1970-01-01 plus OFFSET_DAYS, so that every timestamp after the year 55
# gives a positive number (integer division and modulo then agree on SQLite and PostgreSQL); a
# multiple of 7 keeps 1970-01-01 a Thursday for the weekday.
OFFSET_DAYS = 700_000
OFFSET_S = OFFSET_DAYS * 86_400
_EPOCH = dt.datetime(1970, 1, 1)
# Attribution of a delivered line (codes in tmp_fulfil_line.attr).
ATTR_NONE, ATTR_ON_TIME, ATTR_UNKNOWN, ATTR_CARRIER, ATTR_WAREHOUSE = 0, 1, 2, 3, 4
# The packed grain must fit a signed 64-bit integer with the widest extra (weekday x hour) packed in.
_PACK_LIMIT = 2**62

_TMP = MetaData()
# The orders with more than one shipment (none at bench size).
TMP_MULTI = Table("tmp_fulfil_multi", _TMP, Column("order_id", Integer, primary_key=True, autoincrement=False),
                  prefixes=["TEMPORARY"])
# The order's shipments summed up: first ship time, last delivery (when all delivered), as text and seconds.
TMP_SHIP = Table(
    "tmp_fulfil_ship", _TMP,
    Column("order_id", Integer, primary_key=True), Column("shipped_at", DateTime), Column("shipped_s", BigInteger),
    Column("delivered", Integer), Column("delivered_on_time", Integer), Column("delivered_s", BigInteger),
    Column("carrier_id", Integer), Column("lane", String(64)),
    prefixes=["TEMPORARY"])
# What only Python computes, per warehouse (-1: no warehouse, the default calendar) and day number,
# keyed by one integer (a single row-id seek on SQLite): ck = (wh_key + 1) * CAL_STRIDE + dn.
CAL_STRIDE = 10_000_000
_ID = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's row id
TMP_CAL = Table(
    "tmp_fulfil_cal", _TMP,
    Column("ck", _ID, primary_key=True), Column("dn", Integer),
    Column("bus", Integer),  # 1 on a business day
    Column("n_before", Integer),  # business days before this day (from the first day of the table)
    Column("cutoff_s", Integer),  # the warehouse's cut-off, seconds after midnight
    Column("ship_by_before", DateTime),  # deadline of an order paid this day before the cut-off
    Column("ship_by_before_s", BigInteger),  # ... in seconds since the epoch
    Column("ship_by_after", DateTime),  # ... at or after the cut-off
    Column("ship_by_after_s", BigInteger),
    prefixes=["TEMPORARY"])
# One row per order not excluded, every per-order fact derived.
TMP_ORDER = Table(
    "tmp_fulfil_order", _TMP,
    Column("order_id", Integer, primary_key=True), Column("dn", Integer), Column("warehouse_id", Integer),
    Column("channel_id", Integer), Column("carrier_id", Integer), Column("lane", String(64)),
    Column("shipped_at", DateTime), Column("shipped_s", BigInteger), Column("deadline", DateTime),
    Column("deadline_s", BigInteger), Column("c2s_hours", Float),
    Column("c2s_bhours", Float), Column("c2s_f", BigInteger), Column("bus_f", BigInteger),
    Column("delivered", Integer),
    Column("delivered_on_time", Integer), Column("transit_hours", Float),
    Column("backlog", Integer), Column("paid_dow", Integer), Column("paid_hour", Integer),
    prefixes=["TEMPORARY"])
# One row per order line of an order not excluded, holding only what an aggregate reads (every scan of its
# 2.1 M rows at bench size reads fewer pages). ``g``: the grain's keys packed into one integer
# (:class:`_Packing`); ``late_b``: histogram bucket; ``*_f``: half-hour buckets. ``lane`` is kept for delivered
# lines only (the lanes aggregate), ``order_id`` and ``ship_by`` for backlog lines only (the backlog list).
TMP_LINE = Table(
    "tmp_fulfil_line", _TMP,
    Column("g", BigInteger), Column("lane", String(64)),
    Column("order_id", Integer), Column("ship_by", DateTime), Column("counted", Integer), Column("on_time", Integer),
    Column("late_hours", Float), Column("late_b", Integer), Column("c2s_hours", Float),
    Column("c2s_bhours", Float), Column("c2s_f", BigInteger), Column("bus_f", BigInteger),
    Column("delivered", Integer), Column("delivered_on_time", Integer), Column("transit_hours", Float),
    Column("attr", Integer), Column("backlog", Integer), Column("paid_dow", Integer), Column("paid_hour", Integer),
    prefixes=["TEMPORARY"])
# Day number -> the placed day, for the grouped rows.
TMP_DAY = Table("tmp_fulfil_day", _TMP, Column("dn", Integer, primary_key=True), Column("day", Date),
                prefixes=["TEMPORARY"])
# The placed days an incremental refresh rebuilds (day numbers).
TMP_TOUCH = Table("tmp_fulfil_touch", _TMP, Column("dn", Integer, primary_key=True), Column("day", Date),
                  prefixes=["TEMPORARY"])


def _cell_columns() -> list[Column[Any]]:
    return [Column(c, String(8) if c == "measure" else Integer) for c in CELL_COLS]


# The hours cells an incremental refresh touches (each with a day it had or has lines on), then one row per
# cell: the first touched day and the cell's running total before it.
TMP_HCELL = Table("tmp_fulfil_hcell", _TMP, *_cell_columns(), Column("day", Date), prefixes=["TEMPORARY"])
TMP_HFIX = Table("tmp_fulfil_hfix", _TMP, Column("id", Integer, primary_key=True), *_cell_columns(),
                 Column("d0", Date), Column("base", BigInteger), prefixes=["TEMPORARY"])
# Lines per (cell, day) packed, one click-to-ship measure at a time (see _insert_hours).
TMP_FINE = Table("tmp_fulfil_fine", _TMP, Column("k", BigInteger), Column("n", Integer), prefixes=["TEMPORARY"])
# The same per warehouse only (the cells of WAREHOUSE_ROLLUP).
TMP_FINE_WH = Table("tmp_fulfil_fine_wh", _TMP, Column("k", BigInteger), Column("n", Integer), prefixes=["TEMPORARY"])
_TEMPS = (TMP_MULTI, TMP_SHIP, TMP_CAL, TMP_ORDER, TMP_LINE, TMP_DAY, TMP_TOUCH, TMP_HCELL, TMP_HFIX, TMP_FINE,
          TMP_FINE_WH)

# The packed grain's components, in packing order (the seller's region follows from the seller).
_PACKED = ("dn", "warehouse_id", "channel_id", "seller_id", "carrier_id")
_KEY_COLS = "day, warehouse_id, channel_id, seller_id, seller_region, carrier_id"


# --- dialect helpers: the few expressions SQLite and PostgreSQL spell differently ----------------


class _Sql:
    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        # unixepoch() (SQLite 3.38+) parses about twice as fast as strftime('%s'); same whole seconds.
        self.unixepoch = not self.pg and sqlite3.sqlite_version_info >= (3, 38)

    def epoch(self, ts: str) -> str:
        """Whole seconds since the epoch (the timestamp read as UTC; only differences and days are used)."""
        if self.pg:
            return f"CAST(floor(extract(epoch FROM {ts})) AS BIGINT)"
        if self.unixepoch:
            return f"unixepoch({ts})"
        return f"CAST(strftime('%s', {ts}) AS BIGINT)"

    @property
    def fence(self) -> str:
        """Appended to a subquery so that it is computed once per row instead of being merged into the
        outer query, which would evaluate each of its expressions again wherever the outer one names it
        (both planners keep a subquery with an OFFSET as it is)."""
        return "OFFSET 0" if self.pg else "LIMIT -1 OFFSET 0"

    def day(self, ts: str) -> str:
        return f"CAST({ts} AS DATE)" if self.pg else f"date({ts})"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _hours(seconds: str) -> str:
    """Seconds (an integer expression) as hours, in floating point (as ``calendar_hours_between``)."""
    return f"CAST({seconds} AS DOUBLE PRECISION) / 3600.0"


def _bucket(col: str, scale: int | None = None) -> str:
    """The histogram bucket of ``col``: the number of ``HIST_EDGES`` at or below it (as ``metrics.bucket``),
    NULL for NULL; a binary search (five comparisons) rather than one ``WHEN`` per edge.

    ``scale``: ``col`` is an integer count of ``1 / scale`` hours (seconds: 3600, half-hour buckets: 2),
    compared with the edges times ``scale`` (whole numbers), so the bucket is exact for integers.
    """
    edges = [repr(e) for e in HIST_EDGES] if scale is None else [str(int(e * scale)) for e in HIST_EDGES]
    return f"CASE WHEN {col} IS NULL THEN NULL ELSE {_search(col, 0, len(edges), edges)} END"


def _search(col: str, lo: int, hi: int, edges: list[str]) -> str:
    """The bucket of ``col`` knowing it is in ``lo..hi``."""
    if lo == hi:
        return str(lo)
    mid = (lo + hi + 1) // 2
    below, above = _search(col, lo, mid - 1, edges), _search(col, mid, hi, edges)
    return f"CASE WHEN {col} < {edges[mid - 1]} THEN {below} ELSE {above} END"


def _fine(seconds: str) -> str:
    """The half-hour bucket ``floor(seconds / 1800)`` of an integer number of seconds (NULL for NULL)."""
    return f"(({seconds} + {FLOOR_SHIFT}) / {FINE_S} - {FLOOR_SHIFT // FINE_S})"


def day_number(day: dt.date) -> int:
    """The day number used in the staging tables (days since 1970-01-01 plus :data:`OFFSET_DAYS`)."""
    return (day - _EPOCH.date()).days + OFFSET_DAYS


def _seconds(ts: pd.Timestamp) -> int:
    return int((ts.to_pydatetime() - _EPOCH).total_seconds() // 1)


# --- steps --------------------------------------------------------------------------------------


def _create_temp(session: Session) -> None:
    conn = session.connection()
    for t in reversed(_TEMPS):
        t.drop(conn, checkfirst=True)
    for t in _TEMPS:
        t.create(conn)


def _drop_temp(session: Session) -> None:
    conn = session.connection()
    for t in reversed(_TEMPS):
        t.drop(conn, checkfirst=True)


def _fill_shipments(session: Session, sql: _Sql, orders: str = "") -> None:
    """The order's shipments summed up. Most orders have one shipment: those are copied as they are
    (grouping every order costs a group per order); only orders with several are grouped."""
    delivered = "delivered_at IS NOT NULL AND promised_at IS NOT NULL"
    facts = f"""shipped_at, {sql.epoch("shipped_at")},
               CASE WHEN {delivered} THEN 1 ELSE 0 END,
               CASE WHEN {delivered} AND {sql.day("delivered_at")} <= {sql.day("promised_at")} THEN 1 ELSE 0 END,
               {sql.epoch("delivered_at")}, carrier_id, lane"""
    cols = "order_id, shipped_at, shipped_s, delivered, delivered_on_time, delivered_s, carrier_id, lane"
    # an incremental refresh: only the shipments of the orders it rebuilds
    only = f" AND s.order_id IN (SELECT id FROM orders WHERE {orders})" if orders else ""  # noqa: S608
    # The orders with several shipments, from one scan of the order_id index (no table row read): a lookup in
    # that small list per shipment costs less than an index seek for another shipment of its order.
    session.execute(text(f"""
        INSERT INTO tmp_fulfil_multi (order_id)
        SELECT order_id FROM shipments AS s WHERE 1 = 1{only} GROUP BY order_id HAVING count(*) > 1"""))  # noqa: S608 - SQL from constants
    several = "SELECT order_id FROM tmp_fulfil_multi"
    session.execute(text(f"""
        INSERT INTO tmp_fulfil_ship ({cols})
        SELECT order_id, {facts} FROM shipments AS s WHERE order_id NOT IN ({several}){only}"""))  # noqa: S608 - SQL from constants and computed integers
    session.execute(text(f"""
        INSERT INTO tmp_fulfil_ship ({cols})
        SELECT order_id, {facts}
        FROM (SELECT order_id, min(shipped_at) AS shipped_at, min(promised_at) AS promised_at,
                     CASE WHEN count(delivered_at) = count(*) THEN max(delivered_at) END AS delivered_at,
                     min(carrier_id) AS carrier_id, min(lane) AS lane
              FROM shipments AS s WHERE order_id IN ({several}) GROUP BY order_id) AS m"""))  # noqa: S608 - SQL from constants and computed integers


def _fill_calendar(session: Session) -> None:
    """Every warehouse's calendar (and the default one) for each day from the first payment or shipment to the last."""
    paid = session.execute(text("SELECT min(paid_at), max(paid_at) FROM orders")).one()
    shipped = session.execute(text("SELECT min(shipped_at), max(shipped_at) FROM tmp_fulfil_ship")).one()
    ends = [pd.Timestamp(str(v)).normalize() for v in (*paid, *shipped) if v is not None]
    if not ends:
        return
    days = pd.date_range(min(ends), max(ends), freq="D")
    day_d = days.to_numpy().astype("datetime64[D]")
    dns = day_d.astype("int64") + OFFSET_DAYS
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
        rows += [{"ck": (int(wh_key) + 1) * CAL_STRIDE + int(d), "dn": int(d), "bus": int(b), "n_before": int(n),
                  "cutoff_s": int(cut.total_seconds()),
                  "ship_by_before": None if pd.isna(sb) else sb.to_pydatetime(),
                  "ship_by_before_s": None if pd.isna(sb) else _seconds(sb),
                  "ship_by_after": None if pd.isna(sa) else sa.to_pydatetime(),
                  "ship_by_after_s": None if pd.isna(sa) else _seconds(sa)}
                 for d, b, n, sb, sa in zip(dns, bus, n_before, before, after, strict=True)]
    session.execute(insert(TMP_CAL), rows)


def _business_seconds(a: str, ca: str, b: str, cb: str) -> str:
    """Business seconds from ``a`` to ``b`` (``a <= b``; shifted seconds), ``ca`` / ``cb`` their days' calendar rows."""
    sod_a, sod_b = f"({a} % 86400)", f"({b} % 86400)"
    return (f"CASE WHEN {ca}.dn = {cb}.dn THEN {ca}.bus * ({sod_b} - {sod_a}) "
            f"ELSE {ca}.bus * (86400 - {sod_a}) + {cb}.bus * {sod_b} "
            f"+ 86400 * ({cb}.n_before - {ca}.n_before - {ca}.bus) END")


def _fill_orders(session: Session, sql: _Sql, orders: str = "") -> None:
    """Per order not excluded: keys, first shipment, derived deadline, click-to-ship, delivery, backlog."""
    # o.paid_x / o.placed_x / s.ship_x: seconds shifted by OFFSET_S (positive), day number = x / 86400.
    ship_x = f"(s.shipped_s + {OFFSET_S})"
    c2s_ok = "o.paid_x IS NOT NULL AND s.shipped_at IS NOT NULL"
    derived = "CASE WHEN o.paid_x % 86400 < pc.cutoff_s THEN pc.ship_by_before ELSE pc.ship_by_after END"
    derived_s = "CASE WHEN o.paid_x % 86400 < pc.cutoff_s THEN pc.ship_by_before_s ELSE pc.ship_by_after_s END"
    wh_ck = f"(coalesce(o.warehouse_id, -1) + 1) * {CAL_STRIDE}"
    forward = _business_seconds("o.paid_x", "pc", ship_x, "sc")
    backward = _business_seconds(ship_x, "sc", "o.paid_x", "pc")
    session.execute(text(f"""
        INSERT INTO tmp_fulfil_order (order_id, dn, warehouse_id, channel_id, carrier_id, lane, shipped_at, shipped_s,
                                      deadline, deadline_s, c2s_hours, c2s_bhours, delivered, delivered_on_time,
                                      transit_hours, backlog, paid_dow, paid_hour, c2s_f, bus_f)
        SELECT order_id, dn, warehouse_id, channel_id, carrier_id, lane, shipped_at, shipped_s, deadline, deadline_s,
               {_hours("c2s_s")}, {_hours("bus_s")}, delivered, delivered_on_time, transit_hours, backlog, paid_dow,
               paid_hour, {_fine("c2s_s")}, {_fine("bus_s")}
        FROM (
        SELECT o.id AS order_id, o.placed_x / 86400 AS dn, o.warehouse_id, o.channel_id, s.carrier_id, s.lane,
               s.shipped_at, s.shipped_s,
               coalesce(o.ship_by, {derived}) AS deadline, coalesce(o.ship_by_s, {derived_s}) AS deadline_s,
               CASE WHEN {c2s_ok} THEN {ship_x} - o.paid_x END AS c2s_s,
               CASE WHEN {c2s_ok} AND s.shipped_at >= o.paid_at THEN {forward}
                    WHEN {c2s_ok} THEN -({backward}) END AS bus_s,
               coalesce(s.delivered, 0) AS delivered, coalesce(s.delivered_on_time, 0) AS delivered_on_time,
               CASE WHEN s.delivered = 1 AND s.shipped_at IS NOT NULL
                    THEN {_hours("s.delivered_s - s.shipped_s")} END AS transit_hours,
               CASE WHEN s.shipped_at IS NULL AND o.status NOT IN {_in(SHIPPED_STATUSES)} THEN 1 ELSE 0 END AS backlog,
               (o.paid_x / 86400 + 3) % 7 AS paid_dow, (o.paid_x % 86400) / 3600 AS paid_hour
        FROM (SELECT id, warehouse_id, channel_id, status, paid_at, ship_by,
                     {sql.epoch("paid_at")} + {OFFSET_S} AS paid_x, {sql.epoch("placed_at")} + {OFFSET_S} AS placed_x,
                     {sql.epoch("ship_by")} AS ship_by_s
              FROM orders WHERE status NOT IN {_in(EXCLUDED_STATUSES)}{f" AND {orders}" if orders else ""}
              {sql.fence}) AS o
        LEFT JOIN tmp_fulfil_ship AS s ON s.order_id = o.id
        LEFT JOIN tmp_fulfil_cal AS pc ON pc.ck = {wh_ck} + o.paid_x / 86400
        LEFT JOIN tmp_fulfil_cal AS sc ON sc.ck = {wh_ck} + {ship_x} / 86400 {sql.fence}) AS f"""))  # noqa: S608 - SQL from constants and computed integers


class _Packing:
    """The grain's keys packed into one integer (and back): ``code = coalesce(key - lo + 1, 0)`` per key
    (0 for NULL), ``g = ((code_dn * w_wh + code_wh) * w_ch + code_ch) ...`` in :data:`_PACKED` order.

    The ranges are read from the order staging table (day, warehouse, channel, carrier) and the
    order lines (seller, through its index), so every value packs."""

    def __init__(self, session: Session) -> None:
        per_order = [c for c in _PACKED if c != "seller_id"]
        # the half-hour buckets' range too, from the same scan (a line's buckets are its order's)
        cols = ", ".join(f"min({c}), max({c})" for c in [*per_order, "c2s_f", "bus_f"])
        got = session.execute(text(f"SELECT {cols} FROM tmp_fulfil_order")).one()  # noqa: S608 - column names
        ends = [int(v) for v in got[2 * len(per_order):] if v is not None]
        self.fine_lo, self.fine_hi = (min(ends), max(ends)) if ends else (0, 0)
        row = [*got[:2 * len(per_order)],
               *session.execute(text("SELECT min(seller_id), max(seller_id) FROM order_lines")).one()]
        self.lo: dict[str, int] = {}
        self.width: dict[str, int] = {}
        for i, c in enumerate([*per_order, "seller_id"]):
            lo, hi = row[2 * i], row[2 * i + 1]
            self.lo[c] = int(lo) if lo is not None else 0
            self.width[c] = int(hi) - int(lo) + 2 if lo is not None else 1
        self.stride: dict[str, int] = {}
        n = 1
        for c in reversed(_PACKED):
            self.stride[c] = n
            n *= self.width[c]
        self.total = n
        self.check(7 * 24)

    def check(self, extra: int) -> None:
        """Raise unless the grain times ``extra`` values (buckets, weekday x hour) packs into one 64-bit key."""
        if self.total * extra >= _PACK_LIMIT:
            raise ValueError(f"the fulfilment grain does not fit one 64-bit key ({self.total:,} combinations of day, "
                             f"warehouse, channel, seller and carrier ids, times {extra:,})")

    def key(self, cols: dict[str, str]) -> str:
        """The packed grain from the key expressions ``cols`` (key name -> SQL expression)."""
        out = ""
        for c in _PACKED:
            code = f"coalesce({cols[c]} - {self.lo[c] - 1}, 0)"
            out = f"CAST({code} AS BIGINT)" if not out else f"({out}) * {self.width[c]} + {code}"
        return out

    def unpack(self, g: str, c: str) -> str:
        """Key ``c`` of the packed grain ``g`` (NULL where it was NULL)."""
        return f"(nullif(({g} / {self.stride[c]}) % {self.width[c]}, 0) + {self.lo[c] - 1})"

    def keys(self, g: str) -> str:
        """The six key columns of the aggregates from the packed grain ``g`` (needs the joins of :meth:`joins`)."""
        return (f"d.day, {self.unpack(g, 'warehouse_id')}, {self.unpack(g, 'channel_id')}, sp.id, sp.region, "
                f"{self.unpack(g, 'carrier_id')}")

    def joins(self, g: str) -> str:
        return (f"LEFT JOIN tmp_fulfil_day AS d ON d.dn = {self.unpack(g, 'dn')} "
                f"LEFT JOIN suppliers AS sp ON sp.id = {self.unpack(g, 'seller_id')}")

    def days(self) -> range:
        return range(self.lo["dn"], self.lo["dn"] + self.width["dn"] - 1)


def _fill_lines(session: Session, sql: _Sql, pk: _Packing, *, few: bool = False) -> None:
    """Per order line: the order's facts plus what the line's own ship-by deadline changes, and its seller."""
    deadline = "coalesce(l.ship_by, o.deadline)"
    deadline_s = f"coalesce({sql.epoch('l.ship_by')}, o.deadline_s)"
    counted = f"({deadline} IS NOT NULL AND o.shipped_at IS NOT NULL)"
    on_time = f"({counted} AND o.shipped_at <= {deadline})"
    attr = (f"CASE WHEN o.delivered = 0 THEN {ATTR_NONE} WHEN o.delivered_on_time = 1 THEN {ATTR_ON_TIME} "
            f"WHEN NOT {counted} THEN {ATTR_UNKNOWN} WHEN {on_time} THEN {ATTR_CARRIER} ELSE {ATTR_WAREHOUSE} END")
    # Few orders (an incremental refresh): start from them and reach their lines through the
    # order_id index, in line id order as a full scan gives them (so sums add up in the same order).
    source = ("FROM tmp_fulfil_order AS o CROSS JOIN order_lines AS l WHERE l.order_id = o.order_id ORDER BY l.id"
              if few else "FROM order_lines AS l JOIN tmp_fulfil_order AS o ON o.order_id = l.order_id")
    g = pk.key({"dn": "o.dn", "warehouse_id": "o.warehouse_id", "channel_id": "o.channel_id",
                "seller_id": "l.seller_id", "carrier_id": "o.carrier_id"})
    session.execute(text(f"""
        INSERT INTO tmp_fulfil_line (g, lane, order_id, ship_by, counted, on_time, late_hours, late_b, c2s_hours,
                                     c2s_bhours, c2s_f, bus_f, delivered, delivered_on_time,
                                     transit_hours, attr, backlog, paid_dow, paid_hour)
        SELECT g, lane, order_id, ship_by, counted, on_time, late_hours, {_bucket("late_hours")}, c2s_hours,
               c2s_bhours, c2s_f, bus_f, delivered, delivered_on_time, transit_hours, attr, backlog, paid_dow,
               paid_hour
        FROM (SELECT {g} AS g, CASE WHEN o.delivered = 1 THEN o.lane END AS lane,
                     CASE WHEN o.backlog = 1 THEN o.order_id END AS order_id,
                     CASE WHEN o.backlog = 1 THEN {deadline} END AS ship_by,
                     CASE WHEN {counted} THEN 1 ELSE 0 END AS counted, CASE WHEN {on_time} THEN 1 ELSE 0 END AS on_time,
                     CASE WHEN {counted} AND NOT {on_time} THEN {_hours(f"o.shipped_s - {deadline_s}")} END
                         AS late_hours,
                     o.c2s_hours, o.c2s_bhours, o.c2s_f, o.bus_f, o.delivered, o.delivered_on_time,
                     o.transit_hours,
                     {attr} AS attr, o.backlog, o.paid_dow, o.paid_hour
              {source} {sql.fence}) AS f"""))  # noqa: S608 - SQL from constants and computed integers


def _fill_days(session: Session, pk: _Packing) -> None:
    rows = [{"dn": n, "day": _EPOCH.date() + dt.timedelta(days=n - OFFSET_DAYS)} for n in pk.days()]
    if rows:
        session.execute(insert(TMP_DAY), rows)


def _aggregate(session: Session, pk: _Packing, *, running: bool = True) -> None:
    """Every aggregate from the line table. ``running=False`` (an incremental refresh) leaves the running
    totals of ``agg_fulfil_hours`` at 0 for :func:`_fix_running` to set."""
    split = "(delivered = 1 AND c2s_hours IS NOT NULL AND transit_hours IS NOT NULL)"

    def n_attr(code: int) -> str:
        return f"sum(CASE WHEN attr = {code} THEN 1 ELSE 0 END)"

    daily = {
        "lines": "count(*)", "ship_counted": "sum(counted)", "ship_on_time": "sum(on_time)",
        "ship_late": "sum(counted) - sum(on_time)", "late_hours_sum": "coalesce(sum(late_hours), 0)",
        "c2s_n": "count(c2s_hours)", "c2s_hours_sum": "coalesce(sum(c2s_hours), 0)",
        "c2s_bhours_sum": "coalesce(sum(c2s_bhours), 0)", "delivered": "sum(delivered)",
        "delivered_on_time": "sum(delivered_on_time)", "late_warehouse": n_attr(ATTR_WAREHOUSE),
        "late_carrier": n_attr(ATTR_CARRIER), "late_unknown": n_attr(ATTR_UNKNOWN),
        "split_n": f"sum(CASE WHEN {split} THEN 1 ELSE 0 END)",
        "processing_hours_sum": f"coalesce(sum(CASE WHEN {split} THEN c2s_hours ELSE 0.0 END), 0)",
        "transit_hours_sum": f"coalesce(sum(CASE WHEN {split} THEN transit_hours ELSE 0.0 END), 0)",
    }
    _insert_packed(session, pk, "agg_fulfil_daily", "g", daily)

    _insert_hours(session, pk, running=running)

    _insert_packed(session, pk, "agg_fulfil_heat", "g * 168 + paid_dow * 24 + paid_hour",
                   {"shipped": "count(*)", "late": "sum(1 - on_time)"},
                   where="counted = 1 AND paid_dow IS NOT NULL",
                   extra={"paid_dow": "(a.g % 168) / 24", "paid_hour": "a.g % 24"}, base="a.g / 168")

    _insert_packed(session, pk, "agg_fulfil_lanes", "g",
                   {"delivered": "count(*)", "delivered_on_time": "sum(delivered_on_time)",
                    "late_warehouse": n_attr(ATTR_WAREHOUSE), "late_carrier": n_attr(ATTR_CARRIER),
                    "transit_hours_sum": "coalesce(sum(transit_hours), 0)"},
                   where="delivered = 1", group_extra=("lane", "nullif(lane, '')"))

    session.execute(text(f"""
        INSERT INTO agg_fulfil_backlog ({_KEY_COLS}, order_id, order_number, paid_at, ship_by, lines)
        SELECT {pk.keys("a.g")}, a.order_id, o.order_number, o.paid_at, a.ship_by, a.lines
        FROM (SELECT g, order_id, min(ship_by) AS ship_by, count(*) AS lines
              FROM tmp_fulfil_line WHERE backlog = 1 GROUP BY g, order_id) AS a
        JOIN orders AS o ON o.id = a.order_id {pk.joins("a.g")}"""))  # noqa: S608 - SQL from constants and computed integers


def _insert_hours(session: Session, pk: _Packing, *, running: bool) -> None:
    """``agg_fulfil_hours``: lines per placed day and cell (HIST_EDGES buckets of the three measures, half-hour
    buckets of the two click-to-ship measures), with each cell's running total over the days; every cell
    twice: per warehouse, channel, seller and carrier, and per warehouse alone (channel, seller and carrier
    ids :data:`WAREHOUSE_ROLLUP`).

    The click-to-ship measures are grouped once, by half hour, into ``tmp_fulfil_fine``; their HIST_EDGES rows
    are those rows grouped again (the half hour below an edge ``E`` is below ``2 E``), a tenth as many rows
    as the lines; the warehouse cells are ``tmp_fulfil_fine`` grouped again into ``tmp_fulfil_fine_wh``."""
    lo, hi = pk.fine_lo, pk.fine_hi
    width, nb = hi - lo + 1, len(HIST_EDGES) + 1
    per_day, days, wh = pk.stride["dn"], pk.width["dn"], pk.stride["warehouse_id"]
    pk.check(width)

    def k_of(rest: str, bucket: str) -> str:
        # (cell, day) packed cell-major (the rest of the grain, the bucket, then the day): the grouped rows come
        # in the order of the table's unique index, and a cell's rows share k / days
        return f"(({rest}) * {{w}} + {bucket}) * {days} + ({{dn}})"

    def insert(measure: str, fine: int, w: int, shift: int, source: str, *, rolled: bool = False) -> None:
        # rolled: the rest of the grain in k is the warehouse's code alone
        g = f"((a.k % {days}) * {per_day} + (a.k / {days}) / {w}{f' * {wh}' if rolled else ''})"
        cum = f"sum(a.n) OVER (PARTITION BY a.k / {days} ORDER BY a.k)" if running else "0"
        keys = ", ".join(str(WAREHOUSE_ROLLUP) if rolled and c != "warehouse_id" else f"coalesce({pk.unpack(g, c)}, 0)"
                         for c in ("warehouse_id", "channel_id", "seller_id", "carrier_id"))
        session.execute(text(f"""
            INSERT INTO agg_fulfil_hours (day, warehouse_id, channel_id, seller_id, carrier_id, measure, fine, bucket,
                                          n, cum)
            SELECT d.day, {keys}, '{measure}', {fine}, (a.k / {days}) % {w} + {shift}, a.n, {cum}
            FROM ({source}) AS a JOIN tmp_fulfil_day AS d ON d.dn = {pk.unpack(g, "dn")}"""))  # noqa: S608 - SQL from constants and computed integers

    def coarse(measure: str, fine_table: str, *, rolled: bool) -> None:
        fine_b = f"((f.k / {days}) % {width} + {lo})"
        coarse_k = k_of(f"(f.k / {days}) / {width}", _bucket(fine_b, 2)).format(w=nb, dn=f"f.k % {days}")
        insert(measure, 0, nb, 0, f"SELECT {coarse_k} AS k, sum(f.n) AS n FROM {fine_table} AS f "  # noqa: S608
                                  f"GROUP BY {coarse_k}", rolled=rolled)

    for rolled in (False, True):
        rest = f"(g % {per_day}) / {wh}" if rolled else f"g % {per_day}"
        late = k_of(rest, "late_b").format(w=nb, dn=f"g / {per_day}")
        insert("late", 0, nb, 0, f"SELECT {late} AS k, count(*) AS n FROM tmp_fulfil_line "  # noqa: S608
                                f"WHERE late_b IS NOT NULL GROUP BY {late}", rolled=rolled)
    for measure, col in (("c2s", "c2s_f"), ("c2s_bus", "bus_f")):
        session.execute(delete(TMP_FINE))
        session.execute(delete(TMP_FINE_WH))
        k = k_of(f"g % {per_day}", f"{col} - {lo}").format(w=width, dn=f"g / {per_day}")
        session.execute(text(f"""
            INSERT INTO tmp_fulfil_fine (k, n)
            SELECT {k}, count(*) FROM tmp_fulfil_line WHERE {col} IS NOT NULL GROUP BY {k}"""))  # noqa: S608 - SQL from constants and computed integers
        insert(measure, 1, width, lo, "SELECT k, n FROM tmp_fulfil_fine")
        coarse(measure, "tmp_fulfil_fine", rolled=False)
        k_wh = k_of(f"((f.k / {days}) / {width}) / {wh}", f"(f.k / {days}) % {width}").format(
            w=width, dn=f"f.k % {days}")
        session.execute(text(f"""
            INSERT INTO tmp_fulfil_fine_wh (k, n)
            SELECT {k_wh}, sum(f.n) FROM tmp_fulfil_fine AS f GROUP BY {k_wh}"""))  # noqa: S608 - SQL from constants and computed integers
        insert(measure, 1, width, lo, "SELECT k, n FROM tmp_fulfil_fine_wh", rolled=True)
        coarse(measure, "tmp_fulfil_fine_wh", rolled=True)


def _cell_eq(a: str, b: str) -> str:
    return " AND ".join(f"{a}.{c} = {b}.{c}" for c in CELL_COLS)


_CELL_LIST = ", ".join(CELL_COLS)
# A cell's HIST_EDGES bucket: its own for fine = 0, the one holding the half hour for fine = 1.
_COARSE = f"CASE WHEN c.fine = 1 THEN {_bucket('c.bucket', 2)} ELSE c.bucket END"


def _fill_cells(session: Session) -> None:
    """Every cell of ``agg_fulfil_hours`` (each cell's first row is the one whose running total is its own count)."""
    session.execute(text(f"""
        INSERT INTO agg_fulfil_hours_cells ({_CELL_LIST}, seller_region, coarse)
        SELECT {", ".join(f"c.{k}" for k in CELL_COLS)}, sp.region, {_COARSE}
        FROM agg_fulfil_hours AS c LEFT JOIN suppliers AS sp ON sp.id = c.seller_id WHERE c.cum = c.n"""))  # noqa: S608 - SQL from constants


def _note_touched_cells(session: Session) -> None:
    """The cells with rows on the touched days (before they are replaced, and again after)."""
    session.execute(text(f"""
        INSERT INTO tmp_fulfil_hcell ({_CELL_LIST}, day)
        SELECT {_CELL_LIST}, day FROM agg_fulfil_hours WHERE day IN (SELECT day FROM tmp_fulfil_touch)"""))  # noqa: S608 - SQL from constants


def _fix_running(session: Session) -> None:
    """After an incremental refresh replaced the touched days' rows: the running totals of every touched cell
    from its first touched day on, and the cell list (cells left without rows go, new ones come)."""
    _note_touched_cells(session)
    session.execute(text(f"""
        INSERT INTO tmp_fulfil_hfix ({_CELL_LIST}, d0, base)
        SELECT {_CELL_LIST}, min(day), 0 FROM tmp_fulfil_hcell GROUP BY {_CELL_LIST}"""))  # noqa: S608 - SQL from constants
    session.execute(text(f"""
        UPDATE tmp_fulfil_hfix SET base = coalesce((
            SELECT h.cum FROM agg_fulfil_hours AS h WHERE {_cell_eq("h", "tmp_fulfil_hfix")}
            AND h.day < tmp_fulfil_hfix.d0 ORDER BY h.day DESC LIMIT 1), 0)"""))  # noqa: S608 - SQL from constants
    session.execute(text(f"""
        UPDATE agg_fulfil_hours SET cum = w.cum
        FROM (SELECT h.id AS id, f.base + sum(h.n) OVER (PARTITION BY f.id ORDER BY h.day) AS cum
              FROM tmp_fulfil_hfix AS f JOIN agg_fulfil_hours AS h ON {_cell_eq("h", "f")} AND h.day >= f.d0) AS w
        WHERE agg_fulfil_hours.id = w.id"""))  # noqa: S608 - SQL from constants
    has_rows = f"EXISTS (SELECT 1 FROM agg_fulfil_hours AS h WHERE {_cell_eq('h', 'f')})"  # noqa: S608
    session.execute(text(f"""
        DELETE FROM agg_fulfil_hours_cells WHERE id IN (
            SELECT c.id FROM agg_fulfil_hours_cells AS c JOIN tmp_fulfil_hfix AS f ON {_cell_eq("c", "f")}
            WHERE NOT {has_rows})"""))  # noqa: S608 - SQL from constants
    session.execute(text(f"""
        INSERT INTO agg_fulfil_hours_cells ({_CELL_LIST}, seller_region, coarse)
        SELECT {", ".join(f"c.{k}" for k in CELL_COLS)}, sp.region, {_COARSE}
        FROM tmp_fulfil_hfix AS c LEFT JOIN suppliers AS sp ON sp.id = c.seller_id
        WHERE EXISTS (SELECT 1 FROM agg_fulfil_hours AS h WHERE {_cell_eq("h", "c")})
          AND NOT EXISTS (SELECT 1 FROM agg_fulfil_hours_cells AS x WHERE {_cell_eq("x", "c")})"""))  # noqa: S608 - SQL from constants


def _insert_packed(session: Session, pk: _Packing, table: str, packed: str, values: dict[str, str], *,
                   where: str | None = None, extra: dict[str, str] | None = None, base: str = "a.g",
                   group_extra: tuple[str, str] | None = None) -> None:
    """``INSERT INTO table (keys, extra, values) SELECT ... FROM tmp_fulfil_line GROUP BY packed [, group_extra]``.

    ``extra`` maps further columns to expressions of the packed value ``a.g``; ``base`` is the
    packed grain within it; ``group_extra`` is (column, expression) of a second, unpacked group key.
    """
    extra = extra or {}
    names = list(values)
    inner = ", ".join(f"{v} AS {k}" for k, v in values.items())
    ge = f", {group_extra[1]} AS {group_extra[0]}" if group_extra else ""
    ge_by = f", {group_extra[1]}" if group_extra else ""
    cols = [*extra, *([group_extra[0]] if group_extra else []), *names]
    sel = [*extra.values(), *([f"a.{group_extra[0]}"] if group_extra else []), *[f"a.{k}" for k in names]]
    session.execute(text(f"""
        INSERT INTO {table} ({_KEY_COLS}, {", ".join(cols)})
        SELECT {pk.keys(base)}, {", ".join(sel)}
        FROM (SELECT {packed} AS g{ge}, {inner} FROM tmp_fulfil_line
              {f"WHERE {where}" if where else ""} GROUP BY {packed}{ge_by}) AS a
        {pk.joins(base)}"""))  # noqa: S608 - SQL from constants and computed integers


@refresher("fulfillment")
def refresh(session: Session) -> None:
    """Rebuild every ``agg_fulfil_*`` table from the fact tables (inside the caller's transaction)."""
    sql = _Sql(session.get_bind().dialect.name)
    # SQLite: agg_fulfil_hours' day index (for refresh_days) is rebuilt once at the end rather than kept up to date
    # row by row (a third of the refresh at bench size). Not on PostgreSQL, where dropping it would lock readers out
    # until the commit; SQLite readers keep reading the last commit meanwhile.
    day_index = next(i for i in AggFulfilHours.metadata.tables["agg_fulfil_hours"].indexes
                     if i.name == "ix_agg_fulfil_hours_day")
    if not sql.pg:
        day_index.drop(session.connection(), checkfirst=True)
    for t in (*AGG_TABLES, AggFulfilHoursCell):
        session.execute(delete(t))
    # On failure the caller's transaction rolls back, temporary tables included.
    _create_temp(session)
    _fill_shipments(session, sql)
    _fill_calendar(session)
    _fill_orders(session, sql)
    pk = _Packing(session)
    _fill_lines(session, sql, pk)
    _fill_days(session, pk)
    _aggregate(session, pk)
    _fill_cells(session)
    if not sql.pg:
        day_index.create(session.connection())
    _drop_temp(session)


def touched_days(session: Session, order_ids: Iterable[int]) -> set[dt.date]:
    """The placed days of ``order_ids``: what :func:`refresh_days` must rebuild after those orders,
    their lines or their shipments changed (a late shipment changes the day its order was placed)."""
    ids = sorted({int(i) for i in order_ids})
    out: set[dt.date] = set()
    for i in range(0, len(ids), 5_000):
        rows = session.execute(select(Order.placed_at).where(Order.id.in_(ids[i:i + 5_000]))).scalars()
        out |= {v.date() for v in rows if v is not None}
    return out


def refresh_days(session: Session, days: Iterable[dt.date]) -> None:
    """Rebuild the ``agg_fulfil_*`` rows of the orders placed on ``days`` only, inside the caller's
    transaction (readers see the old rows until it commits). Equal to a full :func:`refresh` when
    ``days`` holds every placed day whose orders, lines or shipments changed (:func:`touched_days`)
    and no calendar, SLA policy or seller region changed (those need the full refresh)."""
    wanted = sorted(set(days))
    if not wanted:
        return
    sql = _Sql(session.get_bind().dialect.name)
    _create_temp(session)
    session.execute(insert(TMP_TOUCH), [{"dn": day_number(d), "day": d} for d in wanted])
    _note_touched_cells(session)  # the running totals of these cells change from the touched days on
    for t in AGG_TABLES:
        for i in range(0, len(wanted), 500):
            session.execute(delete(t).where(t.day.in_(wanted[i:i + 500])))
    lo = dt.datetime.combine(wanted[0], dt.time())
    hi = dt.datetime.combine(wanted[-1] + dt.timedelta(days=1), dt.time())
    # the placed_at index narrows to the span; the day numbers pick the days inside it
    span = session.execute(text("SELECT min(id), max(id) FROM orders WHERE placed_at >= :lo AND placed_at < :hi")
                           .bindparams(bindparam("lo", type_=DateTime), bindparam("hi", type_=DateTime)),
                           {"lo": lo, "hi": hi}).one()
    if span[0] is not None:
        in_span = f"placed_at >= {_ts(sql, lo)} AND placed_at < {_ts(sql, hi)}"
        on_days = f"({sql.epoch('placed_at')} + {OFFSET_S}) / 86400 IN (SELECT dn FROM tmp_fulfil_touch)"  # noqa: S608
        orders = f"id IN (SELECT id FROM orders WHERE {in_span} AND {on_days})"  # noqa: S608 - constants and literals
        _fill_shipments(session, sql, orders)
        _fill_calendar(session)
        _fill_orders(session, sql, orders)
        pk = _Packing(session)
        _fill_lines(session, sql, pk, few=True)
        _fill_days(session, pk)
        _aggregate(session, pk, running=False)
    _fix_running(session)
    _drop_temp(session)


def _ts(sql: _Sql, when: dt.datetime) -> str:
    """A timestamp literal compared with a stored one (SQLite stores SQLAlchemy's ISO text)."""
    if sql.pg:
        return f"TIMESTAMP '{when:%Y-%m-%d %H:%M:%S}'"
    return f"'{when:%Y-%m-%d %H:%M:%S.%f}'"
