"""Inventory aggregates: ``agg_inventory_pair``, ``agg_inventory_sku`` and ``agg_inventory_po``,
rebuilt in SQL (INSERT ... SELECT, SQLite and PostgreSQL) for the as-of day.

Definitions of what the columns hold are in :mod:`ops.inventory` (demand, windows, stockout days,
on order, lead time); the refresher is registered as ``"inventory"`` with
:func:`ops.aggregates.refresher` (``ops/ingest/refresh.py`` names it).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    union,
)
from sqlalchemy.orm import Session

from ops.aggregates import incremental, refresher
from ops.db import as_day
from ops.inventory import metrics as m
from ops.inventory.metrics import DEFAULT_LEAD_TIME_DAYS, KPI_WINDOW, WINDOWS
from ops.models import (
    AggInventoryPair,
    AggInventoryPo,
    AggInventorySku,
    InventorySnapshot,
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Warehouse,
)
from ops.reference import last_day

# Packed keys exceed PostgreSQL's integer; on SQLite INTEGER is already 64-bit.
KEY = BigInteger().with_variant(Integer(), "sqlite")
JULIAN_DAY_0001 = 1721425.5  # SQLite's julianday('0001-01-01'): day number 0
_TMP = MetaData()
TMP_WEEK = Table("tmp_inv_week", _TMP, Column("k", KEY), Column("u", Integer), Column("rev", Float),
                 Column("last_day", Integer), prefixes=["TEMPORARY"])
TMP_DEMAND = Table(
    "tmp_inv_demand", _TMP, Column("product_id", Integer, primary_key=True),
    Column("warehouse_id", Integer, primary_key=True),
    *[Column(f"units_{n}", Integer) for n in WINDOWS], *[Column(f"revenue_{n}", Float) for n in WINDOWS],
    Column("units_prev_28", Integer), Column("wk_units", Integer), Column("wk_revenue", Float),
    Column("wk_nonzero", Integer), Column("wk_sumsq", Float), Column("last_day", Integer), prefixes=["TEMPORARY"])
_TEMPS = (TMP_WEEK, TMP_DEMAND)


def day_number(dialect: str, ts: Any) -> Any:
    """Days from 0001-01-01 to the timestamp's day (``date.toordinal() - 1``), parsing it once."""
    if dialect == "postgresql":
        return cast(ts, Date) - literal(dt.date(1, 1, 1), Date)
    return cast(func.julianday(ts) - JULIAN_DAY_0001, Integer)


def day_of(dialect: str, number: Any) -> Any:
    """The date of a :func:`day_number`."""
    if dialect == "postgresql":
        return literal(dt.date(1, 1, 1), Date) + number
    return func.date(number + JULIAN_DAY_0001)

if TYPE_CHECKING:
    from ops.ingest.changes import Changes


def _sum_if(cond: Any, value: Any) -> Any:
    return func.coalesce(func.sum(case((cond, value), else_=0)), 0)


def _as_of(session: Session) -> dt.date | None:
    """The last snapshot day, ignoring stray days far after the rest (a typo'd 2099 snapshot)."""
    as_of = last_day(session, InventorySnapshot.day)
    if isinstance(as_of, str):  # SQLite aggregate of a Date column comes back as text
        as_of = dt.date.fromisoformat(as_of)
    return as_of


@refresher("inventory")
def refresh_inventory(session: Session) -> None:
    """Rebuild ``agg_inventory_pair``, ``agg_inventory_sku`` and ``agg_inventory_po`` for the as-of day."""
    for table in (AggInventoryPair, AggInventorySku, AggInventoryPo):
        session.execute(delete(table))
    as_of = _as_of(session)
    if as_of is None:
        return
    _build(session, as_of)


