"""Rebuild the ``agg_returns_*`` tables from the fact tables, aggregating in SQL (SQLite and PostgreSQL).

All ``INSERT ... SELECT``; no order line or return passes through Python:

1. Small staging tables: ``tmp_ret_prod`` (per product: its *product group*, a number for its
   supplier, category and size, ranked by those texts), ``tmp_ret_ret`` (per order line: its returns
   summed: units, lines, refunds, defect units, wrong-item lines; definitions in
   :mod:`ops.returns.metrics`) and ``tmp_ret_order`` (per order not cancelled or unavailable: its sale
   week number, the Monday of the placed day counted in weeks from 0001-01-01, one number for its
   channel, warehouse and first carrier, and whether any shipment left; the placed time is parsed once
   per order, not once per line).
2. ``tmp_ret_line``: one row per line of those orders with its sales and one integer group key packing
   sale week, product group, channel, warehouse and carrier (:class:`_Keys`); ``tmp_ret_line_ret``: the
   same keys for the few lines with returns, with their returns, so a return that arrives weeks later
   counts against the week of its sale. Every grouping of all the lines then carries four sums, not ten.
3. ``agg_returns_dim`` (sale week x supplier x one breakdown): the lines grouped once by that key
   (``tmp_ret_fine``; SQLite sorts one integer about three times faster than seven text columns),
   then by week and product group (``tmp_ret_mid``); each breakdown groups one of those and only
   its result rows are decoded into dates and codes. ``agg_returns_dim_all`` (the same summed over
   suppliers) and ``agg_returns_reason`` (sale week x supplier x category x size x reason x
   disposition, from the returns and their lines) are ``GROUP BY`` reads.
4. ``agg_returns_sku_cum``: every SKU x every sale week from its first sale to the data's last sale
   week, with running sums (``SUM() OVER (PARTITION BY product ORDER BY week)`` over a grid of the
   weeks left-joined to the SKU's weekly sums), so a range's totals per SKU are two rows' difference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from ops.aggregates import incremental, indexes_dropped, refresher
from ops.db import as_day
from ops.models import (
    AggReturnsDim,
    AggReturnsDimAll,
    AggReturnsReason,
    AggReturnsSkuCum,
    Carrier,
    Channel,
    Order,
    OrderLine,
    Product,
    Return,
    Shipment,
    Supplier,
    Warehouse,
)
from ops.returns.metrics import DEFECT_REASONS, DIMS, NONE_MEMBER, WRONG_ITEM_REASONS

if TYPE_CHECKING:
    from ops.ingest.changes import Changes

EXCLUDED_STATUSES = ("cancelled", "unavailable")
AGG_TABLES = (AggReturnsDim, AggReturnsDimAll, AggReturnsSkuCum, AggReturnsReason)
DIM_SUMS = ("units_sold", "sales_value", "units_returned", "return_lines", "returned_value", "refund_value",
            "lines_sold", "shipped_lines", "defect_units", "wrong_item_lines")
CUM_SUMS = ("units_sold", "sales_value", "units_returned", "returned_value", "refund_value")
_FLOATS = frozenset({"sales_value", "returned_value", "refund_value", "value", "refund"})
JULIAN_DAY_0001 = 1721425.5  # SQLite's julianday('0001-01-01'): that day, a Monday, is week 0
# Packed keys exceed PostgreSQL's integer; on SQLite an INTEGER primary key is the rowid itself.
KEY = BigInteger().with_variant(Integer(), "sqlite")

_TMP = MetaData()


def _tmp(name: str, *cols: Column[Any]) -> Table:
    return Table(name, _TMP, *cols, prefixes=["TEMPORARY"])


def _sum_cols(names: tuple[str, ...]) -> list[Column[Any]]:
    return [Column(c, Float if c in _FLOATS else Integer) for c in names]


TMP_PROD = _tmp("tmp_ret_prod", Column("product_id", Integer, primary_key=True), Column("pg", Integer),
                Column("sr", Integer), Column("cs", Integer), Column("unit_cost", Float), Column("sku", String(64)),
                Column("category", String(100)), Column("size", String(32)), Column("supplier", String(64)))
# product group -> its supplier (and supplier rank), category and size; supplier rank -> supplier
TMP_PG = _tmp("tmp_ret_pg", Column("pg", Integer, primary_key=True), Column("sr", Integer),
              Column("supplier", String(64)), Column("category", String(100)), Column("size", String(32)))
TMP_SUP = _tmp("tmp_ret_sup", Column("sr", Integer, primary_key=True), Column("supplier", String(64)))
TMP_RET = _tmp("tmp_ret_ret", Column("order_line_id", Integer, primary_key=True), Column("units", Integer),
               Column("lines", Integer), Column("refund", Float), Column("defect_units", Integer),
               Column("wrong_lines", Integer))
TMP_ORDER = _tmp("tmp_ret_order", Column("order_id", Integer, primary_key=True), Column("wk", Integer),
                 Column("og", Integer), Column("shipped", Integer))
# Every staged line's sales; the few lines with returns (a fifteenth at bench size) their returns apart, so
# that the groupings of all lines carry four sums, not ten.
SALE_SUMS = ("qty", "value", "shipped")
RETURN_SUMS = ("units_returned", "return_lines", "returned_value", "refund", "defect_units", "wrong_item_lines")
TMP_LINE = _tmp("tmp_ret_line", Column("g", KEY), Column("k", KEY), *_sum_cols(SALE_SUMS))
TMP_LINE_RET = _tmp("tmp_ret_line_ret", Column("line_id", Integer, primary_key=True), Column("g", KEY),
                    Column("k", KEY), Column("product_id", Integer), Column("unit_price", Float),
                    *_sum_cols(RETURN_SUMS))
TMP_FINE_RET = _tmp("tmp_ret_fine_ret", Column("g", KEY, primary_key=True, autoincrement=False),
                    *_sum_cols(RETURN_SUMS))
TMP_FINE = _tmp("tmp_ret_fine", Column("g", KEY), *_sum_cols(DIM_SUMS))
TMP_MID = _tmp("tmp_ret_mid", Column("m", KEY), *_sum_cols(DIM_SUMS))
# week number (from the keys' first week) -> its Monday; per SKU and week its sums; per SKU its first week
TMP_WEEKS = _tmp("tmp_ret_weeks", Column("wr", Integer, primary_key=True), Column("sale_week", Date))
TMP_SKU_WEEK = _tmp("tmp_ret_sku_week", Column("k", KEY, primary_key=True, autoincrement=False),
                    *_sum_cols(CUM_SUMS))
TMP_SKU_RET = _tmp("tmp_ret_sku_ret", Column("k", KEY, primary_key=True, autoincrement=False),
                   *_sum_cols(("units_returned", "returned_value", "refund")))
TMP_SKU = _tmp("tmp_ret_sku", Column("product_id", Integer, primary_key=True), Column("first_wr", Integer))
_TEMPS = (TMP_PROD, TMP_PG, TMP_SUP, TMP_RET, TMP_ORDER, TMP_LINE, TMP_LINE_RET, TMP_FINE_RET, TMP_FINE,
          TMP_MID, TMP_WEEKS, TMP_SKU_WEEK, TMP_SKU_RET, TMP_SKU)
# the breakdowns grouped from tmp_ret_mid (product attributes) and from tmp_ret_fine (order attributes)
MID_DIMS = {"total": None, "category": "category", "size": "size"}
ORDER_DIMS = {"channel": Channel, "warehouse": Warehouse, "carrier": Carrier}


@dataclass(frozen=True)
class _Keys:
    """How a staged line's group key packs its sale week, product group and order group, each factor one more
    than its largest value: ``g = ((wr * n_pg + pg) * n_ch + channel) * n_wh + warehouse) * n_car + carrier``
    (``wr``: weeks since ``wk0``; ``pg = sr * n_cs + cs``: the ranks of the supplier's code and of the category
    and size; ids, 0 for none). A SKU-week is ``k = product_id * n_weeks + wr``."""

    wk0: int
    n_weeks: int
    n_sr: int
    n_cs: int
    n_ch: int
    n_wh: int
    n_car: int

    @property
    def n_pg(self) -> int:
        return self.n_sr * self.n_cs

    @property
    def n_og(self) -> int:
        return self.n_ch * self.n_wh * self.n_car

    def monday(self, wr: int) -> dt.date:
        return dt.date.fromordinal((self.wk0 + int(wr)) * 7 + 1)

    def order_part(self, dim: str, g: Any) -> Any:
        """The channel, warehouse or carrier id (0: none) of a packed line key."""
        if dim == "channel":
            return (g % self.n_og) // (self.n_wh * self.n_car)
        if dim == "warehouse":
            return (g // self.n_car) % self.n_wh
        return g % self.n_car


def week_number(dialect: str, ts: Any) -> ColumnElement[Any]:
    """Weeks from Monday 0001-01-01 to the timestamp's day (its sale week's Monday is that many weeks on)."""
    if dialect == "postgresql":
        return (cast(ts, Date) - literal(dt.date(1, 1, 1), Date)) // 7
    return cast(func.julianday(ts) - JULIAN_DAY_0001, Integer) // 7


def sale_week_expr(dialect: str, ts: Any) -> ColumnElement[Any]:
    """The Monday of the timestamp's day, as a date (the sale-week key)."""
    if dialect == "postgresql":
        return cast(func.date_trunc("week", ts), Date)
    # SQLite: forward to the coming Sunday (the day itself when a Sunday), then back six days.
    return func.date(ts, "weekday 0", "-6 days")


