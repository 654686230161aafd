"""Rebuild the ``agg_returns_*`` tables from the fact tables, aggregating in SQL (SQLite and PostgreSQL).

Three steps, all ``INSERT ... SELECT``; no order line or return passes through Python:

1. ``tmp_ret_ship``: per order, its first carrier and whether any shipment left;
   ``tmp_ret_ret``: per order line, its returns summed (units, lines, refunds, defect units,
   wrong-item lines; definitions in :mod:`ops.returns.metrics`).
2. ``tmp_ret_line``: one row per order line of an order not cancelled or unavailable, with its
   sale week (the Monday of the order's placed day), SKU attributes, supplier code, channel,
   warehouse and carrier codes, and its returns joined on, so a return that arrives weeks later
   counts against the week of its sale.
3. ``agg_returns_dim`` (sale week x supplier x one breakdown): the lines grouped once by every
   breakdown together (``tmp_ret_fine``, then ``tmp_ret_mid`` by category and size alone), each
   breakdown a ``GROUP BY`` of those sums (one sort of the lines on SQLite, not six);
   ``agg_returns_dim_all`` (the same summed over suppliers) and ``agg_returns_reason`` (sale week x
   supplier x category x size x reason x disposition) are ``GROUP BY`` reads of those.
4. ``agg_returns_sku_cum``: every SKU x every sale week from its first sale to the data's last sale
   week, with running sums (``SUM() OVER (PARTITION BY product ORDER BY week)`` over a grid of the
   weeks left-joined to the SKU's weekly sums), so a range's totals per SKU are two rows' difference.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
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

from ops.aggregates import incremental, refresher
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

_TMP = MetaData()
TMP_SHIP = Table("tmp_ret_ship", _TMP, Column("order_id", Integer, primary_key=True), Column("carrier_id", Integer),
                 Column("shipped", Integer), prefixes=["TEMPORARY"])
TMP_RET = Table("tmp_ret_ret", _TMP, Column("order_line_id", Integer, primary_key=True),
                Column("units", Integer), Column("lines", Integer), Column("refund", Float),
                Column("defect_units", Integer), Column("wrong_lines", Integer), prefixes=["TEMPORARY"])
TMP_LINE = Table(
    "tmp_ret_line", _TMP,
    Column("line_id", Integer, primary_key=True), Column("sale_week", Date), Column("product_id", Integer),
    Column("category", String(100)), Column("size", String(32)),
    Column("unit_cost", Float), Column("unit_price", Float), Column("supplier", String(64)),
    Column("channel", String(64)), Column("warehouse", String(32)), Column("carrier", String(64)),
    Column("qty", Integer), Column("value", Float), Column("shipped", Integer),
    Column("units_returned", Integer), Column("return_lines", Integer), Column("returned_value", Float),
    Column("refund", Float), Column("defect_units", Integer), Column("wrong_lines", Integer),
    prefixes=["TEMPORARY"])
# Per SKU: its attributes and first sale week; per SKU and week: its sums; every sale week of the data.
TMP_SKU = Table("tmp_ret_sku", _TMP, Column("product_id", Integer, primary_key=True), Column("first_week", Date),
                Column("sku", String(64)), Column("category", String(100)), Column("size", String(32)),
                Column("supplier", String(64)), prefixes=["TEMPORARY"])
TMP_SKU_WEEK = Table(
    "tmp_ret_sku_week", _TMP, Column("product_id", Integer, primary_key=True),
    Column("sale_week", Date, primary_key=True), Column("units_sold", Integer), Column("sales_value", Float),
    Column("units_returned", Integer), Column("returned_value", Float), Column("refund_value", Float),
    prefixes=["TEMPORARY"])
TMP_WEEKS = Table("tmp_ret_weeks", _TMP, Column("sale_week", Date, primary_key=True), prefixes=["TEMPORARY"])
# The lines' sums grouped once by every breakdown at the same time (a third of the lines at bench size), and
# those by category and size alone (a hundredth): every ``agg_returns_dim`` row is a GROUP BY of one of them.
DIM_SUMS = ("units_sold", "sales_value", "units_returned", "return_lines", "returned_value", "refund_value",
            "lines_sold", "shipped_lines", "defect_units", "wrong_item_lines")
_SUM_TYPES: dict[str, Any] = {"sales_value": Float, "returned_value": Float, "refund_value": Float}
FINE_KEYS = ("sale_week", "supplier", "category", "size", "channel", "warehouse", "carrier")
MID_KEYS = FINE_KEYS[:4]
_KEY_TYPES: dict[str, Any] = {"sale_week": Date, "supplier": String(64), "category": String(100),
                              "size": String(32), "channel": String(64), "warehouse": String(32),
                              "carrier": String(64)}


def _sums_table(name: str, keys: tuple[str, ...]) -> Table:
    return Table(name, _TMP, *[Column(k, _KEY_TYPES[k]) for k in keys],
                 *[Column(c, _SUM_TYPES.get(c, Integer)) for c in DIM_SUMS], prefixes=["TEMPORARY"])


TMP_FINE = _sums_table("tmp_ret_fine", FINE_KEYS)
TMP_MID = _sums_table("tmp_ret_mid", MID_KEYS)
_TEMPS = (TMP_SHIP, TMP_RET, TMP_LINE, TMP_SKU, TMP_SKU_WEEK, TMP_WEEKS, TMP_FINE, TMP_MID)


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


def _fill(session: Session, dialect: str, orders: Any = None) -> None:
    """Stage the lines (with shipments and returns) of every order, or of ``orders`` (a select of ids)."""
    ships = select(Shipment.order_id, func.min(Shipment.carrier_id),
                   case((func.count(Shipment.shipped_at) > 0, 1), else_=0)).group_by(Shipment.order_id)
    rets = (select(Return.order_line_id, func.sum(Return.qty), func.count(), func.sum(Return.refund_amount),
                   func.sum(case((func.lower(Return.reason_code).in_(DEFECT_REASONS), Return.qty), else_=0)),
                   func.sum(_flag(func.lower(Return.reason_code).in_(WRONG_ITEM_REASONS))))
            .group_by(Return.order_line_id))
    if orders is not None:
        ships = ships.where(Shipment.order_id.in_(orders))
        rets = rets.where(Return.order_line_id.in_(select(OrderLine.id).where(OrderLine.order_id.in_(orders))))
    session.execute(insert(TMP_SHIP).from_select(["order_id", "carrier_id", "shipped"], ships))
    session.execute(insert(TMP_RET).from_select(
        ["order_line_id", "units", "lines", "refund", "defect_units", "wrong_lines"], rets))
    r, sh = TMP_RET.c, TMP_SHIP.c
    units_ret = func.coalesce(r.units, 0)
    cols: dict[str, Any] = {
        "line_id": OrderLine.id, "sale_week": sale_week_expr(dialect, Order.placed_at),
        "product_id": OrderLine.product_id, "category": Product.category,
        "size": Product.size, "unit_cost": func.coalesce(Product.unit_cost, 0.0),
        "unit_price": OrderLine.unit_price, "supplier": Supplier.code, "channel": Channel.code,
        "warehouse": Warehouse.code, "carrier": Carrier.code, "qty": OrderLine.qty,
        "value": OrderLine.qty * OrderLine.unit_price, "shipped": func.coalesce(sh.shipped, 0),
        "units_returned": units_ret, "return_lines": func.coalesce(r.lines, 0),
        "returned_value": units_ret * OrderLine.unit_price, "refund": func.coalesce(r.refund, 0.0),
        "defect_units": func.coalesce(r.defect_units, 0), "wrong_lines": func.coalesce(r.wrong_lines, 0),
    }
    stmt = (select(*[c.label(k) for k, c in cols.items()])
            .select_from(OrderLine).join(Order, Order.id == OrderLine.order_id)
            .join(Product, Product.id == OrderLine.product_id)
            .outerjoin(Supplier, Supplier.id == Product.supplier_id)
            .outerjoin(Channel, Channel.id == Order.channel_id)
            .outerjoin(Warehouse, Warehouse.id == Order.warehouse_id)
            .outerjoin(TMP_SHIP, sh.order_id == Order.id)
            .outerjoin(Carrier, Carrier.id == sh.carrier_id)
            .outerjoin(TMP_RET, r.order_line_id == OrderLine.id)
            .where(Order.status.not_in(EXCLUDED_STATUSES)))
    if orders is not None:
        stmt = stmt.where(Order.id.in_(orders))
    session.execute(insert(TMP_LINE).from_select(list(cols), stmt))


def _sums() -> dict[str, Any]:
    t = TMP_LINE.c
    return {"units_sold": func.sum(t.qty), "sales_value": func.sum(t.value),
            "units_returned": func.sum(t.units_returned), "return_lines": func.sum(t.return_lines),
            "returned_value": func.sum(t.returned_value), "refund_value": func.sum(t.refund)}


def _aggregate(session: Session, weeks: list[dt.date] | None = None) -> None:
    """The aggregates from the staged lines: every sale week, or (``weeks``) only those, staged alone."""
    t = TMP_LINE.c
    sums = _sums()
    if weeks is None:
        _sku_cumulative(session)

    dim_sums = {**sums, "lines_sold": func.count(), "shipped_lines": func.sum(t.shipped),
                "defect_units": func.sum(t.defect_units),
                # wrong-item returns count against accuracy only on lines that were shipped
                "wrong_item_lines": func.sum(case((t.shipped == 1, t.wrong_lines), else_=0))}
    # One sort of the lines, by every breakdown at once; each breakdown's rows then group those sums
    # (SQLite has no hash aggregate: six GROUP BYs of the lines were six sorts of them).
    fine_keys = [getattr(t, k) for k in FINE_KEYS]
    session.execute(insert(TMP_FINE).from_select(
        [*FINE_KEYS, *DIM_SUMS], select(*fine_keys, *[dim_sums[c] for c in DIM_SUMS]).group_by(*fine_keys)))
    f = TMP_FINE.c
    mid_keys = [getattr(f, k) for k in MID_KEYS]
    session.execute(insert(TMP_MID).from_select(
        [*MID_KEYS, *DIM_SUMS], select(*mid_keys, *[func.sum(getattr(f, c)) for c in DIM_SUMS]).group_by(*mid_keys)))
    for dim in DIMS:
        src = TMP_MID.c if dim in ("total", "category", "size") else f
        key = src[dim] if dim != "total" else None
        member = func.coalesce(key, NONE_MEMBER) if key is not None else literal("")
        stmt = (select(src.sale_week, src.supplier, literal(dim, String(16)).label("dim"), member.label("member"),
                       *[func.sum(src[c]).label(c) for c in DIM_SUMS])
                .group_by(src.sale_week, src.supplier, *([key] if key is not None else [])))
        session.execute(insert(AggReturnsDim).from_select(["sale_week", "supplier", "dim", "member", *DIM_SUMS], stmt))
    d = AggReturnsDim
    per_week = select(d.sale_week, d.dim, d.member, *[func.sum(getattr(d, c)) for c in DIM_SUMS])
    if weeks is not None:
        per_week = per_week.where(d.sale_week.in_(weeks))
    session.execute(insert(AggReturnsDimAll).from_select(
        ["sale_week", "dim", "member", *DIM_SUMS], per_week.group_by(d.sale_week, d.dim, d.member)))

    r = Return
    keys = [t.sale_week, t.supplier, t.category, t.size, r.reason_code, r.disposition]
    stmt = (select(*keys, func.count().label("return_lines"), func.sum(r.qty).label("units_returned"),
                   func.sum(r.qty * t.unit_price).label("returned_value"),
                   func.sum(r.refund_amount).label("refund_value"),
                   func.sum(r.qty * t.unit_cost).label("cost_value"))
            .select_from(r).join(TMP_LINE, t.line_id == r.order_line_id).group_by(*keys))
    session.execute(insert(AggReturnsReason).from_select(
        ["sale_week", "supplier", "category", "size", "reason_code", "disposition", "return_lines",
         "units_returned", "returned_value", "refund_value", "cost_value"], stmt))


CUM_SUMS = ("units_sold", "sales_value", "units_returned", "returned_value", "refund_value")


def _sku_cumulative(session: Session) -> None:
    """``agg_returns_sku_cum``: every SKU x every sale week from its first one, with running sums (a window SUM)."""
    t = TMP_LINE.c
    session.execute(insert(TMP_SKU_WEEK).from_select(
        ["product_id", "sale_week", *CUM_SUMS],
        select(t.product_id, t.sale_week,
               func.sum(t.qty), func.sum(t.value), func.sum(t.units_returned), func.sum(t.returned_value),
               func.sum(t.refund)).group_by(t.product_id, t.sale_week)))
    # Per SKU from its weekly sums (a quarter of the lines, already in product order) rather than from
    # the lines: the attributes are the product's own, which every one of its lines carries.
    sw = TMP_SKU_WEEK.c
    session.execute(insert(TMP_SKU).from_select(
        ["product_id", "first_week", "sku", "category", "size", "supplier"],
        select(sw.product_id, func.min(sw.sale_week), func.min(Product.sku), func.min(Product.category),
               func.min(Product.size), func.min(Supplier.code))
        .select_from(TMP_SKU_WEEK).join(Product, Product.id == sw.product_id)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id).group_by(sw.product_id)))
    first, last = session.execute(select(func.min(sw.sale_week), func.max(sw.sale_week))).one()
    if first is None:
        return
    start, end = as_day(first), as_day(last)
    weeks = [{"sale_week": start + dt.timedelta(weeks=i)} for i in range((end - start).days // 7 + 1)]
    session.execute(insert(TMP_WEEKS), weeks)
    k, w, pw = TMP_SKU.c, TMP_WEEKS.c, TMP_SKU_WEEK.c
    running = [func.sum(func.coalesce(getattr(pw, c), 0)).over(partition_by=k.product_id, order_by=w.sale_week)
               for c in CUM_SUMS]
    stmt = (select(w.sale_week, k.product_id, k.sku, k.category, k.size, k.supplier, *running)
            .select_from(TMP_SKU).join(TMP_WEEKS, w.sale_week >= k.first_week)
            .outerjoin(TMP_SKU_WEEK, and_(pw.product_id == k.product_id, pw.sale_week == w.sale_week)))
    session.execute(insert(AggReturnsSkuCum).from_select(
        ["sale_week", "product_id", "sku", "category", "size", "supplier", *CUM_SUMS], stmt))



@refresher("returns")
def refresh(session: Session) -> None:
    """Rebuild every ``agg_returns_*`` table from the fact tables (inside the caller's transaction)."""
    for tbl in AGG_TABLES:
        session.execute(delete(tbl))
    dialect = session.get_bind().dialect.name
    _create_temp(session)
    _fill(session, dialect)
    _aggregate(session)
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
    _fill(session, dialect, orders)
    tl = TMP_LINE.c
    if products:
        session.execute(insert(TMP_TOUCH), [{"product_id": p} for p in sorted(products)])
    new = _week_sums(session, select(tl.product_id, tl.sale_week, *_cum_sources().values())
                     .where(tl.product_id.in_(select(TMP_TOUCH.c.product_id))).group_by(tl.product_id, tl.sale_week))
    staged_weeks = {as_day(v) for v in session.scalars(select(tl.sale_week).distinct())}
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
    _aggregate(session, weeks)
    _extend_grid(session, last_old, last_new)
    _add_zero_rows(session, zero_from, zero_to)
    _apply_deltas(session, deltas, last_new)
    _drop_inc(session)
    return True


def _cum_sources() -> dict[str, Any]:
    t = TMP_LINE.c
    return {"units_sold": func.sum(t.qty), "sales_value": func.sum(t.value),
            "units_returned": func.sum(t.units_returned), "returned_value": func.sum(t.returned_value),
            "refund_value": func.sum(t.refund)}


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