def _build(session: Session, as_of: dt.date, only: Any = None) -> None:
    """Insert the rows for ``as_of`` of every product, or of the products ``only`` (a select of ids) selects."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min)

    def restrict(col: Any) -> list[Any]:
        return [] if only is None else [col.in_(only)]

    # Open PO lines first: the pair table reads them back.
    qty_open = PurchaseOrderLine.qty_ordered - PurchaseOrderLine.qty_received
    session.execute(insert(AggInventoryPo).from_select(
        ["product_id", "warehouse_id", "po_number", "ordered_on", "expected_on", "qty_open"],
        select(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id, PurchaseOrder.po_number,
               PurchaseOrder.ordered_on, PurchaseOrder.expected_on, qty_open)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
        .where(PurchaseOrder.status == "open", qty_open > 0, PurchaseOrder.ordered_on <= as_of,
               *restrict(PurchaseOrderLine.product_id)),
    ))

    # Demand per pair and week (week 0 = the 7 days ending on as_of), staged once: each line's placed time parsed
    # once into a day number, grouped by one packed integer (product, warehouse, week), which SQLite sorts about
    # three times faster than three columns. Every line of every product (a full pass): SQLite's planner walks
    # order_lines through the product index, one random read per line; ``+ 0`` leaves it the table scan in row
    # order (orders then read nearly in order too). A pass over a few products (``only``) keeps the index.
    dialect = session.get_bind().dialect.name
    line_product: Any = OrderLine.product_id
    if only is None and dialect == "sqlite":
        line_product = OrderLine.product_id + literal_column("0")
    first = session.scalar(select(func.min(Order.placed_at)))
    if first is None:
        return
    n_wh = int(session.scalar(select(func.max(Warehouse.id))) or 0) + 1
    n_wk = (as_of - as_day(first)).days // 7 + 2
    day = day_number(dialect, Order.placed_at)
    wk = (as_of.toordinal() - 1 - day) // 7
    key = ((cast(line_product, KEY) * n_wh + Order.warehouse_id) * n_wk + wk).label("k")
    conn = session.connection()
    for t in _TEMPS:
        t.drop(conn, checkfirst=True)
        t.create(conn)
    session.execute(insert(TMP_WEEK).from_select(
        ["k", "u", "rev", "last_day"],
        select(key, func.sum(OrderLine.qty), func.sum(OrderLine.qty * OrderLine.unit_price), func.max(day))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status != "cancelled", Order.warehouse_id.is_not(None), Order.placed_at < end,
               *restrict(OrderLine.product_id))
        .group_by(key)))
    tw = TMP_WEEK.c
    w = (tw.k % n_wk).label("wk")

    # SKU-level weekly stats over all warehouses (for the SKU's XYZ class and demand pattern): the pair weeks
    # summed per SKU and week; the pair table copies them in below.
    sku_key = (tw.k // (n_wh * n_wk) * n_wk + w).label("sk")
    sku_weekly = (select(sku_key, func.sum(tw.u).label("u"), func.sum(tw.rev).label("rev"))
                  .where(w < m.WEEKS).group_by(sku_key).subquery())
    su = sku_weekly.c.u
    sku_product = (sku_weekly.c.sk // n_wk).label("product_id")  # one expression object: one bound parameter
    session.execute(insert(AggInventorySku).from_select(
        ["product_id", "as_of", "wk_units", "wk_revenue", "wk_nonzero", "wk_sumsq"],
        select(sku_product, literal(as_of, Date), func.sum(su),
               func.sum(sku_weekly.c.rev), _sum_if(su > 0, 1), func.sum(su * su))
        .group_by(sku_product),
    ))

    u, rev = tw.u, tw.rev
    pair = (tw.k // n_wk).label("pair")
    demand_cols = [
        *[_sum_if(w < n // 7, u).label(f"units_{n}") for n in WINDOWS],
        *[_sum_if(w < n // 7, rev).label(f"revenue_{n}") for n in WINDOWS],
        _sum_if(and_(w >= 1, w <= KPI_WINDOW // 7), u).label("units_prev_28"),
        _sum_if(w < m.WEEKS, u).label("wk_units"),
        _sum_if(w < m.WEEKS, rev).label("wk_revenue"),
        _sum_if(and_(w < m.WEEKS, u > 0), 1).label("wk_nonzero"),
        _sum_if(w < m.WEEKS, u * u).label("wk_sumsq"),
    ]
    session.execute(insert(TMP_DEMAND).from_select(
        ["product_id", "warehouse_id", *[c.name for c in demand_cols], "last_day"],
        select(pair // n_wh, pair % n_wh, *demand_cols, func.max(tw.last_day)).group_by(pair)))
    demand = TMP_DEMAND

    # Stock: on hand today and a week ago, stockout days per window, from daily snapshots.
    S = InventorySnapshot
    out = S.on_hand <= 0
    first = as_of - dt.timedelta(days=max(WINDOWS) - 1)
    # A full pass reads a third of all snapshots: in table order on SQLite (the unary + keeps the
    # planner off the day index, whose random reads cost about three times the CPU); same rows.
    snap_day: Any = S.day
    if only is None and session.get_bind().dialect.name == "sqlite":
        snap_day = literal_column(f"+{S.__tablename__}.day", type_=S.day.type)
    stock = (
        select(S.product_id, S.warehouse_id,
               func.max(case((S.day == as_of, S.on_hand))).label("on_hand"),
               func.max(case((S.day == as_of - dt.timedelta(days=7), S.on_hand))).label("on_hand_prev"),
               *[_sum_if(and_(out, S.day > as_of - dt.timedelta(days=n)), 1).label(f"stockout_{n}")
                 for n in WINDOWS],
               _sum_if(and_(out, S.day <= as_of - dt.timedelta(days=7),
                            S.day > as_of - dt.timedelta(days=7 + KPI_WINDOW)), 1).label("stockout_prev_28"))
        .where(snap_day >= first, snap_day <= as_of, *restrict(S.product_id))
        .group_by(S.product_id, S.warehouse_id)
        .cte("inv_stock")
    )
    P = AggInventoryPo
    po = (
        select(P.product_id, P.warehouse_id, func.sum(P.qty_open).label("on_order"),
               func.min(P.expected_on).label("next_po"))
        .where(*restrict(P.product_id))
        .group_by(P.product_id, P.warehouse_id)
        .cte("inv_po")
    )
    receipts = (
        select(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id,
               func.max(PurchaseOrderLine.received_on).label("last_receipt"))
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
        .where(PurchaseOrderLine.qty_received > 0, PurchaseOrderLine.received_on <= as_of,
               *restrict(PurchaseOrderLine.product_id))
        .group_by(PurchaseOrderLine.product_id, PurchaseOrder.warehouse_id)
        .cte("inv_receipts")
    )
    base = union(
        select(stock.c.product_id, stock.c.warehouse_id),
        select(po.c.product_id, po.c.warehouse_id),
    ).subquery("inv_base")

    def on(sub: Any) -> Any:
        return and_(sub.c.product_id == base.c.product_id, sub.c.warehouse_id == base.c.warehouse_id)

    zero = func.coalesce
    K = AggInventorySku
    cols: dict[str, Any] = {
        "product_id": base.c.product_id,
        "warehouse_id": base.c.warehouse_id,
        # what the page shows and scopes on, copied so that it reads this one table
        "sku": Product.sku,
        "name": Product.name,
        "category": Product.category,
        "supplier": Supplier.code,
        "warehouse": Warehouse.code,
        "unit_cost": Product.unit_cost,
        "price": Product.price,
        "lead_time_days": zero(Product.lead_time_days, Supplier.lead_time_days, DEFAULT_LEAD_TIME_DAYS),
        "sku_wk_units": K.wk_units,
        "sku_wk_nonzero": K.wk_nonzero,
        "sku_wk_sumsq": K.wk_sumsq,
        "as_of": literal(as_of, Date),
        "on_hand": zero(stock.c.on_hand, 0),
        "on_hand_prev": zero(stock.c.on_hand_prev, 0),
        **{f"units_{n}": zero(demand.c[f"units_{n}"], 0) for n in WINDOWS},
        **{f"revenue_{n}": zero(demand.c[f"revenue_{n}"], 0.0) for n in WINDOWS},
        **{f"stockout_{n}": zero(stock.c[f"stockout_{n}"], 0) for n in WINDOWS},
        "units_prev_28": zero(demand.c.units_prev_28, 0),
        "stockout_prev_28": zero(stock.c.stockout_prev_28, 0),
        "wk_units": zero(demand.c.wk_units, 0),
        "wk_revenue": zero(demand.c.wk_revenue, 0.0),
        "wk_nonzero": zero(demand.c.wk_nonzero, 0),
        "wk_sumsq": zero(demand.c.wk_sumsq, 0.0),
        "last_sale": day_of(dialect, demand.c.last_day),
        "last_receipt": receipts.c.last_receipt,
        "on_order": zero(po.c.on_order, 0),
        "next_po": po.c.next_po,
    }
    final = (
        select(*[v.label(k) for k, v in cols.items()])
        .select_from(base)
        .outerjoin(stock, on(stock))
        .outerjoin(demand, on(demand))
        .outerjoin(po, on(po))
        .outerjoin(receipts, on(receipts))
        .join(Product, Product.id == base.c.product_id)
        .join(Warehouse, Warehouse.id == base.c.warehouse_id)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .outerjoin(K, K.product_id == base.c.product_id)
        # in the order the page shows them, so that its plain table scan needs no sort
        .order_by(Product.sku, Warehouse.code)
    )
    session.execute(insert(AggInventoryPair).from_select(list(cols), final))
    for t in reversed(_TEMPS):
        t.drop(conn)


# --- incremental: only the SKUs an import touched, while the as-of day stays ------------------------

MAX_PRODUCTS = 2_000  # more touched SKUs than this: the full rebuild is as quick
TMP_TOUCH = Table("tmp_inv_touch", MetaData(), Column("product_id", Integer, primary_key=True), prefixes=["TEMPORARY"])
PRODUCT_COLUMNS = ("sku", "name", "category", "unit_cost", "price", "lead_time_days", "supplier_id")


@incremental("inventory")
def refresh_changes(session: Session, changes: Changes) -> bool:
    """Rebuild the rows of the SKUs whose demand before the as-of day, snapshots, PO lines, attributes or
    supplier changed (each SKU's rows over every warehouse: its SKU-level weekly stats are copied into
    each pair). False (full rebuild) when the as-of day moved (every window shifts) or a warehouse code
    changed."""
    if changes.updated("warehouses", ("code",)):
        return False
    stored = session.scalar(select(AggInventorySku.as_of).limit(1))
    if stored is None:
        stored = session.scalar(select(AggInventoryPair.as_of).limit(1))
    if stored is None:
        return False
    # the as-of day is the snapshots' last day: only a snapshot import can move it
    as_of = _as_of(session) if changes.changed("inventory_snapshots") else as_day(stored)
    if as_of is None or as_day(stored) != as_of:
        return False
    products = touched_products(session, changes, as_of)
    if len(products) > MAX_PRODUCTS:
        return False
    if not products:
        return True
    conn = session.connection()
    TMP_TOUCH.drop(conn, checkfirst=True)
    TMP_TOUCH.create(conn)
    session.execute(insert(TMP_TOUCH), [{"product_id": p} for p in sorted(products)])
    only = select(TMP_TOUCH.c.product_id)
    for table in (AggInventoryPair, AggInventorySku, AggInventoryPo):
        session.execute(delete(table).where(table.product_id.in_(only)))
    _build(session, as_of, only)
    TMP_TOUCH.drop(conn)
    return True


def touched_products(session: Session, changes: Changes, as_of: dt.date) -> set[int]:
    """The SKUs whose inventory rows an import may have changed (as-of day unchanged)."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min)
    out: set[int] = set()
    # demand: lines of orders placed before the as-of day's end, now or before the import
    orders = changes.order_ids(session, via=("orders", "order_lines"))
    moved = {int(r["id"]) for r in changes.counts.old.get("orders", ()) if r.get("placed_at") is not None
             and _before(r["placed_at"], end)}
    keep = moved | _ids(session, select(Order.id).where(Order.placed_at < end), Order.id, orders)
    out |= _ids(session, select(OrderLine.product_id), OrderLine.order_id, keep)
    if keep:
        out |= {int(v) for v in changes.old_values("order_lines", "product_id")}
    # snapshots, PO lines (and the lines of a changed PO), attributes, a supplier's code or lead time
    out |= changes.new_ids(session, InventorySnapshot, InventorySnapshot.product_id)
    out |= _ids(session, select(InventorySnapshot.product_id), InventorySnapshot.id,
                changes.updated_ids("inventory_snapshots"))
    out |= changes.new_ids(session, PurchaseOrderLine, PurchaseOrderLine.product_id)
    out |= _ids(session, select(PurchaseOrderLine.product_id), PurchaseOrderLine.id,
                changes.updated_ids("purchase_order_lines"))
    out |= {int(v) for v in changes.old_values("purchase_order_lines", "product_id")}
    pos = changes.new_ids(session, PurchaseOrder) | changes.updated_ids("purchase_orders")
    out |= _ids(session, select(PurchaseOrderLine.product_id), PurchaseOrderLine.po_id, pos)
    if changes.updated("products", PRODUCT_COLUMNS):
        out |= changes.updated_ids("products")
    if changes.updated("suppliers", ("code", "lead_time_days")):
        out |= _ids(session, select(Product.id), Product.supplier_id, changes.updated_ids("suppliers"))
    return out


def _ids(session: Session, stmt: Any, key: Any, ids: set[int]) -> set[int]:
    """The first column of ``stmt`` where ``key`` is in ``ids`` (chunked), as ints."""
    out: set[int] = set()
    wanted = sorted(ids)
    for i in range(0, len(wanted), 5_000):
        out |= {int(v) for v in session.scalars(stmt.where(key.in_(wanted[i:i + 5_000]))) if v is not None}
    return out


def _before(v: Any, end: dt.datetime) -> bool:
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    return bool(v < end)