def _flag(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((cond, 1), else_=0)


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


def _max_id(session: Session, col: Any) -> int:
    return int(session.scalar(select(func.max(col))) or 0)


def _keys(session: Session) -> _Keys:
    """The packing of :class:`_Keys` for the staged products and every order's week (a week of slack each side:
    the range comes from the placed times as Python reads them)."""
    first, last = (session.scalar(select(agg(Order.placed_at))) for agg in (func.min, func.max))
    if first is None or last is None:
        wk0, n_weeks = 0, 1
    else:
        wk0 = (as_day(first).toordinal() - 1) // 7 - 1
        n_weeks = (as_day(last).toordinal() - 1) // 7 + 2 - wk0
    keys = _Keys(wk0=wk0, n_weeks=n_weeks, n_sr=_max_id(session, TMP_PROD.c.sr) + 1,
                 n_cs=_max_id(session, TMP_PROD.c.cs) + 1, n_ch=_max_id(session, Channel.id) + 1,
                 n_wh=_max_id(session, Warehouse.id) + 1, n_car=_max_id(session, Carrier.id) + 1)
    if keys.n_weeks * keys.n_pg * keys.n_og >= 2**62:
        raise ValueError("returns refresh: channel, warehouse or carrier ids too large to pack into one key")
    return keys


def _fill(session: Session, dialect: str, orders: Any = None) -> _Keys:
    """Stage the lines (with shipments and returns) of every order, or of ``orders`` (a select of ids)."""
    session.execute(insert(TMP_PROD).from_select(
        ["product_id", "sr", "cs", "unit_cost", "sku", "category", "size", "supplier"],
        select(Product.id, func.dense_rank().over(order_by=Supplier.code),
               func.dense_rank().over(order_by=(Product.category, Product.size)),
               func.coalesce(Product.unit_cost, 0.0), Product.sku, Product.category, Product.size, Supplier.code)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)))
    p = TMP_PROD.c
    session.execute(update(TMP_PROD).values(pg=p.sr * (_max_id(session, p.cs) + 1) + p.cs))
    session.execute(insert(TMP_PG).from_select(
        ["pg", "sr", "supplier", "category", "size"],
        select(p.pg, func.min(p.sr), func.min(p.supplier), func.min(p.category), func.min(p.size)).group_by(p.pg)))
    session.execute(insert(TMP_SUP).from_select(
        ["sr", "supplier"], select(p.sr, func.min(p.supplier)).group_by(p.sr)))
    keys = _keys(session)
    session.execute(insert(TMP_WEEKS), [{"wr": i, "sale_week": keys.monday(i)} for i in range(keys.n_weeks)])

    rets = (select(Return.order_line_id, func.sum(Return.qty), func.count(), func.sum(Return.refund_amount),
                   func.sum(case((func.lower(Return.reason_code).in_(DEFECT_REASONS), Return.qty), else_=0)),
                   func.sum(_flag(func.lower(Return.reason_code).in_(WRONG_ITEM_REASONS))))
            .group_by(Return.order_line_id))
    # Per order its shipments' first carrier and whether any left: grouped by the order's id while the orders
    # are read in id order (one index seek into the shipments each, no sort).
    ords = (select(Order.id, week_number(dialect, Order.placed_at),
                   (Order.channel_id * keys.n_wh + func.coalesce(Order.warehouse_id, 0)) * keys.n_car
                   + func.coalesce(func.min(Shipment.carrier_id), 0),
                   case((func.count(Shipment.shipped_at) > 0, 1), else_=0))
            .outerjoin(Shipment, Shipment.order_id == Order.id)
            .where(Order.status.not_in(EXCLUDED_STATUSES)).group_by(Order.id))
    if orders is not None:
        rets = rets.where(Return.order_line_id.in_(select(OrderLine.id).where(OrderLine.order_id.in_(orders))))
        ords = ords.where(Order.id.in_(orders))
    session.execute(insert(TMP_RET).from_select(
        ["order_line_id", "units", "lines", "refund", "defect_units", "wrong_lines"], rets))
    session.execute(insert(TMP_ORDER).from_select(["order_id", "wk", "og", "shipped"], ords))

    r, o = TMP_RET.c, TMP_ORDER.c
    wr = o.wk - keys.wk0
    g = (cast(wr, KEY) * keys.n_pg + p.pg) * keys.n_og + o.og
    k = cast(OrderLine.product_id, KEY) * keys.n_weeks + wr
    sales = (select(g, k, OrderLine.qty, OrderLine.qty * OrderLine.unit_price, o.shipped)
             .select_from(OrderLine).join(TMP_ORDER, o.order_id == OrderLine.order_id)
             .join(TMP_PROD, p.product_id == OrderLine.product_id))
    if orders is not None:
        sales = sales.where(OrderLine.order_id.in_(orders))
    session.execute(insert(TMP_LINE).from_select(["g", "k", *SALE_SUMS], sales))
    returned = (select(r.order_line_id, g, k, OrderLine.product_id, OrderLine.unit_price, r.units, r.lines,
                       r.units * OrderLine.unit_price, r.refund, r.defect_units,
                       # wrong-item returns count against accuracy only on lines that were shipped
                       r.wrong_lines * o.shipped)
                .select_from(TMP_RET).join(OrderLine, OrderLine.id == r.order_line_id)
                .join(TMP_ORDER, o.order_id == OrderLine.order_id)
                .join(TMP_PROD, p.product_id == OrderLine.product_id))
    session.execute(insert(TMP_LINE_RET).from_select(
        ["line_id", "g", "k", "product_id", "unit_price", *RETURN_SUMS], returned))
    return keys


def _aggregate(session: Session, keys: _Keys, weeks: list[dt.date] | None = None) -> None:
    """The aggregates from the staged lines: every sale week, or (``weeks``) only those, staged alone."""
    if weeks is None:
        _sku_cumulative(session, keys)
    t, lr, fr = TMP_LINE.c, TMP_LINE_RET.c, TMP_FINE_RET.c
    session.execute(insert(TMP_FINE_RET).from_select(
        ["g", *RETURN_SUMS], select(lr.g, *[func.sum(lr[c]) for c in RETURN_SUMS]).group_by(lr.g)))
    sold = (select(t.g, func.sum(t.qty).label("units_sold"), func.sum(t.value).label("sales_value"),
                   func.count().label("lines_sold"), func.sum(t.shipped).label("shipped_lines")).group_by(t.g)
            .subquery())
    zero = {"returned_value": 0.0, "refund": 0.0}
    fine: dict[str, Any] = {
        **{c: sold.c[c] for c in ("units_sold", "sales_value", "lines_sold", "shipped_lines")},
        **{c: func.coalesce(fr[c], zero.get(c, 0)) for c in RETURN_SUMS}}
    fine["refund_value"] = fine.pop("refund")
    session.execute(insert(TMP_FINE).from_select(
        ["g", *DIM_SUMS], select(sold.c.g, *[fine[c] for c in DIM_SUMS])
        .select_from(sold).outerjoin(TMP_FINE_RET, fr.g == sold.c.g)))
    f = TMP_FINE.c
    m = (f.g // keys.n_og).label("m")
    session.execute(insert(TMP_MID).from_select(
        ["m", *DIM_SUMS], select(m, *[func.sum(f[c]) for c in DIM_SUMS]).group_by(m)))

    cols = ["sale_week", "supplier", "dim", "member", *DIM_SUMS]
    for dim in DIMS:
        stmt = _mid_breakdown(keys, dim) if dim in MID_DIMS else _order_breakdown(keys, dim)
        session.execute(insert(AggReturnsDim).from_select(cols, stmt))
    d = AggReturnsDim
    per_week = select(d.sale_week, d.dim, d.member, *[func.sum(getattr(d, c)) for c in DIM_SUMS])
    if weeks is not None:
        per_week = per_week.where(d.sale_week.in_(weeks))
    session.execute(insert(AggReturnsDimAll).from_select(
        ["sale_week", "dim", "member", *DIM_SUMS], per_week.group_by(d.sale_week, d.dim, d.member)))

    # Per return: its staged line's week, product, price and cost.
    r, lr, p, w = Return, TMP_LINE_RET.c, TMP_PROD.c, TMP_WEEKS.c
    rkeys = [w.sale_week, p.supplier, p.category, p.size, r.reason_code, r.disposition]
    stmt = (select(*rkeys, func.count().label("return_lines"), func.sum(r.qty).label("units_returned"),
                   func.sum(r.qty * lr.unit_price).label("returned_value"),
                   func.sum(r.refund_amount).label("refund_value"),
                   func.sum(r.qty * p.unit_cost).label("cost_value"))
            .select_from(r).join(TMP_LINE_RET, lr.line_id == r.order_line_id)
            .join(TMP_PROD, p.product_id == lr.product_id)
            .join(TMP_WEEKS, w.wr == lr.k % keys.n_weeks).group_by(*rkeys))
    session.execute(insert(AggReturnsReason).from_select(
        ["sale_week", "supplier", "category", "size", "reason_code", "disposition", "return_lines",
         "units_returned", "returned_value", "refund_value", "cost_value"], stmt))


def _mid_breakdown(keys: _Keys, dim: str) -> Any:
    """A product-attribute breakdown (a few rows per week and product group): grouped by the texts themselves."""
    mid, pg, w = TMP_MID.c, TMP_PG.c, TMP_WEEKS.c
    attr = MID_DIMS[dim]
    key = pg[attr] if attr is not None else None
    member = func.coalesce(key, NONE_MEMBER) if key is not None else literal("")
    return (select(w.sale_week, pg.supplier, literal(dim, String(16)), member, *[func.sum(mid[c]) for c in DIM_SUMS])
            .select_from(TMP_MID).join(TMP_PG, pg.pg == mid.m % keys.n_pg)
            .join(TMP_WEEKS, w.wr == mid.m // keys.n_pg)
            .group_by(w.sale_week, pg.supplier, *([key] if key is not None else [])))


def _order_breakdown(keys: _Keys, dim: str) -> Any:
    """A channel, warehouse or carrier breakdown: the fine sums grouped by one packed week x supplier x id key
    (``g // (n_og * n_cs)`` is ``wr * n_sr + sr``), then only the result rows decoded into the week's Monday and
    the codes."""
    f, w, sup = TMP_FINE.c, TMP_WEEKS.c, TMP_SUP.c
    code_table: Any = ORDER_DIMS[dim]
    n_x = {"channel": keys.n_ch, "warehouse": keys.n_wh, "carrier": keys.n_car}[dim]
    k = (f.g // (keys.n_og * keys.n_cs) * n_x + keys.order_part(dim, f.g)).label("k")
    per_key = select(k, *[func.sum(f[c]).label(c) for c in DIM_SUMS]).group_by(k).subquery()
    return (select(w.sale_week, sup.supplier, literal(dim, String(16)), func.coalesce(code_table.code, NONE_MEMBER),
                   *[per_key.c[c] for c in DIM_SUMS])
            .select_from(per_key).join(TMP_WEEKS, w.wr == per_key.c.k // (keys.n_sr * n_x))
            .join(TMP_SUP, sup.sr == (per_key.c.k // n_x) % keys.n_sr)
            .outerjoin(code_table, code_table.id == per_key.c.k % n_x)
            # the row order of a GROUP BY of the texts on SQLite, as before and as the other breakdowns
            .order_by(w.sale_week, sup.supplier, code_table.code))


def _sku_cumulative(session: Session, keys: _Keys) -> None:
    """``agg_returns_sku_cum``: every SKU x every sale week from its first one, with running sums (a window SUM)."""
    t, lr, sr = TMP_LINE.c, TMP_LINE_RET.c, TMP_SKU_RET.c
    session.execute(insert(TMP_SKU_RET).from_select(
        ["k", "units_returned", "returned_value", "refund"],
        select(lr.k, func.sum(lr.units_returned), func.sum(lr.returned_value), func.sum(lr.refund)).group_by(lr.k)))
    sold = select(t.k, func.sum(t.qty).label("qty"), func.sum(t.value).label("value")).group_by(t.k).subquery()
    session.execute(insert(TMP_SKU_WEEK).from_select(
        ["k", *CUM_SUMS],
        select(sold.c.k, sold.c.qty, sold.c.value, func.coalesce(sr.units_returned, 0),
               func.coalesce(sr.returned_value, 0.0), func.coalesce(sr.refund, 0.0))
        .select_from(sold).outerjoin(TMP_SKU_RET, sr.k == sold.c.k)))
    sw, p = TMP_SKU_WEEK.c, TMP_PROD.c
    first, last = session.execute(select(func.min(sw.k % keys.n_weeks), func.max(sw.k % keys.n_weeks))).one()
    if first is None:
        return
    # Per SKU its first week: one range seek on the SKU-week key each (the key orders by product, then week).
    lo = cast(p.product_id, KEY) * keys.n_weeks
    first_k = select(func.min(sw.k)).where(sw.k >= lo, sw.k < lo + keys.n_weeks).scalar_subquery()
    session.execute(insert(TMP_SKU).from_select(
        ["product_id", "first_wr"],
        select(p.product_id, first_k - lo).where(first_k.is_not(None)).order_by(p.product_id)))
    s, w = TMP_SKU.c, TMP_WEEKS.c
    # A SKU's grid starts at its first week with sales, so no running sum starts from a missing week (NULL).
    running = [func.sum(sw[c]).over(partition_by=s.product_id, order_by=w.wr, rows=(None, 0)) for c in CUM_SUMS]
    stmt = (select(w.sale_week, s.product_id, p.sku, p.category, p.size, p.supplier, *running)
            .select_from(TMP_SKU).join(TMP_PROD, p.product_id == s.product_id)
            .join(TMP_WEEKS, and_(w.wr >= s.first_wr, w.wr <= last))
            .outerjoin(TMP_SKU_WEEK, sw.k == cast(s.product_id, KEY) * keys.n_weeks + w.wr)
            .subquery())
    # Stored week by week: a page reads one or two whole weeks (about 10,000 rows each at bench size), which
    # then lie on a few hundred pages instead of one row on each of the table's pages (the window computes SKU
    # by SKU). At bench size this took the Returns page's priority read on PostgreSQL from 150 ms to a few ms.
    ordered = select(*stmt.c).order_by(stmt.c.sale_week, stmt.c.product_id)
    with indexes_dropped(session, AggReturnsSkuCum):
        session.execute(insert(AggReturnsSkuCum).from_select(
            ["sale_week", "product_id", "sku", "category", "size", "supplier", *CUM_SUMS], ordered))


@refresher("returns")
def refresh(session: Session) -> None:
    """Rebuild every ``agg_returns_*`` table from the fact tables (inside the caller's transaction)."""
    for tbl in AGG_TABLES:
        session.execute(delete(tbl))
    dialect = session.get_bind().dialect.name
    _create_temp(session)
    keys = _fill(session, dialect)
    _aggregate(session, keys)
    _drop_temp(session)


# --- incremental: only the sale weeks an import touched -----------------------------------------

MAX_WEEKS = 26  # more touched sale weeks than this: the full rebuild is as quick
MAX_CELLS = 200_000  # touched SKUs x weeks beyond which the running sums are rebuilt in full
TMP_ORD = Table("tmp_ret_ord", _TMP, Column("order_id", Integer, primary_key=True), prefixes=["TEMPORARY"])
TMP_TOUCH = Table("tmp_ret_touch", _TMP, Column("product_id", Integer, primary_key=True), prefixes=["TEMPORARY"])
_INC_TEMPS = (TMP_ORD, TMP_TOUCH)
_WEEK = dt.timedelta(days=7)
# Attributes of the products in a pass: what a full pass reads through the staged lines.
_ATTRS = ("sku", "category", "size", "supplier")


@incremental("returns")
def refresh_changes(session: Session, changes: Changes) -> bool:
    """Rebuild the sale weeks whose orders, lines, shipments or returns an import touched (old weeks too:
    a late return or shipment counts against the week its line was sold, an order may move). False
    (run the full rebuild) when a product's attributes or a code the aggregates copy changed."""
    if (changes.updated("products", ("sku", "category", "size", "unit_cost", "supplier_id"))
            or any(changes.updated(t, ("code",)) for t in ("suppliers", "channels", "warehouses", "carriers"))):
        return False
    weeks = sorted(changes.sale_weeks(session))
    if not weeks:
        return True
    if len(weeks) > MAX_WEEKS:
        return False
    products = changes.product_ids(session, via=("orders", "order_lines", "returns"))
    return refresh_weeks(session, weeks, products)


def refresh_weeks(session: Session, weeks: list[dt.date], products: set[int]) -> bool:
    """Rebuild the ``agg_returns_*`` rows of the sale ``weeks`` (Mondays) and the running sums of
    ``products`` (every product whose sales or returns in those weeks may have changed) from those
    weeks on, inside the caller's transaction. Returns False, having changed nothing it cannot undo
    by a full rebuild, when the running sums' grid would shrink (a product's first sale week or the
    data's last one emptied): the caller then runs :func:`refresh`.

    Equal to the full rebuild: the weeks are staged and grouped exactly as there; the running sums
    of ``products`` get, from each touched week on, the difference between the week's new sums and
    its old ones (old = two consecutive running sums' difference), so integer counts are exact and
    money sums equal up to rounding.
    """
    if len(weeks) * max(len(products), 1) > MAX_CELLS:
        return False
    cum = AggReturnsSkuCum
    last_old = session.scalar(select(func.max(cum.sale_week)))
    if last_old is None:
        return False  # no running sums yet: the full rebuild makes them
    last_old = as_day(last_old)
    dialect = session.get_bind().dialect.name
    conn = session.connection()
    _create_temp(session)
    for t in _INC_TEMPS:
        t.drop(conn, checkfirst=True)
        t.create(conn)
    wk = sale_week_expr(dialect, Order.placed_at)
    for w in weeks:
        lo = dt.datetime.combine(w - dt.timedelta(days=1), dt.time())
        hi = dt.datetime.combine(w + dt.timedelta(days=8), dt.time())
        # the placed_at index narrows to the week (a day of slack each side); the sale week picks it exactly
        session.execute(insert(TMP_ORD).from_select(
            ["order_id"], select(Order.id).where(Order.placed_at >= lo, Order.placed_at < hi,
                                                 wk == bindparam(f"w{w:%Y%m%d}", w, type_=Date))))
    orders = select(TMP_ORD.c.order_id)
    keys = _fill(session, dialect, orders)
    tl = TMP_LINE.c
    if products:
        session.execute(insert(TMP_TOUCH), [{"product_id": p} for p in sorted(products)])
    new = _staged_week_sums(session, keys)
    staged_weeks = {keys.monday(v) for v in session.scalars(select(tl.k % keys.n_weeks).distinct())}
    if last_old in weeks and last_old not in staged_weeks and not any(w > last_old for w in staged_weeks):
        _drop_inc(session)
        return False  # the data's last sale week emptied: the grid ends earlier
    probe = sorted({*weeks, *(w - _WEEK for w in weeks), last_old})
    old = _week_sums(session, select(cum.product_id, cum.sale_week, *[getattr(cum, c) for c in CUM_SUMS])
                     .where(cum.sale_week.in_(probe), cum.product_id.in_(select(TMP_TOUCH.c.product_id))))
    last_new = max([last_old, *staged_weeks])
    deltas: dict[int, dict[dt.date, tuple[float, ...]]] = {}
    zero_from: dict[int, dt.date] = {}  # product -> first week of zero rows to add (new to the grid, or earlier)
    zero_to: dict[int, dt.date] = {}
    for p in products:
        in_grid = (p, last_old) in old
        first_now = min((w for w in weeks if (p, w) in new), default=None)
        for w in weeks:
            here, before = old.get((p, w)), old.get((p, w - _WEEK))
            now = new.get((p, w))
            if here is not None and before is None and now is None and w <= last_old \
                    and (first_now is None or first_now > w):
                _drop_inc(session)
                return False  # the product's first sale week emptied and none earlier: its grid starts later
            was = tuple(a - b for a, b in zip(here, before, strict=True)) if here is not None and before is not None \
                else (here or (0,) * len(CUM_SUMS))
            d = tuple(a - b for a, b in zip(now or (0,) * len(CUM_SUMS), was, strict=True))
            if any(d):
                deltas.setdefault(p, {})[w] = d
            if now is not None and here is None and (w <= last_old or not in_grid):
                zero_from[p] = min(zero_from.get(p, w), w)
        if p in zero_from:
            zero_to[p] = _first_week(session, p, zero_from[p]) - _WEEK if in_grid else last_new
    session.execute(delete(AggReturnsDim).where(AggReturnsDim.sale_week.in_(weeks)))
    session.execute(delete(AggReturnsDimAll).where(AggReturnsDimAll.sale_week.in_(weeks)))
    session.execute(delete(AggReturnsReason).where(AggReturnsReason.sale_week.in_(weeks)))
    _aggregate(session, keys, weeks)
    _extend_grid(session, last_old, last_new)
    _add_zero_rows(session, zero_from, zero_to)
    _apply_deltas(session, deltas, last_new)
    _drop_inc(session)
    return True


def _staged_week_sums(session: Session, keys: _Keys) -> dict[tuple[int, dt.date], tuple[float, ...]]:
    """Per touched product and staged sale week: its :data:`CUM_SUMS` (sales, then returns added)."""
    out: dict[tuple[int, dt.date], list[float]] = {}
    t, lr = TMP_LINE.c, TMP_LINE_RET.c
    sources = ((t.k, (t.qty, t.value), 0), (lr.k, (lr.units_returned, lr.returned_value, lr.refund), 2))
    for k, sums, at in sources:
        stmt = (select(k, *[func.sum(c) for c in sums])
                .where((k // keys.n_weeks).in_(select(TMP_TOUCH.c.product_id))).group_by(k))
        for row in session.execute(stmt):
            p, wr = divmod(int(row[0]), keys.n_weeks)
            vals = out.setdefault((p, keys.monday(wr)), [0] * len(CUM_SUMS))
            for i, v in enumerate(row[1:]):
                vals[at + i] += v or 0
    return {key: tuple(v) for key, v in out.items()}


def _week_sums(session: Session, stmt: Any) -> dict[tuple[int, dt.date], tuple[float, ...]]:
    return {(int(r[0]), as_day(r[1])): tuple(v or 0 for v in r[2:]) for r in session.execute(stmt)}


def _first_week(session: Session, product_id: int, after: dt.date) -> dt.date:
    """The product's first week in the running sums (it has one after ``after``: it is in the grid)."""
    cum = AggReturnsSkuCum
    v = session.scalar(select(func.min(cum.sale_week)).where(cum.product_id == product_id, cum.sale_week > after))
    assert v is not None
    return as_day(v)


def _extend_grid(session: Session, last_old: dt.date, last_new: dt.date) -> None:
    """A new last sale week: every SKU's running sums carry on to it (as of the old last week)."""
    cum = AggReturnsSkuCum
    cols = ["product_id", *_ATTRS, *CUM_SUMS]
    w = last_old + _WEEK
    while w <= last_new:
        session.execute(insert(cum).from_select(
            ["sale_week", *cols],
            select(literal(w, Date), *[getattr(cum, c) for c in cols]).where(cum.sale_week == last_old)))
        w += _WEEK


def _add_zero_rows(session: Session, start: dict[int, dt.date], end: dict[int, dt.date]) -> None:
    """Rows of zeros for weeks a product's grid now starts before (the deltas then fill them in)."""
    if not start:
        return
    attrs = {int(r[0]): tuple(r[1:]) for r in session.execute(
        select(Product.id, Product.sku, Product.category, Product.size, Supplier.code)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id).where(Product.id.in_(sorted(start))))}
    rows = []
    for p, w in start.items():
        while w <= end[p]:
            rows.append({"sale_week": w, "product_id": p, **dict(zip(_ATTRS, attrs[p], strict=True)),
                         **dict.fromkeys(CUM_SUMS, 0)})
            w += _WEEK
    if rows:
        session.execute(insert(AggReturnsSkuCum), rows)


def _apply_deltas(session: Session, deltas: dict[int, dict[dt.date, tuple[float, ...]]], last: dt.date) -> None:
    """Add each product's week deltas to its running sums from that week to ``last`` (one indexed row each)."""
    cum: Any = AggReturnsSkuCum.__table__
    stmt = (update(cum).where(cum.c.sale_week == bindparam("w"), cum.c.product_id == bindparam("p"))
            .values({c: cum.c[c] + bindparam(f"d_{c}") for c in CUM_SUMS}))
    params = []
    for p, by_week in deltas.items():
        run: tuple[float, ...] = (0.0,) * len(CUM_SUMS)
        w = min(by_week)
        while w <= last:
            if w in by_week:
                run = tuple(a + b for a, b in zip(run, by_week[w], strict=True))
            params.append({"w": w, "p": p, **{f"d_{c}": v for c, v in zip(CUM_SUMS, run, strict=True)}})
            w += _WEEK
    for i in range(0, len(params), 1_000):
        session.execute(stmt, params[i:i + 1_000])


def _drop_inc(session: Session) -> None:
    conn = session.connection()
    for t in _INC_TEMPS:
        t.drop(conn, checkfirst=True)
    _drop_temp(session)
